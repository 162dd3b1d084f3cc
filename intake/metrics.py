"""The evaluation, read-only: every measure per department, area, category and period.

The same functions as the dashboard's (``urbangrid.metrics``), so a figure reads the same
wherever it is read. JSON by default; ``format=csv`` (or ``Accept: text/csv``) for a file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel

from intake.bounds import CODE
from intake.deps import SessionDep, SettingsDep
from intake.staff_auth import ReaderDep
from urbangrid.columns import utcnow
from urbangrid.domain.metrics import PERIOD_HELP, Period, parse_period, quarter_of
from urbangrid.domain.readers import OutOfScope, Reader
from urbangrid.metrics import (
    FLAT_COLUMNS,
    STEP_COLUMNS,
    Dimension,
    Scope,
    UnknownFilter,
    all_department_codes,
    evaluate,
    evaluate_steps,
    group_names,
    open_now,
    trend,
)
from urbangrid.settings import Settings

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])

Lang = Literal["zh", "en"]
Format = Literal["json", "csv"]

PeriodQuery = Annotated[
    str | None, Query(max_length=40, description=f"{PERIOD_HELP}; default from settings")
]
DepartmentQuery = Annotated[
    str | None, Query(max_length=64, pattern=CODE, description="Only this department's cases")
]
AreaQuery = Annotated[
    str | None,
    Query(pattern=r"^\d{1,18}$", description="Only cases in this grid area (any level)"),
]
CategoryQuery = Annotated[
    str | None,
    Query(pattern=r"^[CE]\d{2}(\d{2})?$", description="A category (E0102) or a major class (E01)"),
]
LangQuery = Annotated[Lang, Query(description="Names in Chinese or English")]


def _signed_in(reader: Reader) -> None:
    if not reader.signed_in:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a staff token is required for these figures (Authorization: Bearer …)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _scope(
    reader: ReaderDep,
    department: DepartmentQuery = None,
    area: AreaQuery = None,
    category: CategoryQuery = None,
) -> Scope:
    """The filters, narrowed to the reader's scope: a department or an area of their own."""
    _signed_in(reader)
    try:
        department, area = reader.narrow(department, area)
    except OutOfScope as exc:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            [{"loc": ["query", exc.field], "msg": str(exc), "type": "scope"}],
        ) from None
    return Scope(department=department, area=area, category=category)


def _published_scope(
    reader: ReaderDep,
    department: DepartmentQuery = None,
    area: AreaQuery = None,
    category: CategoryQuery = None,
) -> Scope:
    """The city's totals are published when the city chooses; any filter needs a token."""
    if not reader.signed_in and reader.published and not (department or area or category):
        return Scope()
    return _scope(reader, department, area, category)


ScopeQuery = Annotated[Scope, Depends(_scope)]
PublishedScopeQuery = Annotated[Scope, Depends(_published_scope)]
FormatQuery = Annotated[Format | None, Query(description="json (default) or csv")]


class PeriodPublic(BaseModel):
    label: str
    start: datetime
    end: datetime


class MetricsPublic(BaseModel):
    """Figures per group for one period; ``rows`` carry every count and rate of §6."""

    dimension: str
    period: PeriodPublic
    filters: dict[str, str | None]
    generated_at: datetime
    rows: list[dict[str, Any]]


def _query_error(field: str, message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": ["query", field], "msg": message, "type": "value_error"}],
    )


@contextmanager
def _filters_named() -> Iterator[None]:
    """A filter naming nothing that exists is the caller's mistake: 422 naming the filter."""
    try:
        yield
    except UnknownFilter as exc:
        raise _query_error(exc.field, str(exc)) from None


def _period(text: str | None, settings: Settings, now: datetime) -> Period:
    tz = ZoneInfo(settings.city_timezone)
    try:
        return parse_period(
            text or settings.dashboard_default_period, tz=tz, today=now.astimezone(tz).date()
        )
    except ValueError as exc:
        raise _query_error("period", str(exc)) from None


