"""The rollups give exactly the figures of counting the cases live, before and after a refresh.

Cases are drawn at random (seeded) through every state, with and without filing, deadlines,
closures and handling, on time and late, extended, reworked, reopened, suspended and void, with
deadlines falling on the day a running period is judged, before and after the minute it is
judged at, and with dispatches, returns and ratings held by changing departments. Every
grouping, with filters, for quarters, months, ranges, the last N days and the buckets of a
trend, must equal :func:`count_cases_live`, the reference, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import Session

from tests.services import postgres_database
from tests.urbangrid.test_metrics import AREA1, AREA2, seed_small_city
from urbangrid.core.db import make_engine
from urbangrid.core.tables import Case, CaseEvent
from urbangrid.domain.daynumbers import day_number
from urbangrid.domain.states import CaseState
from urbangrid.evaluation.days import period_days
from urbangrid.evaluation.formulas import Counts, Period, buckets, parse_period
from urbangrid.evaluation.live import count_cases_live
from urbangrid.evaluation.read import count_cases
from urbangrid.evaluation.refresh import refresh
from urbangrid.evaluation.report import trend
from urbangrid.evaluation.role_counts import count_steps, count_steps_live
from urbangrid.evaluation.rollup_tables import (
    CLOCK_FACTS,
    CLOCKS,
    DIRTY,
    EVENT_FACTS,
    FACTS,
    ROLLUPS,
    STEP_ROLLUPS,
    SUMMARIES,
    SUMMARY_PERIODS,
)
from urbangrid.evaluation.scope import Dimension, Scope

TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
CASES = Case.__table__  # type: ignore[attr-defined]
EVENTS = CaseEvent.__table__  # type: ignore[attr-defined]
DEPARTMENTS = ("dept-a", "dept-b", None)
CATEGORIES = ("E0199", "E0599", "E0102")
ACTIONS = ("dispatch", "redispatch", "return", "rate", "rate", "comment")
START = datetime(2026, 1, 1, tzinfo=TZ)
# Judged while Q2 runs (14:30 on 20 April), and after everything.
RUNNING_NOW = datetime(2026, 4, 20, 14, 30, tzinfo=TZ)
LATER_NOW = datetime(2026, 8, 1, 12, tzinfo=TZ)


def _moment(rng: random.Random, now: datetime) -> datetime:
    """Mostly anywhere in the first half of 2026; often on the day judged, or at midnight."""
    pick = rng.random()
    if pick < 0.15:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day + timedelta(minutes=rng.choice([0, 1, 600, 869, 870, 871, 1439]))
    if pick < 0.25:
        day = START + timedelta(days=rng.randrange(0, 180))
        return day + timedelta(microseconds=rng.choice([0, -1, 1]))
    return START + timedelta(minutes=rng.randrange(0, 180 * 24 * 60))


def _maybe(rng: random.Random, now: datetime, chance: float = 0.7) -> datetime | None:
    return _moment(rng, now) if rng.random() < chance else None


def random_cases(
    rng: random.Random, count: int, now: datetime = RUNNING_NOW
) -> list[dict[str, Any]]:
    rows = []
    for _ in range(count):
        area = rng.choice((AREA1, AREA2, (None, None, None, None)))
        created = _moment(rng, now)
        rows.append(
            {
                "tracking_token": f"t{rng.getrandbits(64):x}",
                "category_code": rng.choice(CATEGORIES),
                "input_crs": "wgs84",
                "input_lat": 31.2,
                "input_lon": 121.4,
                "lat": 31.2,
                "lon": 121.4,
                "state": rng.choice(list(CaseState)).value,
                "l1_code": area[0],
                "l2_code": area[1],
                "l3_code": area[2],
                "l4_code": area[3],
                "department_code": rng.choice(DEPARTMENTS),
                "created_at": created,
                "updated_at": created,
                "filed_at": _maybe(rng, now, 0.85),
                "dispatched_at": _maybe(rng, now),
                "handled_at": _maybe(rng, now),
                "closed_at": _maybe(rng, now),
                "deadline_at": _maybe(rng, now, 0.8),
                "case_deadline_at": _maybe(rng, now, 0.6),
                "extension_count": rng.choice((0, 0, 1, 2)),
                "rework_count": rng.choice((0, 0, 1)),
                "reopen_count": rng.choice((0, 0, 1)),
            }
        )
    return rows


def random_events(
    rng: random.Random, case_ids: list[int], count: int, now: datetime = RUNNING_NOW
) -> list[dict[str, Any]]:
    rows = []
    for _ in range(count):
        action = rng.choice(ACTIONS)
        detail: dict[str, Any] = {}
        if action == "rate" and rng.random() < 0.9:
            detail["score"] = rng.choice((1, 2, 3, 3.5, 4, 5))
        rows.append(
            {
                "case_id": rng.choice(case_ids),
                "at": _moment(rng, now),
                "action": action,
                "to_state": "CLOSED",
                "actor": "test",
                "role": "system",
                "detail": json.dumps(detail),
                "department_code": rng.choice(DEPARTMENTS),
            }
        )
    return rows


def load(engine: Engine, rng: random.Random, cases: int, events: int) -> list[int]:
    with engine.begin() as conn:
        conn.execute(insert(CASES), random_cases(rng, cases))
        ids = [int(i) for i in conn.execute(select(CASES.c.id)).scalars()]
        if events:
            conn.execute(insert(EVENTS), random_events(rng, ids, events))
    return ids


PERIODS = ("2026-Q1", "2026-Q2", "2026-03", "2026-04", "2026-02-03..2026-04-20", "7d", "30d")
SCOPES = (
    Scope(),
    Scope(department="dept-a"),
    Scope(area=AREA1[0]),
    Scope(area=AREA2[1]),
    Scope(area=AREA1[3]),
    Scope(category="E01"),
    Scope(category="E0599"),
    Scope(department="dept-b", area=AREA1[0], category="E05"),
)


def _same(found: dict[str | None, Counts], expected: dict[str | None, Counts], what: str) -> None:
    assert found.keys() == expected.keys(), what
    for key, counts in expected.items():
        got = found[key]
        assert got.handling_seconds == pytest.approx(counts.handling_seconds), (what, key)
        assert got._asdict() | {"handling_seconds": 0} == counts._asdict() | {
            "handling_seconds": 0
        }, (what, key)


def assert_exact(engine: Engine, now: datetime, *, periods: tuple[str, ...] = PERIODS) -> None:
    with Session(engine) as session:
        for label in periods:
            period = parse_period(label, tz=TZ, today=now.astimezone(TZ).date())
            for by in Dimension:
                for scope in SCOPES:
                    what = f"{label} by {by} {scope} at {now.isoformat()}"
                    _same(
                        count_cases(session, period=period, by=by, scope=scope, now=now),
                        count_cases_live(session, period=period, by=by, scope=scope, now=now),
                        what,
                    )


def _database(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('rollups') / 'rollups.db'}"
        seed_small_city(url)
        yield url
    else:
        with postgres_database() as url:
            seed_small_city(url)
            yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    for url in _database(request.param, tmp_path_factory):
        made = make_engine(url)
        yield made
        made.dispose()


def rollup_tables(engine: Engine) -> tuple[Any, ...]:
    """Everything the refresher keeps, in a stable order, to compare two states."""
    with engine.connect() as conn:
        return tuple(
            sorted(
                tuple(
                    None if v is None else (round(v, 6) if isinstance(v, float) else v) for v in row
                )
                for row in conn.execute(select(*(c for c in table.c if c.name != "id")))
            )
            for table in (
                FACTS,
                EVENT_FACTS,
                ROLLUPS,
                SUMMARIES,
                SUMMARY_PERIODS,
                CLOCK_FACTS,
                STEP_ROLLUPS,
            )
        )


def test_rollups_equal_live_counts_for_every_grouping_filter_and_period(engine: Engine) -> None:
    rng = random.Random(5)
    load(engine, rng, 400, 700)
    before = refresh(engine, tz=TZ_NAME)
    assert before.full and before.cases == 400
    with engine.connect() as conn:
        assert conn.execute(select(DIRTY.c.id)).first() is None
    for now in (RUNNING_NOW, LATER_NOW):
        assert_exact(engine, now)


def assert_trend_exact(
    engine: Engine, now: datetime, units: tuple[str, ...] = ("day", "week", "month")
) -> None:
    with Session(engine) as session:
        period = parse_period("2026-Q2", tz=TZ, today=now.date())
        for unit in units:
            for by, scope in (
                (Dimension.TOTAL, Scope()),
                (Dimension.DEPARTMENTS, Scope(department="dept-b")),
                (Dimension.MAJORS, Scope()),
            ):
                points = trend(
                    session, period=period, unit=unit, tz=TZ, by=by, scope=scope, now=now
                )
                for bucket in buckets(period, unit, tz=TZ):
                    sub = Period(bucket.start, bucket.end, bucket.label)
                    live = count_cases_live(session, period=sub, by=by, scope=scope, now=now)
                    found = {p.key: p.counts for p in points if p.bucket == bucket.label}
                    _same(found, live, f"{unit} {bucket.label} by {by}")


def test_trend_buckets_equal_live_counts(engine: Engine) -> None:
    rng = random.Random(7)
    load(engine, rng, 300, 400)
    refresh(engine, tz=TZ_NAME)
    assert_trend_exact(engine, RUNNING_NOW)


def test_changes_after_a_refresh_are_counted_before_and_after_the_next(engine: Engine) -> None:
    rng = random.Random(11)
    ids = load(engine, rng, 300, 500)
    refresh(engine, tz=TZ_NAME)
    # A January case closes in March, another is suspended, another moves department and area,
    # one is deleted; new events arrive. None of this bumps anything but the cases themselves.
    changed = rng.sample(ids, 60)
    with engine.begin() as conn:
        for case_id, values in zip(changed, random_cases(rng, 60), strict=True):
            values.pop("tracking_token")
            conn.execute(update(CASES).where(CASES.c.id == case_id).values(**values))
        conn.execute(
            update(CASES)
            .where(CASES.c.id == changed[0])
            .values(state="CLOSED", closed_at=datetime(2026, 3, 9, 10, tzinfo=TZ))
        )
        conn.execute(update(CASES).where(CASES.c.id == changed[1]).values(state="SUSPENDED"))
        conn.execute(delete(EVENTS).where(EVENTS.c.case_id == changed[2]))
        conn.execute(delete(CASES).where(CASES.c.id == changed[2]))
        conn.execute(insert(EVENTS), random_events(rng, changed[3:], 80))
    periods = ("2026-Q1", "2026-Q2", "30d")
    # Not yet refreshed: the readers take the written cases live.
    assert_exact(engine, RUNNING_NOW, periods=periods)
    assert_trend_exact(engine, RUNNING_NOW)
    done = refresh(engine, tz=TZ_NAME)
    assert not done.full and done.cases == 60
    assert_exact(engine, RUNNING_NOW, periods=periods)
    assert_exact(engine, LATER_NOW, periods=periods)
    # The incremental refresh left exactly what a full build makes.
    incremental = rollup_tables(engine)
    refresh(engine, tz=TZ_NAME, full=True)
    assert rollup_tables(engine) == incremental


def test_refreshing_twice_or_at_once_changes_nothing(engine: Engine) -> None:
    rng = random.Random(13)
    ids = load(engine, rng, 200, 300)
    refresh(engine, tz=TZ_NAME)
    built = rollup_tables(engine)
    assert refresh(engine, tz=TZ_NAME).cases == 0
    assert rollup_tables(engine) == built
    with engine.begin() as conn:
        for case_id in rng.sample(ids, 40):
            conn.execute(
                update(CASES)
                .where(CASES.c.id == case_id)
                .values(state="CLOSED", closed_at=datetime(2026, 2, 2, tzinfo=TZ))
            )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            refresh(engine, tz=TZ_NAME)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    concurrent = rollup_tables(engine)
    refresh(engine, tz=TZ_NAME, full=True)
    assert rollup_tables(engine) == concurrent
    assert_exact(engine, LATER_NOW, periods=("2026-Q1",))


def test_before_the_first_build_counts_are_live(engine: Engine) -> None:
    rng = random.Random(17)
    load(engine, rng, 50, 50)
    assert_exact(engine, LATER_NOW, periods=("2026-Q1",))
    with Session(engine) as session:
        odd = Period(
            datetime(2026, 1, 1, 9, tzinfo=TZ).astimezone(UTC),
            datetime(2026, 2, 1, 9, tzinfo=TZ).astimezone(UTC),
            "from nine",
        )
        refresh(engine, tz=TZ_NAME)
        # Not whole days: counted live, still the same figures.
        assert count_cases(session, period=odd, by=Dimension.CELLS, now=LATER_NOW) == (
            count_cases_live(session, period=odd, by=Dimension.CELLS, now=LATER_NOW)
        )
    assert date(2026, 1, 1)  # the periods above are all in 2026


def test_the_migration_builds_what_the_models_say(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    ours = (
        "metric_case_facts",
        "metric_event_facts",
        "metric_rollups",
        "metric_dirty_cases",
        "metric_summaries",
        "metric_summary_periods",
        "metric_clock_facts",
        "metric_step_rollups",
    )
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = [
            d
            for d in compare_metadata(context, SQLModel.metadata)
            if any(name in repr(d) for name in (*ours, "metric_rollup_state"))
        ]
    assert diffs == []


def test_every_write_marks_its_case_dirty(engine: Engine) -> None:
    rng = random.Random(19)
    ids = load(engine, rng, 5, 0)
    refresh(engine, tz=TZ_NAME)
    with engine.begin() as conn:
        # A column no measure reads marks nothing; each of the others marks its case.
        conn.execute(update(CASES).where(CASES.c.id == ids[0]).values(description="more"))
        conn.execute(update(CASES).where(CASES.c.id == ids[1]).values(reopen_count=3))
        conn.execute(insert(EVENTS), random_events(rng, [ids[2]], 1)[0] | {"action": "return"})
        conn.execute(insert(EVENTS), random_events(rng, [ids[3]], 1)[0] | {"action": "comment"})
        dirty = sorted(set(conn.execute(select(DIRTY.c.case_id)).scalars()))
    assert dirty == sorted([ids[1], ids[2]])


def _kept_spans(engine: Engine) -> set[tuple[int, int]]:
    with engine.connect() as conn:
        return {(a, b) for a, b in conn.execute(select(*SUMMARY_PERIODS.c))}


def _bump_summary(
    engine: Engine, span: tuple[int, int], grouping: str, key: str | None, by: int
) -> str:
    """Add ``by`` to the received count of one group's summary (the first, if none is named)."""
    where = (
        SUMMARIES.c.first_day == span[0],
        SUMMARIES.c.end_day == span[1],
        SUMMARIES.c.grouping == grouping,
    )
    with engine.begin() as conn:
        if key is None:
            key = conn.execute(select(SUMMARIES.c.key).where(*where)).scalars().first()
        assert key is not None
        conn.execute(
            update(SUMMARIES)
            .where(*where, SUMMARIES.c.key == key)
            .values(received=SUMMARIES.c.received + by)
        )
    return key


