"""The tables: the database row holds the truth.

A case carries its explicit state, the grid codes it was given (kept even when a new grid version
is activated), its department and its deadline in indexed columns; what happened to it is the
append-only ``case_events`` log. One module per concept; importing this package registers every
table on the metadata but ``metric_summaries``, whose columns are the evaluation's counts
(``urbangrid.evaluation.rollup_tables``).
"""

from urbangrid.core.tables.addresses import Address
from urbangrid.core.tables.apikeys import ApiKey
from urbangrid.core.tables.calendar import CalendarDay, CalendarYear
from urbangrid.core.tables.cases import Case, CaseEvent
from urbangrid.core.tables.catalog import Category, Department, ReferenceVersion, RoutingRule
from urbangrid.core.tables.grid import GridArea, GridVersion
from urbangrid.core.tables.idempotency import IdempotencyKey
from urbangrid.core.tables.notifications import Notification
from urbangrid.core.tables.photos import Photo
from urbangrid.core.tables.rollups import (
    MetricCaseFacts,
    MetricClockFacts,
    MetricDirtyCase,
    MetricEventFacts,
    MetricRollup,
    MetricRollupState,
    MetricStepRollup,
    MetricSummaryPeriod,
)
from urbangrid.core.tables.sla import SlaClock
from urbangrid.core.tables.staff import Staff, StaffToken
from urbangrid.core.tables.taxonomy import MajorClass

__all__ = [
    "Address",
    "ApiKey",
    "CalendarDay",
    "CalendarYear",
    "Case",
    "CaseEvent",
    "Category",
    "Department",
    "GridArea",
    "GridVersion",
    "IdempotencyKey",
    "MajorClass",
    "MetricCaseFacts",
    "MetricClockFacts",
    "MetricDirtyCase",
    "MetricEventFacts",
    "MetricRollup",
    "MetricRollupState",
    "MetricStepRollup",
    "MetricSummaryPeriod",
    "Notification",
    "Photo",
    "ReferenceVersion",
    "RoutingRule",
    "SlaClock",
    "Staff",
    "StaffToken",
]