def _wants_csv(request: Request, fmt: Format | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def csv_response(rows: Iterable[dict[str, Any]], columns: Sequence[str], name: str) -> Response:
    """Rows as a UTF-8 CSV file with a byte-order mark, so spreadsheet programs read Chinese."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return Response(
        content=buffer.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _measures(
    session: SessionDep,
    settings: Settings,
    *,
    dimension: Dimension,
    period: Period,
    scope: Scope,
    now: datetime,
    lang: Lang,
    include_all_departments: bool = False,
    min_cases: int = 0,
) -> list[dict[str, Any]]:
    include = (
        all_department_codes(session)
        if include_all_departments and dimension == Dimension.DEPARTMENTS
        else []
    )
    with _filters_named():
        found = evaluate(
            session,
            period=period,
            by=dimension,
            scope=scope,
            now=now,
            policy=settings.score_policy,
            satisfied_score=settings.metrics_satisfied_score,
            lang=lang,
            include=include,
            min_cases=min_cases,
        )
    return [e.flat() for e in found]


def _answer(
    request: Request,
    fmt: Format | None,
    *,
    dimension: str,
    period: Period,
    scope: Scope,
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    now: datetime,
) -> MetricsPublic | Response:
    if _wants_csv(request, fmt):
        return csv_response(rows, columns, f"metrics-{dimension}-{period.label}")
    return MetricsPublic(
        dimension=dimension,
        period=PeriodPublic(label=period.label, start=period.start, end=period.end),
        filters={"department": scope.department, "area": scope.area, "category": scope.category},
        generated_at=now,
        rows=rows,
    )


@router.get("/ranking", response_model=MetricsPublic)
def ranking(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    reader: ReaderDep,
    period: Annotated[
        str | None,
        Query(max_length=40, description="The quarter ranked, e.g. 2026-Q3 (default: this one)"),
    ] = None,
    lang: LangQuery = "zh",
    format: FormatQuery = None,
) -> MetricsPublic | Response:
    """The departments' ranking by composite score, with grades: every department is listed.

    A department with fewer cases due in the quarter than ``URBANGRID_RANKING_MIN_CASES`` is
    listed unranked (``ranked`` false, no ``rank``) after the ranked ones. Ties share a rank
    and are listed by cases due (more first), then by name.

    Published (no token needed) when ``URBANGRID_PUBLIC_DASHBOARD`` is on."""
    if not reader.sees_published:
        _signed_in(reader)
    now = utcnow()
    tz = ZoneInfo(settings.city_timezone)
    chosen = _period(period or quarter_of(now.astimezone(tz).date()), settings, now)
    rows = _measures(
        session,
        settings,
        dimension=Dimension.DEPARTMENTS,
        period=chosen,
        scope=Scope(),
        now=now,
        lang=lang,
        include_all_departments=True,
        min_cases=settings.ranking_min_cases,
    )
    rows = [row for row in rows if row["key"] is not None]  # reports no department holds yet
    return _answer(
        request,
        format,
        dimension="ranking",
        period=chosen,
        scope=Scope(),
        rows=rows,
        columns=FLAT_COLUMNS,
        now=now,
    )


@router.get("/roles", response_model=MetricsPublic)
def roles_view(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    reader: ReaderDep,
    scope: ScopeQuery,
    period: PeriodQuery = None,
    by: Annotated[
        Literal["role", "actor"],
        Query(description="One row per stage and role, or per member of staff too"),
    ] = "role",
    lang: LangQuery = "zh",
    format: FormatQuery = None,
) -> MetricsPublic | Response:
    """The evaluation per role: each stage clock due in the period (filing, dispatch, handling,
    check and close, the whole case), done, on time and overdue, per role or member of staff.

    Per member of staff (``by=actor``) only for those who lead people: heads, shift leads and
    administrators, within their scope."""
    if by == "actor" and not reader.sees_people:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            [
                {
                    "loc": ["query", "by"],
                    "msg": "figures per member of staff are for heads, "
                    "shift leads and administrators",
                    "type": "scope",
                }
            ],
        )
    now = utcnow()
    chosen = _period(period, settings, now)
    with _filters_named():
        rows = evaluate_steps(
            session, period=chosen, scope=scope, now=now, by_actor=by == "actor", lang=lang
        )
    return _answer(
        request,
        format,
        dimension="roles" if by == "role" else "staff",
        period=chosen,
        scope=scope,
        rows=rows,
        columns=STEP_COLUMNS,
        now=now,
    )


TREND_COLUMNS = ("bucket", "start", "end", "key", "name", *FLAT_COLUMNS[2:-4])


@router.get("/trend", response_model=MetricsPublic)
def trend_view(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    scope: ScopeQuery,
    unit: Annotated[Literal["day", "week", "month"], Query()] = "week",
    by: Annotated[Dimension, Query(description="Group each bucket by this")] = Dimension.TOTAL,
    period: PeriodQuery = None,
    lang: LangQuery = "zh",
    format: FormatQuery = None,
) -> MetricsPublic | Response:
    """The period's counts and rates per day, week or month."""
    now = utcnow()
    chosen = _period(period, settings, now)
    try:
        with _filters_named():
            points = trend(
                session,
                period=chosen,
                unit=unit,
                tz=ZoneInfo(settings.city_timezone),
                by=by,
                scope=scope,
                now=now,
                satisfied_score=settings.metrics_satisfied_score,
            )
    except ValueError as exc:
        raise _query_error("unit", str(exc)) from None
    names = group_names(session, by, [p.key for p in points], lang=lang)
    rows = [
        {
            "bucket": p.bucket,
            "start": p.start,
            "end": p.end,
            "key": p.key,
            "name": names.get(p.key, ""),
            **p.counts._asdict(),
            **p.rates,
        }
        for p in points
    ]
    return _answer(
        request,
        format,
        dimension=f"trend-{unit}",
        period=chosen,
        scope=scope,
        rows=rows,
        columns=TREND_COLUMNS,
        now=now,
    )


OPEN_COLUMNS = ("key", "name", "open", "suspended", "overdue", "at_risk")


@router.get("/open/{dimension}", response_model=MetricsPublic)
def open_view(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    dimension: Dimension,
    scope: ScopeQuery,
    lang: LangQuery = "zh",
    format: FormatQuery = None,
) -> MetricsPublic | Response:
    """Open cases now: all, suspended, overdue, and at risk of going overdue."""
    now = utcnow()
    with _filters_named():
        found = open_now(
            session, by=dimension, scope=scope, now=now, at_risk_share=settings.sla_warn_share
        )
    names = group_names(session, dimension, found, lang=lang)
    rows = [
        {"key": key, "name": names.get(key, ""), **figures.__dict__}
        for key, figures in sorted(found.items(), key=lambda kv: -kv[1].open)
    ]
    return _answer(
        request,
        format,
        dimension=f"open-{dimension}",
        period=Period(now, now, "now"),
        scope=scope,
        rows=rows,
        columns=OPEN_COLUMNS,
        now=now,
    )


@router.get("/{dimension}", response_model=MetricsPublic)
def measures(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    reader: ReaderDep,
    dimension: Dimension,
    scope: PublishedScopeQuery,
    period: PeriodQuery = None,
    lang: LangQuery = "zh",
    format: FormatQuery = None,
) -> MetricsPublic | Response:
    """Every measure of DOMAIN.md §6 per group for a period, with composite score and grade.

    Without a token only the city's totals (``total``, no filter), when the city publishes them."""
    if dimension != Dimension.TOTAL:
        _signed_in(reader)
    now = utcnow()
    chosen = _period(period, settings, now)
    rows = _measures(
        session, settings, dimension=dimension, period=chosen, scope=scope, now=now, lang=lang
    )
    return _answer(
        request,
        format,
        dimension=dimension,
        period=chosen,
        scope=scope,
        rows=rows,
        columns=FLAT_COLUMNS,
        now=now,
    )