def test_tables_of_base_cells_and_departments_read_the_summaries_of_kept_periods(
    engine: Engine,
) -> None:
    rng = random.Random(23)
    load(engine, rng, 300, 400)
    refresh(engine, tz=TZ_NAME, now=RUNNING_NOW)
    today = day_number(RUNNING_NOW, TZ)
    kept = _kept_spans(engine)
    # Months, quarters and the year of the cases, and the rolling windows of that day.
    quarter = period_days(parse_period("2026-Q2", tz=TZ, today=RUNNING_NOW.date()), TZ)
    assert quarter in kept
    assert {(today - 6, today + 1), (today - 364, today + 1)} <= kept
    # The windows of that day, judged then: from the summaries, still exactly the live figures.
    assert_exact(engine, RUNNING_NOW, periods=("7d", "30d", "90d", "2026-Q2", "2026"))
    # Proof that the summaries are read (and only for the unfiltered tables of cells and of
    # departments): a row changed by hand shows in that table of that quarter, nowhere else.
    period = parse_period("2026-Q2", tz=TZ, today=RUNNING_NOW.date())
    for grouping, by in (("cells", Dimension.CELLS), ("departments", Dimension.DEPARTMENTS)):
        key = _bump_summary(engine, quarter, grouping, None, 1000)
        with Session(engine) as session:
            found = count_cases(session, period=period, by=by, now=RUNNING_NOW)
            live = count_cases_live(session, period=period, by=by, now=RUNNING_NOW)
            assert found[key or None].received == live[key or None].received + 1000
            one = Scope(area=AREA1[0])
            assert count_cases(
                session, period=period, by=by, scope=one, now=RUNNING_NOW
            ) == count_cases_live(session, period=period, by=by, scope=one, now=RUNNING_NOW)
        _bump_summary(engine, quarter, grouping, key, -1000)
    # A later day's refresh drops the windows of the earlier one and keeps the calendar.
    refresh(engine, tz=TZ_NAME, now=LATER_NOW)
    later = _kept_spans(engine)
    assert (today - 6, today + 1) not in later and quarter in later
    later_today = day_number(LATER_NOW, TZ)
    assert (later_today - 29, later_today + 1) in later
    assert_exact(engine, LATER_NOW, periods=("7d", "30d", "2026-Q2"))


