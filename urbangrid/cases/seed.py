"""Reference data: the category taxonomy, departments, routing rules, and the demo city.

``urbangrid demo seed`` lays down a deterministic synthetic city around Shanghai's centre so
that ``make run`` shows the whole pipeline on a laptop with nothing else set up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from urbangrid.core.tables import Category, Department, GridVersion, MajorClass, RoutingRule
from urbangrid.domain.taxonomy import Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from geo.layer import Grid

DEMO_LABEL = "demo city"
STREET_OFFICE = "street_office"


def street_office_code(l2_code: str) -> str:
    return f"so-{l2_code}"


def upsert_taxonomy(session: Session, taxonomy: Taxonomy) -> int:
    """Insert or update every category of ``taxonomy``; existing cases keep their codes."""
    for spec in taxonomy.categories:
        values: dict[str, Any] = {
            "name_zh": spec.name_zh,
            "name_en": spec.name_en,
            "family": spec.family,
            "major": spec.major,
            "minor": spec.minor,
            "department_kind": spec.department_kind,
            "time_limit": spec.time_limit,
            "needs_verification": spec.needs_verification,
            "active": True,
            "file_limit": spec.file_limit,
            "dispatch_limit": spec.dispatch_limit,
            "check_limit": spec.check_limit,
            "case_limit": spec.case_limit,
            "auto_dispatch": spec.auto_dispatch,
        }
        row = session.get(Category, spec.code)
        if row is None:
            session.add(Category(code=spec.code, **values))
        else:
            row.sqlmodel_update(values)
            session.add(row)
    for major in taxonomy.major_classes:
        existing = session.get(MajorClass, (major.family, major.major))
        names = {"name_zh": major.name_zh, "name_en": major.name_en}
        if existing is None:
            session.add(MajorClass(family=major.family, major=major.major, **names))
        else:
            existing.sqlmodel_update(names)
            session.add(existing)
    session.flush()
    return len(taxonomy.categories)


def retire_missing_categories(session: Session, taxonomy: Taxonomy) -> list[str]:
    """Retire the active categories ``taxonomy`` no longer lists; cases keep their codes."""
    keep = [spec.code for spec in taxonomy.categories]
    retired = list(
        session.exec(
            select(Category.code)
            .where(col(Category.active).is_(True))
            .where(col(Category.code).not_in(keep))
            .order_by(col(Category.code))
        )
    )
    if retired:
        session.execute(
            update(Category).where(col(Category.code).in_(retired)).values(active=False)
        )
    session.flush()
    return retired


def upsert_department(
    session: Session,
    code: str,
    name: str,
    kind: str,
    grid_code: str | None = None,
    *,
    name_en: str | None = None,
) -> None:
    """Insert or update a department; ``name_en`` None keeps the English name it has."""
    row = session.get(Department, code) or Department(code=code, name=name, kind=kind)
    row.name, row.kind, row.grid_code = name, kind, grid_code
    if name_en is not None:
        row.name_en = name_en or None
    session.add(row)


def english_office_name(area: str, office: str) -> str:
    """An area's office in English, after the area's English name when it has one.

    >>> english_office_name("梅桥街道", "Office"), english_office_name("外滩", "Office")
    ('Meiqiao Subdistrict Office', '')
    """
    from geo.demo import english_name

    english = english_name(area)
    return f"{english} {office}" if english else ""


def create_street_offices(session: Session, streets: Iterable[tuple[str, str]]) -> int:
    """A street office for each (level-2 code, name): the department the 属地 rule falls back to.

    Named after the street ("<name>办事处"); an office already there keeps its code and is renamed
    to match, so importing the same streets twice creates nothing twice. Flushed, not committed.
    Returns how many offices the streets have.
    """
    count = 0
    for code, name in streets:
        upsert_department(
            session,
            street_office_code(code),
            f"{name}办事处",
            STREET_OFFICE,
            code,
            name_en=english_office_name(name, "Office"),
        )
        count += 1
    session.flush()
    return count


def seed_departments_and_rules(
    session: Session,
    taxonomy: Taxonomy,
    *,
    streets: Iterable[tuple[str, str]],
    districts: Iterable[tuple[str, str]],
) -> None:
    """A city department per kind, a street office per street, and district sanitation bureaus.

    Rules: each category goes city-wide to the department of its kind, sanitation categories
    go to the district's own bureau (a more specific scope, so it wins), and categories whose
    kind is the street office get no rule: the locality answers for them by default.
    """
    for kind, names in taxonomy.department_kinds.items():
        if kind != STREET_OFFICE:
            upsert_department(session, kind, names["zh"], kind, name_en=names["en"])
    create_street_offices(session, streets)
    district_list = list(districts)
    for code, name in district_list:
        upsert_department(
            session,
            f"sanitation-{code}",
            f"{name}绿化市容局",
            "sanitation",
            None,
            name_en=english_office_name(name, "Landscaping and City Appearance Bureau"),
        )
    session.flush()
    session.execute(delete(RoutingRule))
    for spec in taxonomy.categories:
        if spec.department_kind == STREET_OFFICE:
            continue
        session.add(
            RoutingRule(
                category_code=spec.code, scope_code="", department_code=spec.department_kind
            )
        )
        if spec.department_kind == "sanitation":
            for code, _ in district_list:
                session.add(
                    RoutingRule(
                        category_code=spec.code,
                        scope_code=code,
                        department_code=f"sanitation-{code}",
                    )
                )
    session.flush()


def seed_reference(session: Session, grid: Grid) -> Taxonomy:
    """The starter taxonomy, and the departments and routing rules of ``grid``'s districts and
    streets: what a city's database holds besides its grid."""
    taxonomy = load_taxonomy()
    upsert_taxonomy(session, taxonomy)
    seed_departments_and_rules(
        session,
        taxonomy,
        streets=zip(grid[2].codes, grid[2].names, strict=True),
        districts=zip(grid[1].codes, grid[1].names, strict=True),
    )
    return taxonomy


def seed_city(session: Session, grid: Grid, *, label: str = DEMO_LABEL) -> tuple[int, Taxonomy]:
    """:func:`seed_reference`, then ``grid`` saved as a new grid version (committed); returns
    the version's id and the taxonomy."""
    from urbangrid.core.grids import save_grid  # geometry libraries only for those who seed a grid

    taxonomy = seed_reference(session, grid)
    return save_grid(session, grid, label=label), taxonomy


def demo_is_seeded(session: Session) -> bool:
    return (
        session.exec(select(GridVersion).where(GridVersion.label == DEMO_LABEL)).first() is not None
    )
