"""The categories residents choose from (部件/事件), grouped by major class."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import col, select

from intake.deps import SessionDep
from urbangrid.core.tables import Category, MajorClass

router = APIRouter(prefix="/api/v1/categories", tags=["categories"])


class CategoryPublic(BaseModel):
    """A category on offer, with its time limit and its major class's names."""

    code: str
    name_zh: str
    name_en: str
    family: str
    major: str
    minor: str
    major_name_zh: str
    major_name_en: str
    time_limit: str
    needs_verification: bool


def offered_categories(session: SessionDep) -> list[CategoryPublic]:
    majors = {(m.family, m.major): m for m in session.exec(select(MajorClass))}
    rows = session.exec(
        select(Category).where(col(Category.active).is_(True)).order_by(col(Category.code))
    )
    found = []
    for row in rows:
        major = majors.get((row.family, row.major))
        found.append(
            CategoryPublic(
                code=row.code,
                name_zh=row.name_zh,
                name_en=row.name_en,
                family=row.family,
                major=row.major,
                minor=row.minor,
                major_name_zh=major.name_zh if major else row.major,
                major_name_en=major.name_en if major else row.major,
                time_limit=row.time_limit,
                needs_verification=row.needs_verification,
            )
        )
    return found


@router.get("", response_model=list[CategoryPublic])
def list_categories(session: SessionDep) -> list[CategoryPublic]:
    """Every category residents may report, in code order."""
    return offered_categories(session)
