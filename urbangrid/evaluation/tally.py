"""Counted rows into :class:`Counts`: one list of numbers per group, events added to cases."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from urbangrid.evaluation.facts import (
    EVENT_NAMES,
)
from urbangrid.evaluation.formulas import COUNT_NAMES, Counts

# Positions in a group's list of counts (the order of Counts' fields).
TIMED = COUNT_NAMES.index("handling_timed")

SECONDS = COUNT_NAMES.index("handling_seconds")

_FIRST_EVENT = COUNT_NAMES.index("dispatches")

OVERDUE = COUNT_NAMES.index("overdue")

_Groups = dict[str | None, list[Any]]


def _groups(rows: Iterable[Sequence[Any]]) -> _Groups:
    """Rows of (key, counts in Counts' order) as lists, zeros where a row stops short.

    Plain lists and positions, not dictionaries per group: a city has tens of thousands of cells.
    """
    width = len(COUNT_NAMES)
    found: _Groups = {}
    for key, *values in rows:
        if len(values) < width:
            values.extend([0] * (width - len(values)))
        found[key] = values
    return found


def add_events(found: _Groups, rows: Iterable[Sequence[Any]]) -> None:
    """Add rows of (key, dispatches, returns, ratings, satisfied) to the groups."""
    width = len(COUNT_NAMES)
    for key, *values in rows:
        slots = found.get(key)
        if slots is None:
            slots = found[key] = [0] * width
        for offset, value in enumerate(values, _FIRST_EVENT):
            slots[offset] += value


def finish(found: _Groups) -> dict[str | None, Counts]:
    """The groups' counts, leaving out groups with nothing to count."""
    result: dict[str | None, Counts] = {}
    new = tuple.__new__
    for key, values in found.items():
        if not any(values):
            continue
        # Sums of additions and subtractions of the same seconds may leave a rounding crumb.
        values[SECONDS] = float(values[SECONDS]) if values[TIMED] else 0.0
        result[key] = new(Counts, values)
    return result


def _joined(
    case_rows: Iterable[Sequence[Any]], event_rows: Iterable[Sequence[Any]]
) -> dict[str | None, Counts]:
    """Rows of (key, the cases' counts) and of (key, the events' counts) as one table of counts.

    Built straight from the rows, without a list per group: a city-wide table of base cells is
    tens of thousands of groups, and this is most of the Python time it takes.
    """
    new = tuple.__new__
    events = {row[0]: tuple(row[1:]) for row in event_rows}
    no_events = (0,) * len(EVENT_NAMES)
    no_cases = tuple(0.0 if index == SECONDS else 0 for index in range(_FIRST_EVENT))
    result: dict[str | None, Counts] = {}
    for row in case_rows:
        key = row[0]
        counted = tuple(row[1:])
        happened = events.pop(key, no_events)
        if counted != no_cases or happened != no_events:
            result[key] = new(Counts, counted + happened)
    for key, happened in events.items():
        if happened != no_events:
            result[key] = new(Counts, no_cases + happened)
    return result