# ---------------------------------------------------------------------------------------------
# The evaluation per role from the step rollups

STAGES = ("file", "dispatch", "handle", "check", "case", "case")
STOPPERS = (("shift_lead", "lead1"), ("dispatcher", "disp1"), ("department", None), (None, None))


def random_clocks(
    rng: random.Random, case_ids: list[int], count: int, now: datetime = RUNNING_NOW
) -> list[dict[str, Any]]:
    rows = []
    for _ in range(count):
        started = _moment(rng, now)
        stopped = _maybe(rng, now, 0.6)
        role, actor = rng.choice(STOPPERS)
        deadline = _moment(rng, now)
        rows.append(
            {
                "case_id": rng.choice(case_ids),
                "stage": rng.choice(STAGES),
                "started_at": started,
                "limit": "1wh",
                "extended": "",
                "paused_s": 0.0,
                "paused_at": started if rng.random() < 0.1 else None,
                "stopped_at": stopped,
                "stopped_by": actor if stopped else None,
                "stopped_role": role if stopped else None,
                "step": 0,
                "deadline_at": deadline,
                "warn_at": deadline,
            }
        )
    return rows


STEP_SCOPES = (Scope(), Scope(department="dept-a"), Scope(department="dept-b"))


def assert_steps_exact(
    engine: Engine, now: datetime, *, periods: tuple[str, ...] = PERIODS
) -> None:
    with Session(engine) as session:
        for label in periods:
            period = parse_period(label, tz=TZ, today=now.astimezone(TZ).date())
            for scope in STEP_SCOPES:
                for by_actor in (False, True):
                    what = f"{label} {scope} by_actor={by_actor} at {now.isoformat()}"
                    found = count_steps(
                        session, period=period, scope=scope, now=now, by_actor=by_actor
                    )
                    live = count_steps_live(
                        session, period=period, scope=scope, now=now, by_actor=by_actor
                    )
                    assert found.keys() == live.keys(), what
                    for key, counts in live.items():
                        assert found[key][:4] == counts[:4], (what, key)
                        assert found[key].seconds == pytest.approx(counts.seconds), (what, key)


