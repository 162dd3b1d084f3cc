"""Names of the taxonomy's major classes (大类), for grouping categories."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class MajorClass(SQLModel, table=True):
    """A major class of one family, e.g. event 01 市容环境 City appearance."""

    __tablename__ = "major_class"

    family: str = Field(primary_key=True, max_length=16)  # component | event
    major: str = Field(primary_key=True, max_length=2)
    name_zh: str = Field(max_length=100)
    name_en: str = Field(max_length=100)
