"""The mapping file of an Open311 CSV import: the export's columns, time zone and date format,
which final statuses count as closed, and how agencies and request types become departments and
categories."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

BUILT_IN = Path(__file__).resolve().parent.parent.parent / "data"
REQUIRED_COLUMNS = ("id", "type", "agency", "status", "created", "closed", "latitude", "longitude")
OPTIONAL_COLUMNS = ("due", "address")
Outcome = Literal["closed", "void"]


class MappingError(ValueError):
    """The mapping file is wrong; the message names the key."""


@dataclass(frozen=True)
class ImportMapping:
    source: str
    timezone: ZoneInfo
    datetime_format: str
    columns: Mapping[str, str]
    statuses: Mapping[str, Outcome]
    placeholder_locations: frozenset[tuple[float, float]] = frozenset()
    department_prefix: str = "imported-"
    department_kind: str = "imported"
    departments: Mapping[str, str] = field(default_factory=dict)
    category_letter: str = "H"
    categories: Mapping[str, str] = field(default_factory=dict)


def parse_mapping(document: Mapping[str, Any]) -> ImportMapping:
    """Check and read a mapping document; errors name the key at fault.

    >>> m = parse_mapping({"source": "x", "timezone": "UTC", "datetime_format": "%Y-%m-%d %H:%M",
    ...     "columns": {k: k for k in REQUIRED_COLUMNS}, "statuses": {"Closed": "closed"}})
    >>> m.statuses["Closed"], m.category_letter
    ('closed', 'H')
    >>> parse_mapping({"source": "x"})
    Traceback (most recent call last):
    ...
    urbangrid.history.open311.mapping.MappingError: mapping: timezone is missing
    """
    for key in ("source", "timezone", "datetime_format", "columns", "statuses"):
        if key not in document:
            raise MappingError(f"mapping: {key} is missing")
    source = str(document["source"])
    if not re.fullmatch(r"[a-z0-9_-]{1,20}", source):
        raise MappingError(f"mapping: source {source!r} must be 1-20 of a-z, 0-9, _ or -")
    try:
        tz = ZoneInfo(str(document["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"mapping: timezone {document['timezone']!r} is unknown") from None
    columns = {str(k): str(v) for k, v in dict(document["columns"]).items()}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise MappingError(f"mapping: columns.{missing[0]} is missing")
    unknown = sorted(set(columns) - {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS})
    if unknown:
        # A misspelt key (deu for due) would otherwise be ignored, and its facts lost unseen.
        raise MappingError(
            f"mapping: columns.{unknown[0]} is not one of "
            + ", ".join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))
        )
    statuses: dict[str, Outcome] = {}
    for status, outcome in dict(document["statuses"]).items():
        if outcome not in ("closed", "void"):
            raise MappingError(
                f"mapping: statuses.{status} must be closed or void, not {outcome!r}"
            )
        statuses[str(status)] = outcome
    places = frozenset(
        (float(lat), float(lon)) for lat, lon in document.get("placeholder_locations") or []
    )
    departments = dict(document.get("departments") or {})
    categories = dict(document.get("categories") or {})
    letter = str(categories.get("letter", "H"))
    if not re.fullmatch(r"[ABDF-Z]", letter):
        raise MappingError("mapping: categories.letter must be one capital letter other than C/E")
    return ImportMapping(
        source=source,
        timezone=tz,
        datetime_format=str(document["datetime_format"]),
        columns=columns,
        statuses=statuses,
        placeholder_locations=places,
        department_prefix=str(departments.get("prefix", f"{source}-")),
        department_kind=str(departments.get("kind", "imported")),
        departments={str(k): str(v) for k, v in dict(departments.get("codes") or {}).items()},
        category_letter=letter,
        categories={str(k): str(v) for k, v in dict(categories.get("codes") or {}).items()},
    )


def load_mapping(name_or_path: str) -> ImportMapping:
    """A mapping file, or a built-in one by name (``baltimore``)."""
    path = Path(name_or_path)
    if not path.exists():
        built_in = BUILT_IN / f"open311-{name_or_path}.yaml"
        if not built_in.exists():
            raise MappingError(f"mapping {name_or_path!r}: no such file or built-in mapping")
        path = built_in
    with path.open(encoding="utf-8") as handle:
        return parse_mapping(yaml.safe_load(handle) or {})
