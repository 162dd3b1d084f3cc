"""The evaluation in SQL: one implementation behind the metrics API, the dashboard and the bench.

What is counted, and how counts become rates, scores and grades, is defined in
:mod:`urbangrid.domain.metrics`; this module only counts. One pass over ``cases`` for
everything reckoned per case (due, closed, on time, handled, filed, received), and two over the
period's events (dispatches and returns from the index alone, ratings with their score), each
attributed to the department that held the case at the time. They read a period through the
indexes of migration ``0005_metrics`` instead of the whole table, and give the same answer on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, and_, case, func, literal, not_, or_, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session

from urbangrid.columns import UTCDateTime
from urbangrid.domain.metrics import (
    CLOCK_ORDER,
    COUNT_NAMES,
    DEFAULT_POLICY,
    BucketUnit,
    ClockStatus,
    Counts,
    Period,
    ScorePolicy,
    average_handling_hours,
    buckets,
    clock_status,
    composite_score,
    grade,
    ranks,
    rates,
)
from urbangrid.domain.states import OPEN_STATES, CaseState
from urbangrid.tables import Case, CaseEvent, Category, Department, GridArea

S = CaseState
CASE_TABLE = Case.__table__  # type: ignore[attr-defined]
EVENT_TABLE = CaseEvent.__table__  # type: ignore[attr-defined]
CASES = CASE_TABLE.c
EVENTS = EVENT_TABLE.c
AREAS = GridArea.__table__.c  # type: ignore[attr-defined]
DEPARTMENTS = Department.__table__.c  # type: ignore[attr-defined]
CATEGORIES = Category.__table__.c  # type: ignore[attr-defined]


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

# Major classes of the standard taxonomy (DOMAIN.md §2): the first three characters of a code.
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


# ---------------------------------------------------------------------------------------------
# Portable SQL pieces


class SecondsBetween(FunctionElement[float]):
    """``later - earlier`` in seconds, on PostgreSQL and on SQLite's text timestamps."""

    type = Float()
    inherit_cache = True


