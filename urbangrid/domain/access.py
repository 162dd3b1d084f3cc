"""Who among the staff sees which cases: roles and scopes, as plain data.

A staff account has one role of the closed loop and one scope: the whole city, one department,
or a grid code prefix (a district, a street, a community, a cell). A department sees only the
cases dispatched to it; grid staff see only the cases located inside their area; a case outside a
scope is not shown at all, not even its existence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from urbangrid.domain.workflow import Role


class ScopeKind(StrEnum):
    CITY = "city"
    DEPARTMENT = "department"
    GRID = "grid"


STAFF_ROLES = frozenset(Role) - {Role.CITIZEN, Role.SYSTEM}
# Roles that read but never act on a case.
READ_ONLY_ROLES = frozenset({Role.HEAD, Role.ADMIN})

_GRID = re.compile(r"^\d{1,18}$")
_DEPARTMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    value: str = ""

    def __str__(self) -> str:
        return "city" if self.kind is ScopeKind.CITY else f"{self.kind}:{self.value}"


def parse_scope(text: str) -> Scope:
    """Read a scope: ``city``, ``department:CODE`` or ``grid:PREFIX``.

    A bare code is read as a grid prefix when it is all digits and a department otherwise.

    >>> parse_scope("grid:310101002")
    Scope(kind=<ScopeKind.GRID: 'grid'>, value='310101002')
    >>> str(parse_scope("310101"))
    'grid:310101'
    >>> str(parse_scope("sanitation-310101")), str(parse_scope("city"))
    ('department:sanitation-310101', 'city')
    >>> parse_scope("grid:31x")
    Traceback (most recent call last):
    ...
    ValueError: scope 'grid:31x': a grid scope is a code prefix of digits, e.g. grid:310101002
    """
    raw = text.strip()
    if raw in ("", "city", "*"):
        return Scope(ScopeKind.CITY)
    kind, sep, value = raw.partition(":")
    if not sep:
        kind, value = ("grid" if raw.isdigit() else "department"), raw
    if kind in ("department", "dept"):
        if not _DEPARTMENT.match(value):
            raise ValueError(f"scope {text!r}: not a department code")
        return Scope(ScopeKind.DEPARTMENT, value)
    if kind == "grid":
        if not _GRID.match(value):
            raise ValueError(
                f"scope {text!r}: a grid scope is a code prefix of digits, e.g. grid:310101002"
            )
        return Scope(ScopeKind.GRID, value)
    raise ValueError(f"scope {text!r}: use city, department:CODE or grid:PREFIX")


def check_role_scope(role: Role, scope: Scope) -> None:
    """Refuse combinations that make no sense, naming why.

    >>> check_role_scope(Role.DEPARTMENT, parse_scope("grid:310101"))
    Traceback (most recent call last):
    ...
    ValueError: a department account needs a department scope (department:CODE)
    >>> check_role_scope(Role.SUPERVISOR, parse_scope("grid:310101002"))
    """
    if role not in STAFF_ROLES:
        raise ValueError(f"{role} is not a staff role")
    if role is Role.DEPARTMENT and scope.kind is not ScopeKind.DEPARTMENT:
        raise ValueError("a department account needs a department scope (department:CODE)")
    if scope.kind is ScopeKind.DEPARTMENT and role not in (Role.DEPARTMENT, Role.HEAD):
        raise ValueError(f"a {role} works on an area (city or grid:PREFIX), not a department")


def can_see(scope: Scope, *, department_code: str | None, grid_codes: Iterable[str | None]) -> bool:
    """Whether a case with this department and these grid codes (L1..L4) is in ``scope``.

    >>> codes = ["310101", "310101002", "310101002003", "310101002003014"]
    >>> can_see(parse_scope("grid:310101002"), department_code="x", grid_codes=codes)
    True
    >>> can_see(parse_scope("grid:310104"), department_code="x", grid_codes=codes)
    False
    >>> can_see(parse_scope("department:x"), department_code="y", grid_codes=codes)
    False
    """
    if scope.kind is ScopeKind.CITY:
        return True
    if scope.kind is ScopeKind.DEPARTMENT:
        return department_code == scope.value
    return any(code is not None and code.startswith(scope.value) for code in grid_codes)


def may_act(role: Role) -> bool:
    return role in STAFF_ROLES and role not in READ_ONLY_ROLES
