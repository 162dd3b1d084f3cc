"""The tables: the database row holds the truth.

A case carries its explicit state, the grid codes it was given (kept even when a new grid version
is activated), its department and its deadline in indexed columns; what happened to it is the
append-only ``case_events`` log. One module per concept; importing this package registers every
table on the metadata.
"""

from urbangrid.tables.addresses import Address
from urbangrid.tables.apikeys import ApiKey
from urbangrid.tables.calendar import CalendarDay, CalendarYear
from urbangrid.tables.cases import Case, CaseEvent
from urbangrid.tables.catalog import Category, Department, ReferenceVersion, RoutingRule
from urbangrid.tables.grid import GridArea, GridVersion
from urbangrid.tables.idempotency import IdempotencyKey
from urbangrid.tables.notifications import Notification
from urbangrid.tables.photos import Photo
from urbangrid.tables.rollups import (
    MetricCaseFacts,
    MetricClockFacts,
    MetricDirtyCase,
    MetricEventFacts,
    MetricRollup,
    MetricRollupState,
    MetricStepRollup,
    MetricSummary,
    MetricSummaryPeriod,
)
from urbangrid.tables.sla import SlaClock
from urbangrid.tables.staff import Staff, StaffToken
from urbangrid.tables.taxonomy import MajorClass

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
    "MetricSummary",
    "MetricSummaryPeriod",
    "Notification",
    "Photo",
    "ReferenceVersion",
    "RoutingRule",
    "SlaClock",
    "Staff",
    "StaffToken",
]
