"""The reference data a router needs, read once per process and again only when it changed.

Categories (with their parsed limits), routing rules by category, street offices by level-2
code and the clock rules (calendar, time zone, office windows) cost a worker five queries per
case when read each time. Here they are read together and kept until ``reference_version``
moves: triggers move it on every change to those tables (migration 0013), so one one-row read
per batch tells a worker whether staff changed anything since.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from urbangrid.cases.clocks import category_limits
from urbangrid.core.tables import Category, Department, ReferenceVersion, RoutingRule
from urbangrid.domain.routing import RoutingDecision, Rule, choose_department
from urbangrid.domain.sla import ClockRules, Stage
from urbangrid.domain.timelimits import Limits


@dataclass(frozen=True)
class CategoryFacts:
    """What routing reads of a category."""

    code: str
    time_limit: str
    needs_verification: bool
    auto_dispatch: bool
    limits: Mapping[Stage, Limits]


@dataclass(frozen=True)
class Reference:
    version: int | None
    categories: Mapping[str, CategoryFacts]
    rules: Mapping[str, Sequence[Rule]]
    # Level-2 grid code -> {grid code: street office}, as ``casework.suggest`` builds it.
    offices: Mapping[str, Mapping[str, str]]
    clock_rules: ClockRules

    def suggest(self, category_code: str, cells: Sequence[str]) -> RoutingDecision | None:
        """The rule table's department for a case of ``category_code`` in ``cells`` (L1..L4)."""
        street = cells[1] if len(cells) > 1 else ""
        return choose_department(
            self.rules.get(category_code, ()),
            category_code=category_code,
            cell_codes=list(cells),
            street_offices=self.offices.get(street, {}) if street else {},
        )


def current_version(session: Session) -> int | None:
    """The reference data's version; None on a database older than migration 0013."""
    row = session.get(ReferenceVersion, 1)
    return None if row is None else row.version


def load(session: Session, clock_rules: ClockRules, version: int | None) -> Reference:
    categories = {
        row.code: CategoryFacts(
            code=row.code,
            time_limit=row.time_limit,
            needs_verification=row.needs_verification,
            auto_dispatch=row.auto_dispatch,
            limits=category_limits(row),
        )
        for row in session.exec(select(Category))
    }
    rules: dict[str, list[Rule]] = defaultdict(list)
    for r in session.exec(select(RoutingRule).order_by(col(RoutingRule.id))):
        rules[r.category_code].append(
            Rule(r.id or 0, r.category_code, r.scope_code, r.department_code, r.priority)
        )
    offices: dict[str, dict[str, str]] = defaultdict(dict)
    for d in session.exec(select(Department).where(col(Department.grid_code).is_not(None))):
        if d.grid_code:
            offices[d.grid_code][d.grid_code] = d.code
    return Reference(version, categories, dict(rules), dict(offices), clock_rules)


class ReferenceCache:
    """One per process: the reference data, reloaded when its version moved (thread-safe)."""

    def __init__(self, clock_rules: Callable[[Session], ClockRules]) -> None:
        self._clock_rules = clock_rules
        self._lock = threading.Lock()
        self._current: Reference | None = None

    def get(self, session: Session) -> Reference:
        version = current_version(session)
        with self._lock:
            cached = self._current
            # Without a version (an old schema) nothing says when to reload: read every time.
            if cached is not None and version is not None and cached.version == version:
                return cached
        fresh = load(session, self._clock_rules(session), version)
        with self._lock:
            self._current = fresh
        return fresh

    def clear(self) -> None:
        with self._lock:
            self._current = None