@compiles(SecondsBetween, "postgresql")
def _seconds_pg(element: SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    earlier, later = list(element.clauses)
    return (
        f"EXTRACT(EPOCH FROM ({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)}))"
    )


@compiles(SecondsBetween)
def _seconds_default(element: SecondsBetween, compiler: SQLCompiler, **kw: Any) -> str:
    earlier, later = list(element.clauses)
    return (
        f"((julianday({compiler.process(later, **kw)}) - "
        f"julianday({compiler.process(earlier, **kw)})) * 86400.0)"
    )


class JsonNumber(FunctionElement[float]):
    """A number stored under a key of a JSON text column (a rating's score), or NULL."""

    type = Float()
    inherit_cache = True


@compiles(JsonNumber, "postgresql")
def _json_number_pg(element: JsonNumber, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = list(element.clauses)
    return (
        f"CAST((CAST({compiler.process(column, **kw)} AS jsonb) ->> "
        f"{compiler.process(key, **kw)}) AS double precision)"
    )


@compiles(JsonNumber)
def _json_number_default(element: JsonNumber, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = list(element.clauses)
    return f"json_extract({compiler.process(column, **kw)}, '$.' || {compiler.process(key, **kw)})"


def _instant(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def _within(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= _instant(period.start), column < _instant(period.end))


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


def _planner_for_metrics(session: Session) -> None:
    """Tune PostgreSQL's planner for these queries, for the current transaction only.

    JIT compiles the sub-second aggregates for longer than they run; and the default
    random_page_cost (4, for spinning disks) makes the planner scan the whole cases table rather
    than look up the period's events' cases by primary key, twice as slow on cached pages.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL random_page_cost = 1.1"))


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


def _case_filters(session: Session, scope: Scope, *, department: bool = True) -> list[Any]:
    found: list[Any] = []
    if scope.department and department:
        if session.get(Department, scope.department) is None:
            raise UnknownFilter("department", f"no department has the code {scope.department!r}")
        found.append(CASES.department_code == scope.department)
    if scope.area:
        level = area_level(session, scope.area)
        found.append(CASES[f"l{level}_code"] == scope.area)
    if scope.category:
        if _MAJOR.match(scope.category):
            found.append(CASES.category_code.startswith(scope.category, autoescape=True))
        elif session.get(Category, scope.category) is not None:
            found.append(CASES.category_code == scope.category)
        else:
            raise UnknownFilter(
                "category",
                f"{scope.category!r} is neither a category code (E0102) nor a major class (E01)",
            )
    return found


def _case_group(by: Dimension) -> Any:
    if by == Dimension.TOTAL:
        return literal(TOTAL_KEY)
    if by == Dimension.DEPARTMENTS:
        return CASES.department_code
    if by in LEVEL_OF:
        return CASES[f"l{LEVEL_OF[by]}_code"]
    if by == Dimension.CATEGORIES:
        return CASES.category_code
    return func.substr(CASES.category_code, 1, 3)


# ---------------------------------------------------------------------------------------------
# Counting


def count_cases(
    session: Session,
    *,
    period: Period,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
    now: datetime,
    satisfied_score: float = 4,
    with_events: bool = True,
) -> dict[str | None, Counts]:
    """Every count of :class:`~urbangrid.domain.metrics.Counts`, per group, for one period."""
    _planner_for_metrics(session)
    filters = _case_filters(session, scope)
    end = _instant(period.end)
    c = CASES
    counted = and_(c.filed_at.isnot(None), c.state.notin_(COUNTED_OUT))
    is_closed = and_(c.state == S.CLOSED, c.closed_at.isnot(None))
    closure_deadline = func.coalesce(c.case_deadline_at, c.deadline_at)
    touched = or_(
        _within(c.created_at, period),
        and_(
            counted,
            or_(
                _within(c.case_deadline_at, period),
                _within(c.deadline_at, period),
                _within(c.closed_at, period),
                _within(c.handled_at, period),
                _within(c.filed_at, period),
            ),
        ),
    )
    # Each case's facts are worked out once (the subquery, fenced by OFFSET 0 so the planner
    # does not fold it back in), then combined per count: the same comparisons are not repeated
    # in every aggregate, which is most of the cost at a million cases.
    facts = (
        select(
            _case_group(by).label("key"),
            _within(c.created_at, period).label("received"),
            counted.label("counted"),
            _within(closure_deadline, period).label("deadline_in"),
            closure_deadline.isnot(None).label("has_deadline"),
            and_(is_closed, _within(c.closed_at, period)).label("closed_in"),
            and_(is_closed, c.closed_at < end).label("closed_by_end"),
            (c.closed_at <= closure_deadline).label("closed_on_time"),
            (closure_deadline < _instant(period.as_of(now))).label("deadline_passed"),
            and_(c.state.in_(HANDLING_STANDS), c.handled_at.isnot(None)).label("stands"),
            _within(c.handled_at, period).label("handled_in"),
            (c.handled_at < end).label("handled_by_end"),
            _within(c.deadline_at, period).label("handling_deadline_in"),
            c.deadline_at.isnot(None).label("has_handling_deadline"),
            (c.handled_at <= c.deadline_at).label("handled_on_time"),
            _within(c.filed_at, period).label("filed_in"),
            (c.extension_count > 0).label("extended"),
            (c.rework_count > 0).label("reworked"),
            (c.reopen_count > 0).label("reopened"),
            c.dispatched_at.isnot(None).label("dispatched"),
            SecondsBetween(c.dispatched_at, c.handled_at).label("seconds"),
        )
        .where(touched, *filters)
        .offset(0)
        .subquery("facts")
    )
    f = facts.c
    due = and_(f.counted, or_(f.deadline_in, f.closed_in))
    closed = and_(due, f.closed_by_end)
    handling_due = and_(
        f.counted,
        f.has_handling_deadline,
        or_(f.handling_deadline_in, and_(f.stands, f.handled_in)),
    )
    handled = and_(f.counted, f.stands, f.handled_in)
    filed = and_(f.counted, f.filed_in)
    handling_timed = and_(handled, f.dispatched)
    columns: dict[str, ColumnElement[Any]] = {
        "received": _count(f.received),
        "filed": _count(filed),
        "extended": _count(and_(filed, f.extended)),
        "due": _count(due),
        "closed": _count(closed),
        "closed_on_time": _count(and_(closed, f.has_deadline, f.closed_on_time)),
        "overdue": _count(
            and_(
                due,
                f.has_deadline,
                or_(
                    and_(f.closed_by_end, not_(f.closed_on_time)),
                    and_(not_(f.closed_by_end), f.deadline_passed),
                ),
            )
        ),
        "handling_due": _count(handling_due),
        "handled_on_time": _count(
            and_(handling_due, f.stands, f.handled_by_end, f.handled_on_time)
        ),
        "handled": _count(handled),
        "reworked": _count(and_(handled, f.reworked)),
        "reopened": _count(and_(closed, f.reopened)),
        "handling_timed": _count(handling_timed),
        "handling_seconds": func.coalesce(func.sum(f.seconds).filter(handling_timed), 0.0),
    }
    query = select(f.key, *(value.label(name) for name, value in columns.items())).group_by(f.key)
    found: dict[str | None, dict[str, Any]] = {}
    for row in session.execute(query).mappings():
        found[row["key"]] = {name: row[name] for name in columns}
    if with_events:
        for key, values in _count_events(
            session, period=period, by=by, scope=scope, satisfied_score=satisfied_score
        ).items():
            found.setdefault(key, {}).update(values)
    return {key: _counts(values) for key, values in found.items()}


def _counts(values: dict[str, Any]) -> Counts:
    return Counts(
        **{
            name: float(value) if name == "handling_seconds" else int(value)
            for name, value in values.items()
            if value is not None
        }  # type: ignore[arg-type]
    )


def _count_events(
    session: Session, *, period: Period, by: Dimension, scope: Scope, satisfied_score: float
) -> dict[str | None, dict[str, int]]:
    e = EVENTS
    needs_cases = by not in (Dimension.TOTAL, Dimension.DEPARTMENTS) or bool(
        scope.area or scope.category
    )
    filters: list[Any] = [_within(e.at, period)]
    if scope.department:
        filters.append(e.department_code == scope.department)
    case_filters = _case_filters(session, scope, department=False) if needs_cases else []
    if by == Dimension.DEPARTMENTS:
        group: Any = e.department_code
    else:
        group = _case_group(by)
    source = EVENT_TABLE.join(CASE_TABLE, CASES.id == e.case_id) if needs_cases else EVENT_TABLE
    key = group.label("key")
    score = JsonNumber(e.detail, literal("score"))
    # Two queries: dispatches and returns need no more than the (action, at, department) index;
    # only the few ratings are read from the table for their score.
    queries: list[tuple[tuple[str, ...], dict[str, ColumnElement[Any]]]] = [
        (
            (*DISPATCH_ACTIONS, "return"),
            {
                "dispatches": _count(e.action.in_(DISPATCH_ACTIONS)),
                "returns": _count(e.action == "return"),
            },
        ),
        (
            ("rate",),
            {
                "ratings": _count(score.isnot(None)),
                "satisfied": _count(score >= satisfied_score),
            },
        ),
    ]
    found: dict[str | None, dict[str, int]] = {}
    for actions, columns in queries:
        query = (
            select(key, *(value.label(name) for name, value in columns.items()))
            .select_from(source)
            .where(e.action.in_(actions), *filters, *case_filters)
            .group_by(key)
        )
        for row in session.execute(query).mappings():
            found.setdefault(row["key"], {}).update({name: int(row[name]) for name in columns})
    return found


# ---------------------------------------------------------------------------------------------
# Names of groups


def group_names(
    session: Session, by: Dimension, keys: Iterable[str | None], *, lang: str = "zh"
) -> dict[str | None, str]:
    """Display names of group keys: department names, area names, category names."""
    keys = list(keys)
    wanted = sorted({k for k in keys if k})
    names: dict[str | None, str] = {None: "—" if lang == "zh" else "(none)"}
    if by == Dimension.TOTAL:
        names[TOTAL_KEY] = "全市" if lang == "zh" else "City"
    elif by == Dimension.DEPARTMENTS and wanted:
        rows = session.execute(
            select(DEPARTMENTS.code, DEPARTMENTS.name).where(DEPARTMENTS.code.in_(wanted))
        )
        names.update({code: name for code, name in rows})
    elif by in LEVEL_OF and wanted:
        # Cases keep the codes they were given; the newest version that has a code names it.
        rows = session.execute(
            select(AREAS.code, AREAS.name).where(AREAS.code.in_(wanted)).order_by(AREAS.version_id)
        )
        names.update({code: name for code, name in rows})
    elif by == Dimension.CATEGORIES and wanted:
        rows = session.execute(
            select(CATEGORIES.code, CATEGORIES.name_zh, CATEGORIES.name_en).where(
                CATEGORIES.code.in_(wanted)
            )
        )
        names.update({code: zh if lang == "zh" else en for code, zh, en in rows})
    elif by == Dimension.MAJORS:
        names.update(major_names(session, wanted, lang=lang))
    return {k: names.get(k, k or "") for k in keys}


def major_names(session: Session, majors: Iterable[str], *, lang: str = "zh") -> dict[str, str]:
    """Names of major classes: the standard's, or for imported types the prefix they share."""
    found: dict[str, str] = {}
    for key in majors:
        known = MAJOR_CLASSES.get(key)
        if known:
            found[key] = known[0] if lang == "zh" else known[1]
            continue
        example = session.execute(
            select(CATEGORIES.name_en).where(CATEGORIES.code.startswith(key)).limit(1)
        ).scalar_one_or_none()
        found[key] = str(example).split("-", 1)[0].strip() if example else key
    return found


# ---------------------------------------------------------------------------------------------
# Evaluation: counts → rates, score, grade, rank


@dataclass(frozen=True)
class Evaluation:
    """One group's figures for one period."""

    key: str | None
    name: str
    counts: Counts
    rates: dict[str, float | None]
    average_handling_hours: float | None
    score: float | None
    grade: str | None
    rank: int | None = None

    def flat(self) -> dict[str, Any]:
        """One row for a table or a CSV file: counts, rates, time, score, grade and rank."""
        return {
            "key": self.key,
            "name": self.name,
            **{name: getattr(self.counts, name) for name in COUNT_NAMES},
            **self.rates,
            "average_handling_hours": self.average_handling_hours,
            "score": self.score,
            "grade": self.grade,
            "rank": self.rank,
        }


FLAT_COLUMNS: tuple[str, ...] = (
    "key",
    "name",
    *COUNT_NAMES,
    *rates(Counts()),
    "average_handling_hours",
    "score",
    "grade",
    "rank",
)


def evaluate(
    session: Session,
    *,
    period: Period,
    by: Dimension,
    scope: Scope = Scope(),
    now: datetime,
    policy: ScorePolicy = DEFAULT_POLICY,
    satisfied_score: float = 4,
    lang: str = "zh",
    include: Sequence[str] = (),
) -> list[Evaluation]:
    """Figures per group, best score first, ranked (a ranking is only meaningful per period).

    ``include`` adds groups that had nothing in the period (every department, say), so that a
    published ranking lists them with their zeros rather than leaving them out.
    """
    counted = count_cases(
        session, period=period, by=by, scope=scope, now=now, satisfied_score=satisfied_score
    )
    for wanted in include:
        counted.setdefault(wanted, Counts())
    names = group_names(session, by, counted, lang=lang)
    found = []
    for key, counts in counted.items():
        measured = rates(counts)
        score = composite_score(measured, counts.due, policy)
        found.append(
            Evaluation(
                key=key,
                name=names.get(key) or key or "",
                counts=counts,
                rates=measured,
                average_handling_hours=average_handling_hours(counts),
                score=score,
                grade=grade(score, policy),
            )
        )
    places = ranks([e.score for e in found])
    ranked = [
        Evaluation(**{**e.__dict__, "rank": place}) for e, place in zip(found, places, strict=True)
    ]
    return sorted(ranked, key=lambda e: (e.rank is None, e.rank or 0, -e.counts.due, str(e.key)))


def all_department_codes(session: Session) -> list[str]:
    return [str(code) for code in session.execute(select(DEPARTMENTS.code)).scalars()]


@dataclass(frozen=True)
class TrendPoint:
    bucket: str
    start: datetime
    end: datetime
    key: str | None
    counts: Counts
    rates: dict[str, float | None] = field(default_factory=dict)


def trend(
    session: Session,
    *,
    period: Period,
    unit: BucketUnit,
    tz: Any,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
    now: datetime,
    satisfied_score: float = 4,
    with_events: bool = True,
) -> list[TrendPoint]:
    """The same counts per day, week or month of the period: one indexed query per bucket."""
    points = []
    for bucket in buckets(period, unit, tz=tz):
        sub = Period(bucket.start, bucket.end, bucket.label)
        counted = count_cases(
            session,
            period=sub,
            by=by,
            scope=scope,
            now=now,
            satisfied_score=satisfied_score,
            with_events=with_events,
        )
        for key, counts in sorted(counted.items(), key=lambda kv: str(kv[0])):
            points.append(
                TrendPoint(bucket.label, bucket.start, bucket.end, key, counts, rates(counts))
            )
    return points


def received_per_bucket(
    session: Session,
    *,
    period: Period,
    unit: BucketUnit,
    tz: Any,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
) -> dict[tuple[str, str | None], int]:
    """Cases received per day, week or month of the period and per group, in one query.

    The same count as :func:`trend`'s ``received``, for charts that need nothing else.
    """
    found = buckets(period, unit, tz=tz)
    if not found:
        return {}
    label = case(
        *((CASES.created_at < _instant(b.end), literal(b.label)) for b in found),
        else_=literal(None),
    ).label("bucket")
    group = _case_group(by).label("key")
    rows = session.execute(
        select(label, group, func.count())
        .where(_within(CASES.created_at, period), *_case_filters(session, scope))
        .group_by(label, group)
    ).all()
    return {(str(bucket), key): int(count) for bucket, key, count in rows if bucket is not None}


def top_categories(
    session: Session, *, period: Period, level: int, scope: Scope = Scope(), limit: int = 3
) -> dict[str, list[tuple[str, int]]]:
    """The most reported categories of each area of a grid level (cases received in the period)."""
    area = CASES[f"l{level}_code"]
    received = func.count().label("received")
    rows = session.execute(
        select(area.label("area"), CASES.category_code, received)
        .where(_within(CASES.created_at, period), area.isnot(None), *_case_filters(session, scope))
        .group_by(area, CASES.category_code)
    ).all()
    found: dict[str, list[tuple[str, int]]] = {}
    for code, category, count in rows:
        found.setdefault(str(code), []).append((str(category), int(count)))
    return {
        code: sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[:limit]
        for code, pairs in found.items()
    }


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


@dataclass(frozen=True)
class OpenNow:
    open: int = 0
    suspended: int = 0
    overdue: int = 0
    at_risk: int = 0


def open_now(
    session: Session,
    *,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
    now: datetime,
    at_risk_share: float = 0.8,
) -> dict[str | None, OpenNow]:
    """Open cases per group at ``now``: all, suspended, overdue, and at risk of being so."""
    c = CASES
    filters = _case_filters(session, scope)
    moment = _instant(now)
    running = c.state.in_(sorted(OPEN_STATES - {S.SUSPENDED}))
    deadline = _clock_deadline()
    started = _stage_start()
    overdue = and_(running, deadline < moment)
    at_risk = and_(
        running,
        deadline >= moment,
        SecondsBetween(started, moment) >= SecondsBetween(started, deadline) * at_risk_share,
    )
    group = _case_group(by).label("key")
    query = (
        select(
            group,
            func.count().label("open"),
            _count(c.state == S.SUSPENDED).label("suspended"),
            _count(overdue).label("overdue"),
            _count(at_risk).label("at_risk"),
        )
        .where(c.state.in_(sorted(OPEN_STATES)), *filters)
        .group_by(group)
    )
    return {
        row["key"]: OpenNow(
            open=int(row["open"]),
            suspended=int(row["suspended"]),
            overdue=int(row["overdue"]),
            at_risk=int(row["at_risk"]),
        )
        for row in session.execute(query).mappings()
    }


@dataclass(frozen=True)
class QueueItem:
    """An open case in a work queue, with its clock."""

    id: int
    category_code: str
    state: str
    stage: str | None
    department_code: str | None
    area_codes: tuple[str | None, str | None, str | None, str | None]
    created_at: datetime
    deadline_at: datetime | None  # the current stage's
    case_deadline_at: datetime | None
    escalation_level: int
    clock: ClockStatus
    seconds_left: float | None


def work_queue(
    session: Session,
    *,
    scope: Scope = Scope(),
    now: datetime,
    at_risk_share: float = 0.8,
    limit: int = 200,
) -> list[QueueItem]:
    """A scope's open cases, overdue first, then at risk, then by time left (read-only).

    The clock shown is the one of the stage the case is in (filing, dispatch, handling, check).
    """
    c = CASES
    filters = _case_filters(session, scope)
    deadline = _clock_deadline().label("deadline")
    rows = session.execute(
        select(
            c.id,
            c.category_code,
            c.state,
            c.stage,
            c.department_code,
            c.l1_code,
            c.l2_code,
            c.l3_code,
            c.l4_code,
            c.created_at,
            _stage_start().label("started"),
            deadline,
            c.case_deadline_at,
            c.escalation_level,
        )
        .where(c.state.in_(sorted(OPEN_STATES)), *filters)
        # Nearest deadlines first: the overdue and at-risk cases are among them.
        .order_by(deadline.is_(None), deadline, c.id)
        .limit(limit)
    ).mappings()
    items = []
    for row in rows:
        deadline_at = row["deadline"]
        items.append(
            QueueItem(
                id=int(row["id"]),
                category_code=row["category_code"],
                state=row["state"],
                stage=row["stage"],
                department_code=row["department_code"],
                area_codes=(row["l1_code"], row["l2_code"], row["l3_code"], row["l4_code"]),
                created_at=row["created_at"],
                deadline_at=deadline_at,
                case_deadline_at=row["case_deadline_at"],
                escalation_level=int(row["escalation_level"]),
                clock=clock_status(
                    now=now,
                    started=row["started"],
                    deadline=deadline_at,
                    suspended=row["state"] == S.SUSPENDED,
                    at_risk_share=at_risk_share,
                ),
                seconds_left=(deadline_at - now).total_seconds() if deadline_at else None,
            )
        )
    return sorted(
        items,
        key=lambda i: (
            CLOCK_ORDER[i.clock],
            i.seconds_left if i.seconds_left is not None else float("inf"),
        ),
    )
