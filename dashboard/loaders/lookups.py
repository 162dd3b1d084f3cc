"""Codes and their names: what the filters offer, an area's cells and parent, and codes in words
for the pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from dashboard.loaders.figures import active_version
from urbangrid.core.tables.catalog import department_name
from urbangrid.evaluation.report import major_names
from urbangrid.evaluation.scope import AREAS, CATEGORIES, DEPARTMENTS


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
    version = active_version(session)
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
    version = active_version(session)
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