def test_step_rollups_equal_live_counts_before_and_after_changes(engine: Engine) -> None:
    rng = random.Random(29)
    ids = load(engine, rng, 200, 0)
    with engine.begin() as conn:
        conn.execute(insert(CLOCKS), random_clocks(rng, ids, 900))
    refresh(engine, tz=TZ_NAME, now=RUNNING_NOW)
    with engine.connect() as conn:
        assert conn.execute(select(STEP_ROLLUPS.c.id)).first() is not None
    for now in (RUNNING_NOW, LATER_NOW):
        assert_steps_exact(engine, now)
    # Proof that the rollups are read: a sum changed by hand shows, and is then put back.
    q1 = parse_period("2026-Q1", tz=TZ, today=LATER_NOW.date())
    with Session(engine) as session:
        before = count_steps(session, period=q1, now=LATER_NOW)
        with engine.begin() as conn:
            days = period_days(q1, TZ)
            assert days is not None
            row = conn.execute(
                select(STEP_ROLLUPS.c.id)
                .where(STEP_ROLLUPS.c.day1 >= days[0], STEP_ROLLUPS.c.day1 < days[1])
                .limit(1)
            ).scalar_one()
            conn.execute(
                update(STEP_ROLLUPS)
                .where(STEP_ROLLUPS.c.id == row)
                .values(n=STEP_ROLLUPS.c.n + 100)
            )
        after = count_steps(session, period=q1, now=LATER_NOW)
        assert sum(c.due for c in after.values()) == sum(c.due for c in before.values()) + 100
        with engine.begin() as conn:
            conn.execute(
                update(STEP_ROLLUPS)
                .where(STEP_ROLLUPS.c.id == row)
                .values(n=STEP_ROLLUPS.c.n - 100)
            )
    # Clocks stop, pause, resume and move department with their case; new clocks start; a
    # case goes with its clocks. Each marks its case, and the readers overlay it at once.
    with engine.begin() as conn:
        clock_ids = [int(i) for i in conn.execute(select(CLOCKS.c.id)).scalars()]
        for clock_id in rng.sample(clock_ids, 80):
            conn.execute(
                update(CLOCKS)
                .where(CLOCKS.c.id == clock_id)
                .values(
                    stopped_at=_maybe(rng, RUNNING_NOW, 0.8),
                    stopped_by=rng.choice(("lead2", None)),
                    stopped_role="shift_lead",
                    paused_at=rng.choice((None, None, RUNNING_NOW)),
                    deadline_at=_moment(rng, RUNNING_NOW),
                )
            )
        conn.execute(update(CASES).where(CASES.c.id == ids[0]).values(department_code="dept-b"))
        conn.execute(insert(CLOCKS), random_clocks(rng, ids[1:30], 40))
        conn.execute(delete(CASES).where(CASES.c.id == ids[-1]))
    periods = ("2026-Q1", "2026-Q2", "2026-04", "30d")
    assert_steps_exact(engine, RUNNING_NOW, periods=periods)
    done = refresh(engine, tz=TZ_NAME, now=RUNNING_NOW)
    assert not done.full and done.cases > 0
    assert_steps_exact(engine, RUNNING_NOW, periods=periods)
    assert_steps_exact(engine, LATER_NOW, periods=periods)
    incremental = rollup_tables(engine)
    refresh(engine, tz=TZ_NAME, full=True, now=RUNNING_NOW)
    assert rollup_tables(engine) == incremental
