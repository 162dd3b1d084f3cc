"""What each dashboard page loads, as plain functions of a session: no Streamlit, no layout.

``dashboard.data`` caches these for the pages; ``urbangrid bench dashboard`` times them as they
are. Every figure comes from ``urbangrid.evaluation``, the functions behind the metrics API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import shapely
from sqlalchemy import select
from sqlmodel import Session

from dashboard.i18n import t
from urbangrid.core.settings import Settings
from urbangrid.core.tables.catalog import department_name
from urbangrid.evaluation.formulas import Period, parse_period, quarter_of
from urbangrid.evaluation.queue import open_now, work_queue
from urbangrid.evaluation.report import (
    FLAT_COLUMNS,
    STEP_COLUMNS,
    all_department_codes,
    evaluate,
    evaluate_steps,
    group_names,
    major_names,
    received_per_bucket,
    top_categories,
    trend,
)
from urbangrid.evaluation.scope import (
    AREA_DIMENSION,
    AREAS,
    CATEGORIES,
    DEPARTMENTS,
    Dimension,
    Scope,
    area_level,
)

# The columns of the map's table and of a work queue, for the loaders and the pages alike.
MAP_COLUMNS = [
    "key",
    "name",
    "received",
    "due",
    "closed",
    "closure_rate",
    "on_time_closure_rate",
    "open",
    "overdue_now",
    "at_risk",
]
QUEUE_COLUMNS = [
    "id",
    "clock",
    "hours_left",
    "deadline",
    "case_deadline",
    "state",
    "stage",
    "category",
    "department",
    "area",
    "escalation_level",
    "seconds_left",
    "areas",
    "near_boundary",
]


@dataclass(frozen=True)
class Filters:
    """The view a URL shares: period, grid area, department, category and language."""

    period: str
    department: str | None = None
    area: str | None = None
    category: str | None = None
    lang: str = "zh"

    @property
    def scope(self) -> Scope:
        return Scope(department=self.department, area=self.area, category=self.category)


def period_of(settings: Settings, label: str, now: datetime) -> Period:
    tz = ZoneInfo(settings.city_timezone)
    return parse_period(label, tz=tz, today=now.astimezone(tz).date())


def _evaluate(
    session: Session,
    settings: Settings,
    filters: Filters,
    by: Dimension,
    now: datetime,
    *,
    period: Period | None = None,
    scope: Scope | None = None,
    include: list[str] | None = None,
    min_cases: int = 0,
) -> pd.DataFrame:
    rows = evaluate(
        session,
        period=period or period_of(settings, filters.period, now),
        by=by,
        scope=filters.scope if scope is None else scope,
        now=now,
        policy=settings.score_policy,
        satisfied_score=settings.metrics_satisfied_score,
        lang=filters.lang,
        include=include or (),
        min_cases=min_cases,
    )
    return pd.DataFrame([e.flat() for e in rows], columns=list(FLAT_COLUMNS))


def _open(
    session: Session, settings: Settings, scope: Scope, by: Dimension, now: datetime
) -> pd.DataFrame:
    found = open_now(session, by=by, scope=scope, now=now, at_risk_share=settings.sla_warn_share)
    return pd.DataFrame(
        [{"key": key, **figures.__dict__} for key, figures in found.items()],
        columns=["key", "open", "suspended", "overdue", "at_risk"],
    )


def main_departments(
    session: Session,
    settings: Settings,
    filters: Filters,
    scope: Scope,
    now: datetime,
    *,
    period: Period | None = None,
    top: int = 10,
) -> pd.DataFrame:
    """The departments with most cases due in a scope, with their open and overdue cases now."""
    figures = _evaluate(
        session, settings, filters, Dimension.DEPARTMENTS, now, period=period, scope=scope
    )
    opened = _open(session, settings, scope, Dimension.DEPARTMENTS, now)
    merged = figures.merge(
        opened.rename(columns={"overdue": "overdue_now"}), on="key", how="left"
    ).fillna({"open": 0, "suspended": 0, "overdue_now": 0, "at_risk": 0})
    merged = merged[merged["key"].notna()]
    ordered = merged.sort_values(["due", "open", "key"], ascending=[False, False, True])
    return ordered.head(top).reset_index(drop=True)


@dataclass(frozen=True)
class OverviewData:
    total: dict[str, Any]  # the period's figures for the whole scope
    open_now: dict[str, int]
    weekly: pd.DataFrame
    departments: pd.DataFrame  # the departments with most cases due, and their open cases


def overview_data(
    session: Session, settings: Settings, filters: Filters, now: datetime
) -> OverviewData:
    period = period_of(settings, filters.period, now)
    total = _evaluate(session, settings, filters, Dimension.TOTAL, now, period=period)
    snapshot = _open(session, settings, filters.scope, Dimension.TOTAL, now)
    points = trend(
        session,
        period=period,
        unit="week",
        tz=ZoneInfo(settings.city_timezone),
        scope=filters.scope,
        now=now,
        satisfied_score=settings.metrics_satisfied_score,
    )
    weekly = pd.DataFrame(
        [
            {
                "bucket": p.bucket,
                "received": p.counts.received,
                "closed": p.counts.closed,
                "overdue": p.counts.overdue,
                "closure_rate": p.rates["closure_rate"],
                "on_time_closure_rate": p.rates["on_time_closure_rate"],
            }
            for p in points
        ],
        columns=[
            "bucket",
            "received",
            "closed",
            "overdue",
            "closure_rate",
            "on_time_closure_rate",
        ],
    )
    departments = main_departments(session, settings, filters, filters.scope, now, period=period)
    empty = dict.fromkeys(FLAT_COLUMNS)
    row = total.iloc[0].to_dict() if len(total) else {**empty, "key": "all"}
    counts = snapshot.iloc[0].to_dict() if len(snapshot) else {}
    return OverviewData(
        total=row,
        open_now={k: int(counts.get(k, 0)) for k in ("open", "suspended", "overdue", "at_risk")},
        weekly=weekly,
        departments=departments.reset_index(drop=True),
    )


@dataclass(frozen=True)
class DepartmentsData:
    table: pd.DataFrame  # every measure per department for the chosen period
    ranking: pd.DataFrame  # the quarter's ranking, every department listed
    ranking_period: str
    roles: pd.DataFrame  # each stage's clocks per role (STEP_FRAME_COLUMNS)
    staff: pd.DataFrame  # the same per member of staff


# The evaluation per role as the dashboard names its columns: "due" and "overdue" already mean
# cases on this page, so the steps' counts carry a prefix of their own.
STEP_FRAME_COLUMNS = tuple(
    name if name in ("stage", "stage_name", "role", "actor") else f"step_{name}"
    for name in STEP_COLUMNS
)


def _steps(
    session: Session, settings: Settings, filters: Filters, now: datetime, *, by_actor: bool
) -> pd.DataFrame:
    rows = evaluate_steps(
        session,
        period=period_of(settings, filters.period, now),
        scope=filters.scope,
        now=now,
        by_actor=by_actor,
        lang=filters.lang,
    )
    frame = pd.DataFrame(rows, columns=list(STEP_COLUMNS))
    frame.columns = list(STEP_FRAME_COLUMNS)
    frame["role"] = [t(f"role_{role}", filters.lang) for role in frame["role"]]
    return frame


def ranking_quarter(settings: Settings, label: str, now: datetime) -> str:
    """The quarter ranked: the chosen period when it is a quarter, else the current one."""
    period = period_of(settings, label, now)
    if label.upper() == period.label and "-Q" in period.label:
        return period.label
    return quarter_of(now.astimezone(ZoneInfo(settings.city_timezone)).date())


def departments_data(
    session: Session, settings: Settings, filters: Filters, now: datetime
) -> DepartmentsData:
    table = _evaluate(session, settings, filters, Dimension.DEPARTMENTS, now)
    # Biggest first: the table is for reading across departments; the ranking orders by score.
    table = table.sort_values(["due", "key"], ascending=[False, True]).reset_index(drop=True)
    quarter = ranking_quarter(settings, filters.period, now)
    ranking = _evaluate(
        session,
        settings,
        filters,
        Dimension.DEPARTMENTS,
        now,
        period=period_of(settings, quarter, now),
        scope=Scope(),  # the published ranking is city-wide
        include=all_department_codes(session),
        min_cases=settings.ranking_min_cases,
    )
    ranking = ranking[ranking["key"].notna()].reset_index(drop=True)  # not yet any department's
    return DepartmentsData(
        table=table,
        ranking=ranking,
        ranking_period=quarter,
        roles=_steps(session, settings, filters, now, by_actor=False),
        staff=_steps(session, settings, filters, now, by_actor=True),
    )


@dataclass(frozen=True)
class MapData:
    level: int
    parent: str | None
    table: pd.DataFrame  # per area: figures for the period and open cases now
    features: dict[str, Any]  # GeoJSON of the areas, with the table's figures as properties
    bounds: tuple[float, float, float, float] | None
    departments: pd.DataFrame  # who answers for the cases of the area shown


def map_level(session: Session, area: str | None) -> tuple[int, str | None]:
    """The level shown and its parent: the children of the chosen area, or the districts."""
    if not area:
        return 1, None
    level = area_level(session, area)
    if level >= 4:
        parent = session.execute(
            select(AREAS.parent_code).where(AREAS.code == area).limit(1)
        ).scalar_one_or_none()
        return 4, parent
    return level + 1, area


def _active_version(session: Session) -> int | None:
    from urbangrid.core.grids import active_version_id

    return active_version_id(session)


def map_data(session: Session, settings: Settings, filters: Filters, now: datetime) -> MapData:
    level, parent = map_level(session, filters.area)
    dimension = AREA_DIMENSION[level]
    scope = Scope(department=filters.department, area=parent, category=filters.category)
    figures = _evaluate(session, settings, filters, dimension, now, scope=scope)
    opened = _open(session, settings, scope, dimension, now)
    version = _active_version(session)
    shapes: list[tuple[str, str, Any]] = []
    if version is not None:
        query = select(AREAS.code, AREAS.name, AREAS.geom).where(
            AREAS.version_id == version, AREAS.level == level
        )
        if parent:
            query = query.where(AREAS.parent_code == parent)
        shapes = [(str(c), str(n), g) for c, n, g in session.execute(query.order_by(AREAS.code))]
    table = pd.DataFrame({"key": [c for c, _, _ in shapes], "name": [n for _, n, _ in shapes]})
    table = table.merge(figures.drop(columns=["name"]), on="key", how="left")
    table = table.merge(opened.rename(columns={"overdue": "overdue_now"}), on="key", how="left")
    counts = ["received", "due", "closed", "open", "overdue_now", "at_risk", "suspended"]
    table[counts] = table[counts].fillna(0).astype(int)
    table = table[MAP_COLUMNS]
    features: list[dict[str, Any]] = []
    bounds = None
    if shapes:
        geoms = [g for _, _, g in shapes]
        minx, miny, maxx, maxy = shapely.total_bounds(geoms)
        bounds = (float(minx), float(miny), float(maxx), float(maxy))
        tolerance = max(maxx - minx, maxy - miny) / 800
        simplified = shapely.simplify(geoms, tolerance, preserve_topology=True)
        # Where each area's name is written: a point surely inside it, even for odd shapes.
        anchors = shapely.point_on_surface(geoms)
        for geom, anchor, record in zip(simplified, anchors, table.to_dict("records"), strict=True):
            shape = shapely.geometry.mapping(shapely.set_precision(geom, 1e-5))
            record["anchor"] = [round(anchor.x, 5), round(anchor.y, 5)]
            features.append({"type": "Feature", "geometry": shape, "properties": record})
    return MapData(
        level=level,
        parent=parent,
        table=table,
        features={"type": "FeatureCollection", "features": features},
        bounds=bounds,
        departments=main_departments(session, settings, filters, scope, now),
    )


@dataclass(frozen=True)
class CategoriesData:
    minors: pd.DataFrame
    majors: pd.DataFrame
    weekly: pd.DataFrame  # cases received per week per major class
    top: pd.DataFrame  # the most reported categories of each district (or child area)
    departments: pd.DataFrame  # who answers for the chosen class (or for all)


def categories_data(
    session: Session, settings: Settings, filters: Filters, now: datetime
) -> CategoriesData:
    period = period_of(settings, filters.period, now)
    minors = _evaluate(session, settings, filters, Dimension.CATEGORIES, now, period=period)
    majors = _evaluate(session, settings, filters, Dimension.MAJORS, now, period=period)
    received = received_per_bucket(
        session,
        period=period,
        unit="week",
        tz=ZoneInfo(settings.city_timezone),
        by=Dimension.MAJORS,
        scope=filters.scope,
    )
    labels = group_names(session, Dimension.MAJORS, {key for _, key in received}, lang=filters.lang)
    weekly = pd.DataFrame(
        [
            {"bucket": bucket, "major": f"{key} {labels.get(key, '')}", "received": count}
            for (bucket, key), count in sorted(received.items(), key=lambda kv: str(kv[0]))
        ],
        columns=["bucket", "major", "received"],
    )
    level, parent = map_level(session, filters.area)
    top = top_categories(
        session,
        period=period,
        level=level,
        scope=Scope(department=filters.department, area=parent, category=filters.category),
        limit=3,
    )
    area_names = group_names(session, AREA_DIMENSION[level], top.keys(), lang=filters.lang)
    category_names = group_names(
        session,
        Dimension.CATEGORIES,
        {c for rows in top.values() for c, _ in rows},
        lang=filters.lang,
    )
    top_frame = pd.DataFrame(
        [
            {
                "area": area,
                "area_name": area_names.get(area, ""),
                "place": place,
                "category": code,
                "category_name": category_names.get(code, code),
                "received": received,
            }
            for area, rows in sorted(top.items(), key=lambda kv: str(kv[0]))
            for place, (code, received) in enumerate(rows, start=1)
        ],
        columns=["area", "area_name", "place", "category", "category_name", "received"],
    )
    return CategoriesData(
        minors=minors,
        majors=majors,
        weekly=weekly,
        top=top_frame,
        departments=main_departments(session, settings, filters, filters.scope, now, period=period),
    )


def queue_data(
    session: Session, settings: Settings, filters: Filters, now: datetime, limit: int = 200
) -> pd.DataFrame:
    """The scope's open cases with their clocks, read from the database (read-only)."""
    items = work_queue(
        session,
        scope=filters.scope,
        now=now,
        at_risk_share=settings.sla_warn_share,
        limit=limit,
    )
    return pd.DataFrame(
        [
            {
                "id": i.id,
                "clock": i.clock,
                "hours_left": None if i.seconds_left is None else round(i.seconds_left / 3600, 1),
                "deadline": i.deadline_at,
                "case_deadline": i.case_deadline_at,
                "state": i.state,
                "stage": i.stage,
                "category": i.category_code,
                "department": i.department_code,
                "area": next((c for c in reversed(i.area_codes) if c), None),
                "escalation_level": i.escalation_level,
                "seconds_left": i.seconds_left,
                "areas": i.area_codes,
                "near_boundary": i.near_boundary,
            }
            for i in items
        ],
        columns=QUEUE_COLUMNS,
    )


