"""Summaries per base cell and per department of the periods the centre reports by (months,
quarters, years, the rolling windows): built from the facts, and kept exact as cases change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    FromClause,
    Integer,
    MetaData,
    Table,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
)
from sqlalchemy.sql import ColumnElement

from urbangrid.evaluation.contributions import _insert, dirty_cases
from urbangrid.evaluation.days import summary_spans
from urbangrid.evaluation.facts import CASE_NAMES, FACT_DAYS, case_counts, event_counts
from urbangrid.evaluation.rollup_tables import (
    EVENT_FACTS,
    FACTS,
    SUMMARIES,
    SUMMARY_COUNTS,
    SUMMARY_EVENTS,
    SUMMARY_GROUPINGS,
    SUMMARY_KEY,
    SUMMARY_PERIODS,
    SUMMARY_SATISFIED,
)

# ---------------------------------------------------------------------------------------------
# Summaries per base cell and per department of the periods the centre reports by


def _grouped(source: FromClause, grouping: str) -> ColumnElement[str]:
    return func.coalesce(source.c[SUMMARY_GROUPINGS[grouping]], "")


def _build_summary(conn: Connection, span: tuple[int, int]) -> None:
    """Every group's counts of one period, from the facts as they stand, and its entry."""
    # Bound, not written into the SQL: the statements of every period are then the same, and
    # compiled once for all of them (a full rebuild keeps some 225 periods).
    first: ColumnElement[int] = literal(int(span[0]), Integer)
    end: ColumnElement[int] = literal(int(span[1]), Integer)
    for grouping in SUMMARY_GROUPINGS:
        cases = case_counts(FACTS, span, key=_grouped(FACTS, grouping), passed=None).subquery()
        conn.execute(
            insert(SUMMARIES).from_select(
                [*SUMMARY_KEY, *SUMMARY_COUNTS],
                select(
                    first,
                    end,
                    literal(grouping),
                    cases.c.key,
                    *(cases.c[name] for name in CASE_NAMES),
                    *(literal_column("0") for _ in SUMMARY_EVENTS),
                ),
            )
        )
        events = event_counts(
            EVENT_FACTS,
            span,
            key=_grouped(EVENT_FACTS, grouping),
            satisfied=SUMMARY_SATISFIED,
        ).subquery()
        statement = _insert(conn, SUMMARIES).from_select(
            [*SUMMARY_KEY, *SUMMARY_EVENTS],
            select(first, end, literal(grouping), *events.c)
            # SQLite reads "INSERT ... SELECT ... ON CONFLICT" only when the SELECT has a WHERE.
            .where(literal_column("1") == 1),
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=SUMMARY_KEY,
                set_={name: statement.excluded[name] for name in SUMMARY_EVENTS},
            )
        )
    conn.execute(insert(SUMMARY_PERIODS).values(first_day=span[0], end_day=span[1]))


def _keep_summaries(conn: Connection, today: int) -> None:
    """Summaries for every month, quarter and year from the first case to today, and for the
    rolling windows ending today; those of earlier days' windows go."""
    oldest, newest = conn.execute(
        select(func.min(FACTS.c.created_day), func.max(FACTS.c.created_day))
    ).one()
    wanted = set() if oldest is None else set(summary_spans(oldest, max(newest, today), today))
    kept = {(int(a), int(b)) for a, b in conn.execute(select(*SUMMARY_PERIODS.c))}
    for first, end in sorted(kept - wanted):
        conn.execute(
            delete(SUMMARIES).where(SUMMARIES.c.first_day == first, SUMMARIES.c.end_day == end)
        )
        conn.execute(
            delete(SUMMARY_PERIODS).where(
                SUMMARY_PERIODS.c.first_day == first, SUMMARY_PERIODS.c.end_day == end
            )
        )
    for span in sorted(wanted - kept):
        _build_summary(conn, span)


_SummaryChanges = dict[tuple[tuple[int, int], str, str], list[Any]]


def _summary_changes(conn: Connection, sign: int, changes: _SummaryChanges) -> set[tuple[int, int]]:
    """Add ``sign`` times what the dirty cases' kept facts count, per kept period they touch
    and per group, to ``changes``; the periods touched.

    Called before the facts of the dirty cases are replaced (-1) and after (+1): the exact
    difference the rollups get, without working out the new facts again for every period.
    """
    with _dirty_copy(conn, FACTS) as facts, _dirty_copy(conn, EVENT_FACTS) as events:
        return _count_changes(conn, facts, events, sign, changes)


@contextmanager
def _dirty_copy(conn: Connection, table: Any) -> Iterator[Table]:
    """The dirty cases' rows of a facts table, copied once into a temporary table.

    Every period and grouping is counted from these few rows; read through ``IN (dirty)``
    each time, the planner would take a period's facts by their day index first and keep the
    dirty ones after, tens of thousands of rows for a few hundred, once per query.
    """
    copy = Table(
        f"dirty_{table.name}",
        MetaData(),
        *(Column(column.name, column.type) for column in table.columns),
        prefixes=["TEMPORARY"],
    )
    copy.create(conn)
    try:
        conn.execute(
            insert(copy).from_select(
                [column.name for column in table.columns],
                select(table).where(table.c.case_id.in_(dirty_cases())),
            )
        )
        yield copy
    finally:
        copy.drop(conn)


def _count_changes(
    conn: Connection, facts: Table, events: Table, sign: int, changes: _SummaryChanges
) -> set[tuple[int, int]]:
    # Only the periods one of these cases' days falls in can change.
    days: set[int] = set()
    for row in conn.execute(select(*(facts.c[name] for name in FACT_DAYS))):
        days.update(day for day in row if day is not None)
    days.update(conn.execute(select(events.c.day)).scalars())
    kept = [(int(a), int(b)) for a, b in conn.execute(select(*SUMMARY_PERIODS.c))]
    touched = {span for span in kept if any(span[0] <= day < span[1] for day in days)}
    width = len(SUMMARY_COUNTS)
    for span in touched:
        for grouping in SUMMARY_GROUPINGS:
            counted = (
                (case_counts(facts, span, key=_grouped(facts, grouping), passed=None), 0),
                (
                    event_counts(
                        events, span, key=_grouped(events, grouping), satisfied=SUMMARY_SATISFIED
                    ),
                    len(CASE_NAMES),
                ),
            )
            for query, offset in counted:
                for key, *values in conn.execute(query):
                    slots = changes.setdefault((span, grouping, key), [0] * width)
                    for index, value in enumerate(values, offset):
                        slots[index] += sign * value
    return touched


def _apply_summary_changes(
    conn: Connection, changes: _SummaryChanges, touched: set[tuple[int, int]]
) -> None:
    rows = [
        {"first_day": span[0], "end_day": span[1], "grouping": grouping, "key": key}
        | dict(zip(SUMMARY_COUNTS, values, strict=True))
        for (span, grouping, key), values in changes.items()
        if any(values)
    ]
    if rows:
        statement = _insert(conn, SUMMARIES)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=SUMMARY_KEY,
                set_={
                    name: SUMMARIES.c[name] + statement.excluded[name] for name in SUMMARY_COUNTS
                },
            ),
            rows,
        )
    for first, end in touched:
        # A group left with nothing to count is a row of nothing, as a full build has none.
        conn.execute(
            delete(SUMMARIES).where(
                SUMMARIES.c.first_day == first,
                SUMMARIES.c.end_day == end,
                *(SUMMARIES.c[name] == 0 for name in SUMMARY_COUNTS if name != "handling_seconds"),
            )
        )
