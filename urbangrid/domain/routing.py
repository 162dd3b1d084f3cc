"""Who answers for a case (派遣): one accountable body per case (DOMAIN.md §3)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: int
    category_code: str
    scope_code: str  # grid code prefix; "" is city-wide
    department_code: str
    priority: int = 0


@dataclass(frozen=True)
class RoutingDecision:
    department_code: str
    rule_id: int | None  # None: the street office by default (属地管理)
    scope_code: str


def choose_department(
    rules: Iterable[Rule],
    *,
    category_code: str,
    cell_codes: Sequence[str],
    street_offices: Mapping[str, str],
) -> RoutingDecision | None:
    """The department for a case of ``category_code`` located in ``cell_codes`` (L1..L4).

    The most specific matching scope wins (L4 over L3 over L2 over L1 over city-wide); among
    rules of the same scope the higher priority, then the older rule. With no rule, the street
    office of the case's level-2 area answers for it. ``None`` only when neither exists.

    >>> rules = [Rule(1, "E0102", "", "sanitation-city"),
    ...          Rule(2, "E0102", "310101", "sanitation-huangpu")]
    >>> cells = ["310101", "310101002", "310101002001", "310101002001001"]
    >>> choose_department(rules, category_code="E0102", cell_codes=cells, street_offices={})
    RoutingDecision(department_code='sanitation-huangpu', rule_id=2, scope_code='310101')
    >>> choose_department(rules, category_code="E0505", cell_codes=cells,
    ...                   street_offices={"310101002": "so-310101002"})
    RoutingDecision(department_code='so-310101002', rule_id=None, scope_code='310101002')
    """
    in_scope = {code for code in cell_codes if code}
    in_scope.add("")
    best: Rule | None = None
    for rule in rules:
        if rule.category_code != category_code or rule.scope_code not in in_scope:
            continue
        if best is None or _rank(rule) > _rank(best):
            best = rule
    if best is not None:
        return RoutingDecision(best.department_code, best.id, best.scope_code)
    street = cell_codes[1] if len(cell_codes) > 1 else ""
    office = street_offices.get(street)
    if office is None:
        return None
    return RoutingDecision(office, None, street)


def _rank(rule: Rule) -> tuple[int, int, int]:
    return (len(rule.scope_code), rule.priority, -rule.id)
