"""Who reads which figures: the public, and each staff member by role and scope, as plain data.

The dashboard and the metrics API apply the same rules. Someone who has not signed in reads only
what the city publishes (the quarterly ranking and the city's totals, when publishing is on):
aggregates, never a case and never a person. A signed-in staff member reads the figures of their
scope (a department its own cases, a grid scope its area, the city scope everything); case lists
are for the roles that work cases, and figures per member of staff for those who lead people.
"""

from __future__ import annotations

from dataclasses import dataclass

from urbangrid.domain.access import READ_ONLY_ROLES, Scope, ScopeKind
from urbangrid.domain.workflow import Role

# Roles that lead people and so read each member of staff's figures (within their scope).
LEADS = frozenset({Role.HEAD, Role.SHIFT_LEAD, Role.ADMIN})


class OutOfScope(ValueError):
    """A filter asks for figures outside the reader's scope; ``field`` names the filter."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Reader:
    """What one reader may see: ``None`` role is someone who has not signed in."""

    role: Role | None
    scope: Scope | None
    published: bool = False

    @property
    def signed_in(self) -> bool:
        return self.role is not None and self.scope is not None

    @property
    def sees_figures(self) -> bool:
        """Figures of a scope (every page but the published one)."""
        return self.signed_in

    @property
    def sees_published(self) -> bool:
        """The published ranking and city totals."""
        return self.signed_in or self.published

    @property
    def sees_cases(self) -> bool:
        """Case lists and case pages: the roles that work cases, not heads or administrators.

        >>> Reader(Role.DEPARTMENT, Scope(ScopeKind.DEPARTMENT, "roads")).sees_cases
        True
        >>> Reader(Role.HEAD, Scope(ScopeKind.DEPARTMENT, "roads")).sees_cases
        False
        >>> Reader(None, None, published=True).sees_cases
        False
        """
        return self.signed_in and self.role not in READ_ONLY_ROLES

    @property
    def sees_people(self) -> bool:
        """Each member of staff's figures: those who lead people.

        >>> Reader(Role.SHIFT_LEAD, Scope(ScopeKind.CITY)).sees_people
        True
        >>> Reader(Role.SUPERVISOR, Scope(ScopeKind.GRID, "310101")).sees_people
        False
        """
        return self.signed_in and self.role in LEADS

    def narrow(self, department: str | None, area: str | None) -> tuple[str | None, str | None]:
        """The department and area filters a reader's figures are read with.

        A department scope fixes the department, a grid scope the area (or an area inside it);
        asking for another is refused, naming the filter.

        >>> roads = Reader(Role.HEAD, Scope(ScopeKind.DEPARTMENT, "roads"))
        >>> roads.narrow(None, "310101")
        ('roads', '310101')
        >>> roads.narrow("parks", None)
        Traceback (most recent call last):
        ...
        urbangrid.domain.readers.OutOfScope: department: your scope is department roads
        >>> street = Reader(Role.SUPERVISOR, Scope(ScopeKind.GRID, "310101002"))
        >>> street.narrow(None, None), street.narrow(None, "310101002003")
        ((None, '310101002'), (None, '310101002003'))
        >>> street.narrow(None, "310101")
        Traceback (most recent call last):
        ...
        urbangrid.domain.readers.OutOfScope: area: your scope is the area 310101002
        """
        if not self.signed_in or self.scope is None:
            raise OutOfScope("token", "sign in to read these figures")
        scope = self.scope
        if scope.kind is ScopeKind.DEPARTMENT:
            if department not in (None, scope.value):
                raise OutOfScope(
                    "department", f"department: your scope is department {scope.value}"
                )
            return scope.value, area
        if scope.kind is ScopeKind.GRID:
            if area is not None and not area.startswith(scope.value):
                raise OutOfScope("area", f"area: your scope is the area {scope.value}")
            return department, area or scope.value
        return department, area