@dataclass(frozen=True)
class Options:
    """What the filters offer: departments, districts and streets, categories and classes."""

    departments: dict[str, str]
    areas: dict[int, dict[str, tuple[str, str | None]]]  # level → code → (name, parent)
    categories: dict[str, str]
    majors: dict[str, str]


def filter_options(session: Session, lang: str) -> Options:
    departments = {
        str(code): department_name(name, name_en, lang)
        for code, name, name_en in session.execute(
            select(DEPARTMENTS.code, DEPARTMENTS.name, DEPARTMENTS.name_en).order_by(
                DEPARTMENTS.code
            )
        )
    }
    version = _active_version(session)
    areas: dict[int, dict[str, tuple[str, str | None]]] = {1: {}, 2: {}, 3: {}}
    if version is not None:
        rows = session.execute(
            select(AREAS.level, AREAS.code, AREAS.name, AREAS.parent_code)
            .where(AREAS.version_id == version, AREAS.level <= 3)
            .order_by(AREAS.code)
        )
        for level, code, name, parent in rows:
            areas[int(level)][str(code)] = (str(name), parent)
    name_column = CATEGORIES.name_zh if lang == "zh" else CATEGORIES.name_en
    categories = {
        str(code): str(name)
        for code, name in session.execute(
            select(CATEGORIES.code, name_column).order_by(CATEGORIES.code)
        )
    }
    majors = major_names(session, sorted({code[:3] for code in categories}), lang=lang)

    return Options(departments=departments, areas=areas, categories=categories, majors=majors)


