"""What a figure is counted over: the tables read, the groupings, the filters.

A :class:`Scope` names a period and optional department, area and category; a
:class:`Dimension` names the grouping; a :class:`Question` takes both, with what counts as
satisfied. Both the rollup readers and the live reference counts
build their ``WHERE`` and ``GROUP BY`` from here, so they can never disagree on what is counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    and_,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from urbangrid.core.tables import Case, CaseEvent, Category, Department, GridArea, SlaClock
from urbangrid.domain.states import CaseState
from urbangrid.evaluation.facts import instant as _instant
from urbangrid.evaluation.formulas import Period

S = CaseState

CASE_TABLE = Case.__table__  # type: ignore[attr-defined]

EVENT_TABLE = CaseEvent.__table__  # type: ignore[attr-defined]

CASES = CASE_TABLE.c

EVENTS = EVENT_TABLE.c

AREAS = GridArea.__table__.c  # type: ignore[attr-defined]

DEPARTMENTS = Department.__table__.c  # type: ignore[attr-defined]

CATEGORIES = Category.__table__.c  # type: ignore[attr-defined]

SLA = SlaClock.__table__  # type: ignore[attr-defined]


class Dimension(StrEnum):
    """What the figures are grouped by."""

    TOTAL = "total"
    DEPARTMENTS = "departments"
    DISTRICTS = "districts"  # grid level 1
    STREETS = "streets"  # 2
    COMMUNITIES = "communities"  # 3
    CELLS = "cells"  # 4
    CATEGORIES = "categories"  # minor classes
    MAJORS = "majors"  # major classes, e.g. E01


LEVEL_OF: dict[Dimension, int] = {
    Dimension.DISTRICTS: 1,
    Dimension.STREETS: 2,
    Dimension.COMMUNITIES: 3,
    Dimension.CELLS: 4,
}

AREA_DIMENSION: dict[int, Dimension] = {level: dim for dim, level in LEVEL_OF.items()}


# Major classes of the standard taxonomy (docs/domain.md §2): the first three characters of a code.
MAJOR_CLASSES: dict[str, tuple[str, str]] = {
    "C01": ("公用设施", "Public utilities"),
    "C02": ("道路交通", "Roads and traffic"),
    "C03": ("市容环境", "City appearance"),
    "C04": ("园林绿化", "Landscaping"),
    "C05": ("房屋土地", "Buildings and land"),
    "C06": ("其他设施", "Other facilities"),
    "E01": ("市容环境", "City appearance"),
    "E02": ("宣传广告", "Advertising"),
    "E03": ("施工管理", "Construction"),
    "E04": ("突发事件", "Emergencies"),
    "E05": ("街面秩序", "Street order"),
}

_MAJOR = re.compile(r"^[A-Z]\d{2}$")


COUNTED_OUT = (S.VOID, S.SUSPENDED)

HANDLING_STANDS = (S.HANDLED, S.CHECKED, S.CLOSED)

DISPATCH_ACTIONS = ("dispatch", "redispatch")

TOTAL_KEY = "all"


class UnknownFilter(ValueError):
    """A filter names something that does not exist; ``field`` says which filter."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Scope:
    """Filters: a department code, a grid area code of any level, a category or major class."""

    department: str | None = None
    area: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class Question:
    """What a table of counts is asked: its grouping, its filters, the least rating that counts
    as satisfied, and whether dispatches, returns and ratings are counted at all."""

    by: Dimension = Dimension.TOTAL
    scope: Scope = Scope()
    satisfied_score: float = 4
    with_events: bool = True


# ---------------------------------------------------------------------------------------------
# Portable SQL pieces


def _within(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= _instant(period.start), column < _instant(period.end))


# ---------------------------------------------------------------------------------------------
# Filters and groups


def area_level(session: Session, code: str) -> int:
    """The grid level of an area code, in any grid version; :class:`UnknownFilter` if none."""
    level = session.execute(
        select(AREAS.level).where(AREAS.code == code).limit(1)
    ).scalar_one_or_none()
    if level is None:
        raise UnknownFilter("area", f"no grid area has the code {code!r}")
    return int(level)


@dataclass(frozen=True)
class _Columns:
    """Where a source keeps what the filters and groups read: cases, facts or events."""

    department: Any
    areas: dict[int, Any]  # grid level → code column
    category: Any


def columns_of(table: Any, department: Any = None) -> _Columns:
    return _Columns(
        department=table.department_code if department is None else department,
        areas={level: table[f"l{level}_code"] for level in (1, 2, 3, 4)},
        category=table.category_code,
    )


_CASE_COLUMNS = columns_of(CASES)


def filters_on(
    session: Session, scope: Scope, columns: _Columns, *, department: bool = True
) -> list[Any]:
    found: list[Any] = []
    if scope.department and department:
        if session.get(Department, scope.department) is None:
            raise UnknownFilter("department", f"no department has the code {scope.department!r}")
        found.append(columns.department == scope.department)
    if scope.area:
        level = area_level(session, scope.area)
        found.append(columns.areas[level] == scope.area)
    if scope.category:
        if _MAJOR.match(scope.category):
            found.append(columns.category.startswith(scope.category, autoescape=True))
        elif session.get(Category, scope.category) is not None:
            found.append(columns.category == scope.category)
        else:
            raise UnknownFilter(
                "category",
                f"{scope.category!r} is neither a category code (E0102) nor a major class (E01)",
            )
    return found


def _case_filters(session: Session, scope: Scope, *, department: bool = True) -> list[Any]:
    return filters_on(session, scope, _CASE_COLUMNS, department=department)


def group_on(by: Dimension, columns: _Columns) -> Any:
    if by == Dimension.TOTAL:
        return literal(TOTAL_KEY)
    if by == Dimension.DEPARTMENTS:
        return columns.department
    if by in LEVEL_OF:
        return columns.areas[LEVEL_OF[by]]
    if by == Dimension.CATEGORIES:
        return columns.category
    return func.substr(columns.category, 1, 3)


def _case_group(by: Dimension) -> Any:
    return group_on(by, _CASE_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Now: what is open, overdue and at risk at this moment


def _clock_deadline() -> ColumnElement[datetime]:
    """The deadline of the stage a case is in (the handling deadline, for older rows)."""
    return func.coalesce(CASES.stage_deadline_at, CASES.deadline_at)


def _stage_start() -> ColumnElement[datetime]:
    """When the stage a case is in began, as its milestone columns record it."""
    c = CASES
    return case(
        (c.state.in_((S.HANDLED, S.CHECKED)), c.handled_at),
        (c.state.in_((S.DISPATCHED, S.IN_PROGRESS, S.SUSPENDED)), c.dispatched_at),
        (c.state.in_((S.FILED, S.RETURNED)), c.filed_at),
        else_=c.created_at,
    )
