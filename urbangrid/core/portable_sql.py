"""SQL functions that read the same on PostgreSQL and on SQLite's text timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from urbangrid.domain.daynumbers import day_number

SQLITE_LOCAL_DAY = "urbangrid_local_day"


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


class LocalDay(FunctionElement[int]):
    """The local day of an instant column in a time zone, as days since 1970-01-01 (or NULL).

    Arguments: the column and the zone's name.
    """

    type = Integer()
    inherit_cache = True


@compiles(LocalDay, "postgresql")
def _local_day_pg(element: LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    column, zone = list(element.clauses)
    return (
        f"(CAST(({compiler.process(column, **kw)} AT TIME ZONE "
        f"CAST({compiler.process(zone, **kw)} AS text)) AS date) - DATE '1970-01-01')"
    )


@compiles(LocalDay)
def _local_day_default(element: LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    column, zone = list(element.clauses)
    return f"{SQLITE_LOCAL_DAY}({compiler.process(column, **kw)}, {compiler.process(zone, **kw)})"


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def sqlite_local_day(value: str | None, zone: str) -> int | None:
    """SQLite's side of :class:`LocalDay`: SQLite stores instants as UTC text, with no zones.

    >>> sqlite_local_day("2026-03-31 16:00:00.000000", "Asia/Shanghai")
    20544
    >>> sqlite_local_day(None, "Asia/Shanghai") is None
    True
    """
    if value is None:
        return None
    instant = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return day_number(instant, _zone(zone))