def cells_of(session: Session, community: str) -> dict[str, str]:
    """The base cells of one community in the active grid (the finest filter level)."""
    version = _active_version(session)
    if version is None:
        return {}
    rows = session.execute(
        select(AREAS.code, AREAS.name)
        .where(AREAS.version_id == version, AREAS.level == 4, AREAS.parent_code == community)
        .order_by(AREAS.code)
    )
    return {str(code): str(name) for code, name in rows}


def parent_of(session: Session, area: str) -> str | None:
    found = session.execute(
        select(AREAS.parent_code)
        .where(AREAS.code == area)
        .order_by(AREAS.version_id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return str(found) if found else None


@dataclass(frozen=True)
class PublishedData:
    """What the city publishes: its totals for the quarter, open cases now, and the ranking."""

    quarter: str
    total: dict[str, Any]
    open_now: dict[str, int]
    ranking: pd.DataFrame


def published_data(
    session: Session, settings: Settings, quarter: str, lang: str, now: datetime
) -> PublishedData:
    """The city's totals and the departments' ranking for one quarter: aggregates only."""
    filters = Filters(period=quarter, lang=lang)
    period = period_of(settings, quarter, now)
    total = _evaluate(session, settings, filters, Dimension.TOTAL, now, period=period)
    snapshot = _open(session, settings, Scope(), Dimension.TOTAL, now)
    ranking = _evaluate(
        session,
        settings,
        filters,
        Dimension.DEPARTMENTS,
        now,
        period=period,
        scope=Scope(),
        include=all_department_codes(session),
        min_cases=settings.ranking_min_cases,
    )
    counts = snapshot.iloc[0].to_dict() if len(snapshot) else {}
    return PublishedData(
        quarter=quarter,
        total=total.iloc[0].to_dict() if len(total) else {**dict.fromkeys(FLAT_COLUMNS)},
        open_now={k: int(counts.get(k, 0)) for k in ("open", "suspended", "overdue", "at_risk")},
        ranking=ranking[ranking["key"].notna()].reset_index(drop=True),
    )


@dataclass(frozen=True)
class Names:
    """Codes in words for one language: departments, areas of every level, categories."""

    departments: dict[str, str]
    areas: dict[str, str]
    categories: dict[str, str]

    def area_path(self, codes: tuple[str | None, ...]) -> str:
        """A case's place from street down: "Street › Community" (the district is implied)."""
        named = [self.areas[c] for c in codes[1:3] if c and c in self.areas]
        return " › ".join(named) if named else "—"


def names(session: Session, lang: str) -> Names:
    options = filter_options(session, lang)
    areas = {code: name for level in (1, 2, 3) for code, (name, _) in options.areas[level].items()}
    return Names(departments=options.departments, areas=areas, categories=options.categories)


@dataclass(frozen=True)
class CasePhoto:
    id: int
    kind: str  # before | after
    ready: bool
    digest: str | None


def case_photos(session: Session, case_id: int) -> list[CasePhoto]:
    """A case's photos that may be shown to staff: processed or on their way, none rejected."""
    from urbangrid.core.tables import Photo

    rows = session.execute(
        select(Photo.id, Photo.kind, Photo.state, Photo.digest)  # type: ignore[call-overload]
        .where(Photo.case_id == case_id, Photo.state != "rejected")
        .order_by(Photo.id)
    ).all()
    return [
        CasePhoto(int(i), str(kind), state == "ready" and digest is not None, digest)
        for i, kind, state, digest in rows
    ]


def place_shapes(session: Session, codes: list[str]) -> dict[str, Any]:
    """GeoJSON of the named areas of the active grid (a case's street, community and cell)."""
    version = _active_version(session)
    features: list[dict[str, Any]] = []
    if version is None or not codes:
        return {"type": "FeatureCollection", "features": features}
    rows = session.execute(
        select(AREAS.code, AREAS.name, AREAS.level, AREAS.geom).where(
            AREAS.version_id == version, AREAS.code.in_(codes)
        )
    )
    for code, name, level, geom in rows:
        shape = shapely.geometry.mapping(shapely.set_precision(geom, 1e-6))
        features.append(
            {
                "type": "Feature",
                "geometry": shape,
                "properties": {"key": str(code), "name": str(name), "level": int(level)},
            }
        )
    features.sort(key=lambda f: f["properties"]["level"])
    return {"type": "FeatureCollection", "features": features}
