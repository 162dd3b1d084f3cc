"""A case as the history loaders hand it to the store: its column values, its events in order,
and its clocks. The demo season and the real Open311 import both make these; ``store`` writes
them in bulk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from urbangrid.domain.sla import Clock


@dataclass
class CaseRecord:
    """One case's column values, its events in order, and its clocks (ids are the caller's)."""

    case: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)
