"""The rollups give exactly the figures of counting the cases live, before and after a refresh.

Cases are drawn at random (seeded) through every state, with and without filing, deadlines,
closures and handling, on time and late, extended, reworked, reopened, suspended and void, with
deadlines falling on the day a running period is judged, before and after the minute it is
judged at, and with dispatches, returns and ratings held by changing departments. Every
grouping, with filters, for quarters, months, ranges, the last N days and the buckets of a
trend, must equal :func:`count_cases_live`, the reference, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime

from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import Session

from tests.urbangrid.random_city import (  # engine: the fixture
    CASES,
    EVENTS,
    LATER_NOW,
    RUNNING_NOW,
    TZ,
    TZ_NAME,
    _same,
    assert_exact,
    load,
    random_cases,
    random_events,
    rollup_tables,
)
from tests.urbangrid.small_city import AREA1
from urbangrid.domain.daynumbers import day_number
from urbangrid.evaluation.days import period_days
from urbangrid.evaluation.formulas import Period, buckets, parse_period
from urbangrid.evaluation.live import count_cases_live
from urbangrid.evaluation.read import count_cases
from urbangrid.evaluation.refresh import refresh
from urbangrid.evaluation.report import trend
from urbangrid.evaluation.rollup_tables import (
    DIRTY,
    SUMMARIES,
    SUMMARY_PERIODS,
)
from urbangrid.evaluation.scope import Dimension, Scope


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
