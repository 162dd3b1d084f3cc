"""The tables the evaluation keeps, and the keys and constants they are written by: the facts per
case and per counted event, the rollups, the summaries, the stage clocks' facts and sums.
"""

from __future__ import annotations

from urbangrid.core.tables import (
    MetricCaseFacts,
    MetricClockFacts,
    MetricDirtyCase,
    MetricEventFacts,
    MetricRollup,
    MetricRollupState,
    MetricStepRollup,
    MetricSummary,
    MetricSummaryPeriod,
    SlaClock,
)
from urbangrid.evaluation.facts import CASE_NAMES

FACTS = MetricCaseFacts.__table__  # type: ignore[attr-defined]

EVENT_FACTS = MetricEventFacts.__table__  # type: ignore[attr-defined]

ROLLUPS = MetricRollup.__table__  # type: ignore[attr-defined]

DIRTY = MetricDirtyCase.__table__  # type: ignore[attr-defined]

STATE = MetricRollupState.__table__  # type: ignore[attr-defined]

SUMMARIES = MetricSummary.__table__  # type: ignore[attr-defined]

SUMMARY_PERIODS = MetricSummaryPeriod.__table__  # type: ignore[attr-defined]

CLOCKS = SlaClock.__table__  # type: ignore[attr-defined]

CLOCK_FACTS = MetricClockFacts.__table__  # type: ignore[attr-defined]

STEP_ROLLUPS = MetricStepRollup.__table__  # type: ignore[attr-defined]

STEP_KEY = ("department_code", "stage", "stopped_role", "stopped_by", "day1", "day2", "on_time")


CODES = ("l1_code", "l2_code", "l3_code", "l4_code", "category_code")

ROLLUP_KEY = ("department_code", "kind", "day1", "day2", "flags", "score")

NO_SCORE = -1.0

# The summaries keep ratings of at least each whole score, for any configured threshold.
SATISFIED_SCORES = (1, 2, 3, 4, 5)

SUMMARY_SATISFIED = {f"satisfied_{score}": float(score) for score in SATISFIED_SCORES}

SUMMARY_EVENTS = ("dispatches", "returns", "ratings", *SUMMARY_SATISFIED)

SUMMARY_COUNTS = (*CASE_NAMES, *SUMMARY_EVENTS)

# The groupings kept in summaries, and the column of the facts and event facts each groups by
# (an event counts for the department that held the case then, as everywhere).
SUMMARY_GROUPINGS = {"cells": "l4_code", "departments": "department_code"}

SUMMARY_KEY = ["first_day", "end_day", "grouping", "key"]

# Any constant of our own: the advisory lock that keeps two refreshers apart on PostgreSQL.
LOCK_KEY = 5_420_260_005
