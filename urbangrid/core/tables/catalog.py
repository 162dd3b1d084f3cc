"""Reference data: departments, categories and routing rules."""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class Department(SQLModel, table=True):
    """A body that handles cases: a professional department or a street/town office."""

    __tablename__ = "department"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=64, index=True)
    # For a street/town office: the level-2 grid code it answers for (属地管理).
    grid_code: str | None = Field(default=None, max_length=32, index=True)
    # The name English readers see; without one they see ``name``.
    name_en: str | None = Field(default=None, max_length=200)

    def named(self, lang: str) -> str:
        """The department's name in ``lang`` ("zh" or "en"), the Chinese one when no other."""
        return department_name(self.name, self.name_en, lang)


def department_name(name: str, name_en: str | None, lang: str) -> str:
    """A department's name in ``lang``: the English one for "en" when it has one.

    >>> department_name("环卫", "Sanitation", "en"), department_name("环卫", None, "en")
    ('Sanitation', '环卫')
    >>> department_name("环卫", "Sanitation", "zh")
    '环卫'
    """
    return name_en if lang == "en" and name_en else name


class Category(SQLModel, table=True):
    """A minor class of the taxonomy (部件/事件), with its time limit."""

    __tablename__ = "category"

    code: str = Field(primary_key=True, max_length=16)
    name_zh: str = Field(max_length=100)
    name_en: str = Field(max_length=100)
    family: str = Field(max_length=16)  # component | event
    major: str = Field(max_length=2)
    minor: str = Field(max_length=2)
    department_kind: str = Field(max_length=64)
    time_limit: str = Field(max_length=16)  # e.g. 4wh, 2wd, 6h, 90min
    needs_verification: bool = False
    # A category left out of a newly loaded taxonomy is retired: old cases keep it, residents
    # can no longer choose it.
    active: bool = True
    # The other stages' limits, and the whole case's: "" chains the four stage limits.
    file_limit: str = Field(default="1wh", max_length=16)
    dispatch_limit: str = Field(default="1wh", max_length=16)
    check_limit: str = Field(default="1wd", max_length=16)
    case_limit: str = Field(default="", max_length=64)
    # Whether the router may dispatch by rule without a dispatcher (recorded as the rule's act).
    auto_dispatch: bool = True


class RoutingRule(SQLModel, table=True):
    """Category × grid scope → department; the most specific scope wins (docs/domain.md §3)."""

    __tablename__ = "routing_rule"
    __table_args__ = (Index("ix_routing_rule_category", "category_code"),)

    id: int | None = Field(default=None, primary_key=True)
    category_code: str = Field(foreign_key="category.code")
    # A grid code prefix: "" is city-wide, a 6-digit code a district, ... a 15-digit code a cell.
    scope_code: str = Field(default="", max_length=32)
    department_code: str = Field(foreign_key="department.code")
    priority: int = 0


class ReferenceVersion(SQLModel, table=True):
    """A counter that every change to the reference data moves (database triggers).

    Workers keep categories, rules, departments and the calendar in memory, and read this one
    row per batch to know when to read them again: a rule loaded by staff counts from the next
    batch, in every process, without a restart.
    """

    __tablename__ = "reference_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
