"""Keeping the evaluation's facts and rollups: a full build, and an exact incremental refresh.

The measures (``urbangrid.evaluation``) read three derived tables instead of the wide ``cases``
row (see ``urbangrid.core.tables.rollups``): a narrow row of day numbers and flags per case, the
counted events with their day, and sums per department, day and kind. Department heads read a
department's year from a few thousand rows instead of half a million cases.

Exactness, not freshness, is the promise. Triggers append every written case's id to
``metric_dirty_cases`` in the writer's own transaction; the refresher recomputes those cases'
facts, adds the difference to the rollups, and deletes exactly the dirty rows it saw, all in one
transaction. Readers replace the facts of cases still dirty by their live values in the same
statement, so a figure is the same as counting ``cases`` directly, whether the refresher ran a
second ago or an hour ago; the refresher only keeps that overlay small.

Refreshers never overlap: an advisory lock on PostgreSQL (with one repeatable-read snapshot
for the whole refresh, so the dirty rows deleted are exactly those folded in), and the write
lock, taken by the first statement, on SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    update,
)

from urbangrid.core.columns import utcnow
from urbangrid.domain.daynumbers import day_number
from urbangrid.evaluation.contributions import (
    _upsert,
    clock_facts_select,
    contributions,
    dirty_cases,
    dirty_sources,
    event_facts_select,
    facts_select,
    step_contributions,
    summed,
)
from urbangrid.evaluation.rollup_tables import (
    CLOCK_FACTS,
    CLOCKS,
    DIRTY,
    EVENT_FACTS,
    FACTS,
    LOCK_KEY,
    ROLLUP_KEY,
    ROLLUPS,
    STATE,
    STEP_KEY,
    STEP_ROLLUPS,
    SUMMARIES,
    SUMMARY_PERIODS,
)
from urbangrid.evaluation.scope import (
    CASE_TABLE,
    EVENT_TABLE,
)
from urbangrid.evaluation.summaries import (
    _apply_summary_changes,
    _keep_summaries,
    _summary_changes,
    _SummaryChanges,
)

# ---------------------------------------------------------------------------------------------
# Refreshing


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: a full build or an incremental one, how many cases, how long."""

    full: bool
    cases: int
    seconds: float


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """One refresher at a time, seeing one consistent state of the cases for all it does."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            conn.commit()
            try:
                conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    conn.execute(text("SET LOCAL jit = off"))
                    _claim_state(conn)
                    yield conn
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                conn.commit()
    else:
        with engine.begin() as conn:
            # A write first: SQLite's write lock, held to the commit, keeps out other writers,
            # so everything read below is one state of the cases.
            _claim_state(conn)
            yield conn


def _claim_state(conn: Connection) -> None:
    conn.execute(
        insert(STATE).from_select(
            ["id"],
            select(literal(1)).where(~select(STATE.c.id).where(STATE.c.id == 1).exists()),
        )
    )
    conn.execute(update(STATE).where(STATE.c.id == 1).values(id=1))


def built_timezone(conn: Connection | Any) -> str | None:
    """The time zone the facts were built in, or None when they have never been built."""
    row = conn.execute(select(STATE.c.timezone, STATE.c.built_at).where(STATE.c.id == 1)).first()
    if row is None or row.built_at is None:
        return None
    return str(row.timezone)


def refresh(
    engine: Engine, *, tz: str, full: bool = False, now: datetime | None = None
) -> Refreshed:
    """Fold the cases written since the last refresh into the facts and rollups.

    A full build when asked, when never built, or when built in another time zone (after a
    bulk load, say); otherwise only the dirty cases, so re-running changes nothing.
    """
    started = time.perf_counter()
    today = day_number(now or utcnow(), ZoneInfo(tz))
    with _exclusive(engine) as conn:
        if full or built_timezone(conn) != tz:
            count = _rebuild(conn, tz)
            full = True
        else:
            count = _fold_dirty(conn, tz)
        _keep_summaries(conn, today)
        conn.execute(
            update(STATE)
            .where(STATE.c.id == 1)
            .values(refreshed_at=now or utcnow(), **({"built_at": now or utcnow()} if full else {}))
        )
    if full and engine.dialect.name == "postgresql":
        # The rows a build replaced stay in the indexes until vacuumed, and every read of a
        # period would visit their pages too.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in (
                FACTS,
                EVENT_FACTS,
                ROLLUPS,
                DIRTY,
                SUMMARIES,
                SUMMARY_PERIODS,
                CLOCK_FACTS,
                STEP_ROLLUPS,
            ):
                conn.execute(text(f"VACUUM (ANALYZE) {table.name}"))
    return Refreshed(full=full, cases=count, seconds=time.perf_counter() - started)


def _rebuild(conn: Connection, tz: str) -> int:
    # DELETE, not TRUNCATE: dashboards keep reading the old figures until this commits, and
    # dirty rows written after this refresh's snapshot stay for the next one.
    for table in (
        SUMMARIES,
        SUMMARY_PERIODS,
        STEP_ROLLUPS,
        CLOCK_FACTS,
        ROLLUPS,
        EVENT_FACTS,
        FACTS,
        DIRTY,
    ):
        conn.execute(delete(table))
    facts_columns = [column.name for column in FACTS.columns]
    conn.execute(
        insert(FACTS).from_select(facts_columns, facts_select(tz, literal_column("1") == 1))
    )
    events_columns = [column.name for column in EVENT_FACTS.columns]
    conn.execute(
        insert(EVENT_FACTS).from_select(
            events_columns, event_facts_select(tz, literal_column("1") == 1)
        )
    )
    # In day order: a period's rows then sit together on disk, and a week's trend reads a few
    # hundred pages instead of one page per row.
    conn.execute(
        insert(ROLLUPS).from_select(
            [*ROLLUP_KEY, "n", "seconds"],
            summed(contributions(FACTS, EVENT_FACTS, 1)).order_by(literal_column("day1")),
        )
    )
    conn.execute(
        insert(CLOCK_FACTS).from_select(
            [column.name for column in CLOCK_FACTS.columns],
            clock_facts_select(tz, literal_column("1") == 1),
        )
    )
    conn.execute(
        insert(STEP_ROLLUPS).from_select(
            [*STEP_KEY, "n", "seconds"],
            summed([step_contributions(CLOCK_FACTS, 1)], STEP_KEY).order_by(literal_column("day1")),
        )
    )
    conn.execute(update(STATE).where(STATE.c.id == 1).values(timezone=tz))
    return int(conn.execute(select(func.count()).select_from(FACTS)).scalar_one())


def _fold_dirty(conn: Connection, tz: str) -> int:
    dirty = dirty_cases()
    count = int(conn.execute(select(func.count(func.distinct(DIRTY.c.case_id)))).scalar_one())
    if not count:
        return 0
    sources = dirty_sources(tz)
    _upsert(
        conn,
        ROLLUPS,
        ROLLUP_KEY,
        summed(
            [
                *contributions(sources.new_facts, sources.new_events, 1),
                *contributions(sources.old_facts, sources.old_events, -1),
            ]
        ),
    )
    # Sums back at zero are rows of nothing: gone, so the rollups stay as small as the data.
    conn.execute(delete(ROLLUPS).where(ROLLUPS.c.n == 0))
    _fold_steps(conn, tz)
    # The summaries take the dirty cases' kept facts out now and put them back in once they
    # are replaced below: the new facts are worked out once, by that replacement.
    changes: _SummaryChanges = {}
    touched = _summary_changes(conn, -1, changes)
    conn.execute(delete(FACTS).where(FACTS.c.case_id.in_(dirty)))
    conn.execute(
        insert(FACTS).from_select(
            [column.name for column in FACTS.columns], facts_select(tz, CASE_TABLE.c.id.in_(dirty))
        )
    )
    conn.execute(delete(EVENT_FACTS).where(EVENT_FACTS.c.case_id.in_(dirty)))
    conn.execute(
        insert(EVENT_FACTS).from_select(
            [column.name for column in EVENT_FACTS.columns],
            event_facts_select(tz, EVENT_TABLE.c.case_id.in_(dirty)),
        )
    )
    touched |= _summary_changes(conn, 1, changes)
    _apply_summary_changes(conn, changes, touched)
    # Exactly the rows this snapshot saw: a case written meanwhile stays dirty for next time.
    conn.execute(delete(DIRTY))
    return count


def _fold_steps(conn: Connection, tz: str) -> None:
    """The dirty cases' clocks into the step rollups and clock facts."""
    dirty = dirty_cases()
    new = clock_facts_select(tz, CLOCKS.c.case_id.in_(dirty)).subquery("new_clocks")
    old = select(CLOCK_FACTS).where(CLOCK_FACTS.c.case_id.in_(dirty)).subquery("old_clocks")
    _upsert(
        conn,
        STEP_ROLLUPS,
        STEP_KEY,
        summed([step_contributions(new, 1), step_contributions(old, -1)], STEP_KEY),
    )
    conn.execute(delete(STEP_ROLLUPS).where(STEP_ROLLUPS.c.n == 0))
    conn.execute(delete(CLOCK_FACTS).where(CLOCK_FACTS.c.case_id.in_(dirty)))
    conn.execute(
        insert(CLOCK_FACTS).from_select(
            [column.name for column in CLOCK_FACTS.columns],
            clock_facts_select(tz, CLOCKS.c.case_id.in_(dirty)),
        )
    )
