"""The tables the evaluation keeps, and the keys and constants they are written by: the facts per
case and per counted event, the rollups, the summaries, the stage clocks' facts and sums.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table
from sqlmodel import SQLModel

from urbangrid.core.tables import rollups as tables
from urbangrid.core.tables.sla import SlaClock
from urbangrid.evaluation.facts import CASE_NAMES

FACTS = tables.MetricCaseFacts.__table__  # type: ignore[attr-defined]

EVENT_FACTS = tables.MetricEventFacts.__table__  # type: ignore[attr-defined]

ROLLUPS = tables.MetricRollup.__table__  # type: ignore[attr-defined]

DIRTY = tables.MetricDirtyCase.__table__  # type: ignore[attr-defined]

STATE = tables.MetricRollupState.__table__  # type: ignore[attr-defined]

SUMMARY_PERIODS = tables.MetricSummaryPeriod.__table__  # type: ignore[attr-defined]

CLOCKS = SlaClock.__table__  # type: ignore[attr-defined]

CLOCK_FACTS = tables.MetricClockFacts.__table__  # type: ignore[attr-defined]

STEP_ROLLUPS = tables.MetricStepRollup.__table__  # type: ignore[attr-defined]

STEP_KEY = ("department_code", "stage", "stopped_role", "stopped_by", "day1", "day2", "on_time")


CODES = ("l1_code", "l2_code", "l3_code", "l4_code", "category_code")

ROLLUP_KEY = ("department_code", "kind", "day1", "day2", "flags", "score")

NO_SCORE = -1.0

# The summaries keep ratings of at least each whole score, for any configured threshold.
SATISFIED_SCORES = (1, 2, 3, 4, 5)

SUMMARY_SATISFIED = {f"satisfied_{score}": float(score) for score in SATISFIED_SCORES}

SUMMARY_EVENTS = ("dispatches", "returns", "ratings", *SUMMARY_SATISFIED)

SUMMARY_COUNTS = (*CASE_NAMES, *SUMMARY_EVENTS)

# Every count of one base cell or department in one month, quarter, year or rolling window, kept
# by the refresher: the city-wide table of base cells (tens of thousands of groups) and a
# department's year read these rows instead of counting the facts or rollups of every case the
# period touches. Overdue counts every deadline of the period as passed; a reader of a period
# still running takes back those not yet passed. Its columns are the fields of ``Counts``, with
# ``satisfied`` kept per whole score (``SUMMARY_COUNTS``): the migration that built the table
# (0009) writes them out, and a test compares the two.
SUMMARIES = Table(
    "metric_summaries",
    SQLModel.metadata,
    Column("first_day", Integer, primary_key=True, autoincrement=False),
    Column("end_day", Integer, primary_key=True, autoincrement=False),
    Column("grouping", String(16), primary_key=True),  # "cells" or "departments"
    Column("key", String(64), primary_key=True),  # "" for cases with none
    *(
        Column(name, Float, nullable=False, default=0.0)
        if name == "handling_seconds"
        else Column(name, Integer, nullable=False, default=0)
        for name in SUMMARY_COUNTS
    ),
)

# The groupings kept in summaries, and the column of the facts and event facts each groups by
# (an event counts for the department that held the case then, as everywhere).
SUMMARY_GROUPINGS = {"cells": "l4_code", "departments": "department_code"}

SUMMARY_KEY = ["first_day", "end_day", "grouping", "key"]

# Any constant of our own: the advisory lock that keeps two refreshers apart on PostgreSQL.
LOCK_KEY = 5_420_260_005
