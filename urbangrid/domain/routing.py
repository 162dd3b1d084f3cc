"""Who answers for a case (派遣): one accountable body per case (docs/domain.md §3)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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
    exclude: Collection[str] = (),
) -> RoutingDecision | None:
    """The department for a case of ``category_code`` located in ``cell_codes`` (L1..L4).

    The most specific matching scope wins (L4 over L3 over L2 over L1 over city-wide); among
    rules of the same scope the higher priority, then the older rule. With no rule, the street
    office of the case's level-2 area answers for it. ``None`` only when neither exists.
    Departments in ``exclude`` (those that already returned the case) are passed over, so a
    re-dispatch suggests the next body in line.

    >>> rules = [Rule(1, "E0102", "", "sanitation-city"),
    ...          Rule(2, "E0102", "310101", "sanitation-huangpu")]
    >>> cells = ["310101", "310101002", "310101002001", "310101002001001"]
    >>> choose_department(rules, category_code="E0102", cell_codes=cells, street_offices={})
    RoutingDecision(department_code='sanitation-huangpu', rule_id=2, scope_code='310101')
    >>> choose_department(rules, category_code="E0505", cell_codes=cells,
    ...                   street_offices={"310101002": "so-310101002"})
    RoutingDecision(department_code='so-310101002', rule_id=None, scope_code='310101002')
    >>> choose_department(rules, category_code="E0102", cell_codes=cells, street_offices={},
    ...                   exclude={"sanitation-huangpu"}).department_code
    'sanitation-city'
    """
    in_scope = {code for code in cell_codes if code}
    in_scope.add("")
    best: Rule | None = None
    for rule in rules:
        if rule.category_code != category_code or rule.scope_code not in in_scope:
            continue
        if rule.department_code in exclude:
            continue
        if best is None or _rank(rule) > _rank(best):
            best = rule
    if best is not None:
        return RoutingDecision(best.department_code, best.id, best.scope_code)
    street = cell_codes[1] if len(cell_codes) > 1 else ""
    office = street_offices.get(street)
    if office is None or office in exclude:
        return None
    return RoutingDecision(office, None, street)


def _rank(rule: Rule) -> tuple[int, int, int]:
    return (len(rule.scope_code), rule.priority, -rule.id)


@dataclass(frozen=True)
class RuleSpec:
    category_code: str
    scope_code: str
    department_code: str
    priority: int = 0


@dataclass(frozen=True)
class DepartmentSpec:
    code: str
    name: str
    kind: str
    grid_code: str | None = None
    name_en: str | None = None  # shown to English readers; the Chinese name when absent


@dataclass(frozen=True)
class RuleBook:
    """A routing rules file: the departments it declares and the whole rule table."""

    departments: tuple[DepartmentSpec, ...]
    rules: tuple[RuleSpec, ...]


_SCOPE = re.compile(r"^\d{0,18}$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def parse_rules(
    document: Mapping[str, Any],
    *,
    categories: Collection[str],
    departments: Collection[str],
) -> RuleBook:
    """Check a rules document against the known categories and departments.

    The document lists ``rules`` (category, scope, department, priority) and may declare
    ``departments`` (code, name, kind, grid_code, name_en) that the rules use. Errors name the
    entry and the field. Two rules for the same category, scope and priority would leave the
    choice to chance, so they are refused.

    >>> book = parse_rules({"rules": [
    ...     {"category": "E0102", "department": "sanitation"},
    ...     {"category": "E0102", "scope": "310101", "department": "sanitation-310101",
    ...      "priority": 1}]}, categories={"E0102"},
    ...     departments={"sanitation", "sanitation-310101"})
    >>> [(r.scope_code, r.department_code) for r in book.rules]
    [('', 'sanitation'), ('310101', 'sanitation-310101')]
    >>> parse_rules({"rules": [{"category": "E0102", "department": "nobody"}]},
    ...             categories={"E0102"}, departments={"sanitation"})
    Traceback (most recent call last):
    ...
    ValueError: rules[0].department: unknown department 'nobody'
    """
    declared: list[DepartmentSpec] = []
    known = set(departments)
    for index, entry in enumerate(document.get("departments") or []):
        where = f"departments[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a mapping with code, name and kind")
        code = str(entry.get("code", ""))
        if not _CODE.match(code):
            raise ValueError(f"{where}.code: {code!r} is not a department code")
        name, kind = str(entry.get("name", "")).strip(), str(entry.get("kind", "")).strip()
        if not name:
            raise ValueError(f"{where}.name: missing")
        if not kind:
            raise ValueError(f"{where}.kind: missing")
        grid = entry.get("grid_code")
        if grid is not None and not (_SCOPE.match(str(grid)) and str(grid)):
            raise ValueError(f"{where}.grid_code: {grid!r} is not a grid code")
        name_en = str(entry.get("name_en") or "").strip() or None
        declared.append(
            DepartmentSpec(code, name, kind, str(grid) if grid is not None else None, name_en)
        )
        known.add(code)
    rules: list[RuleSpec] = []
    seen: dict[tuple[str, str, int], int] = {}
    entries = document.get("rules")
    if not isinstance(entries, list):
        raise ValueError("rules: expected a list of rules")
    for index, entry in enumerate(entries):
        where = f"rules[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a mapping with category and department")
        category = str(entry.get("category", ""))
        if category not in categories:
            raise ValueError(f"{where}.category: unknown category {category!r}")
        scope = str(entry.get("scope", "") or "")
        if scope == "city":
            scope = ""
        if not _SCOPE.match(scope):
            raise ValueError(f"{where}.scope: {scope!r} is not a grid code prefix")
        department = str(entry.get("department", ""))
        if department not in known:
            raise ValueError(f"{where}.department: unknown department {department!r}")
        try:
            priority = int(entry.get("priority", 0))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{where}.priority: {entry.get('priority')!r} is not a whole number"
            ) from exc
        key = (category, scope, priority)
        if key in seen:
            raise ValueError(
                f"{where}: same category, scope and priority as rules[{seen[key]}]; "
                "give one of them another priority"
            )
        seen[key] = index
        rules.append(RuleSpec(category, scope, department, priority))
    return RuleBook(tuple(declared), tuple(rules))
