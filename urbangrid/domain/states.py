"""The states a case passes through on the closed loop (docs/domain.md §4)."""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    REPORTED = "REPORTED"
    VERIFYING = "VERIFYING"
    FILED = "FILED"
    DISPATCHED = "DISPATCHED"
    IN_PROGRESS = "IN_PROGRESS"
    RETURNED = "RETURNED"
    SUSPENDED = "SUSPENDED"
    HANDLED = "HANDLED"
    CHECKED = "CHECKED"
    CLOSED = "CLOSED"
    VOID = "VOID"


OPEN_STATES = frozenset(CaseState) - {CaseState.CLOSED, CaseState.VOID}
