"""The rows of an Open311 CSV export: each usable one read in UTC, the others counted by why."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from urbangrid.history.open311.mapping import (
    ImportMapping,
    MappingError,
    Outcome,
)


@dataclass(frozen=True)
class Row:
    """One usable row of the export, in UTC."""

    source_id: str
    kind: str
    agency: str
    outcome: Outcome
    created: datetime
    due: datetime | None
    closed: datetime
    lat: float
    lon: float
    address: str


def parse_row(raw: Mapping[str, str], mapping: ImportMapping) -> Row | str:
    """The row, or the reason it is skipped.

    >>> from urbangrid.history.open311.mapping import REQUIRED_COLUMNS, parse_mapping
    >>> m = parse_mapping({"source": "x", "timezone": "America/New_York",
    ...     "datetime_format": "%m/%d/%Y %I:%M:%S %p", "columns": {k: k for k in REQUIRED_COLUMNS},
    ...     "statuses": {"Closed": "closed"}, "placeholder_locations": [[39, -77]]})
    >>> raw = {"id": "1", "type": "SW-Dirty Alley", "agency": "Solid Waste", "status": "Closed",
    ...        "created": "04/16/2018 05:30:13 AM", "closed": "04/20/2018 06:25:33 AM",
    ...        "latitude": "39.29", "longitude": "-76.61"}
    >>> parse_row(raw, m).closed.isoformat()
    '2018-04-20T10:25:33+00:00'
    >>> parse_row({**raw, "latitude": "39", "longitude": "-77"}, m)
    'no usable location'
    >>> parse_row({**raw, "status": "Open"}, m)
    'still open in the source'
    """
    columns = mapping.columns

    def value(name: str) -> str:
        column = columns.get(name)
        return (raw.get(column) or "").strip() if column else ""

    outcome = mapping.statuses.get(value("status"))
    if outcome is None:
        return "still open in the source"
    source_id, kind, agency = value("id"), value("type"), value("agency")
    if not source_id or not kind or not agency:
        return "no id, type or agency"
    try:
        lat, lon = float(value("latitude")), float(value("longitude"))
    except ValueError:
        return "no usable location"
    if (
        not (math.isfinite(lat) and math.isfinite(lon))
        or not (-90 <= lat <= 90 and -180 <= lon <= 180)
        or (lat, lon) in mapping.placeholder_locations
    ):
        return "no usable location"
    try:
        created = _instant(value("created"), mapping)
        closed = _instant(value("closed"), mapping)
        due = _instant(value("due"), mapping) if value("due") else None
    except ValueError:
        return "a date the mapping's format does not read"
    if closed < created:
        return "closed before it was created"
    return Row(
        source_id=source_id,
        kind=kind,
        agency=agency,
        outcome=outcome,
        created=created,
        due=due,
        closed=closed,
        lat=lat,
        lon=lon,
        address=value("address"),
    )


def _instant(text: str, mapping: ImportMapping) -> datetime:
    local = datetime.strptime(text, mapping.datetime_format)
    if local.tzinfo is None:
        local = local.replace(tzinfo=mapping.timezone)
    return local.astimezone(UTC)


@dataclass
class ImportReport:
    read: int = 0
    imported: int = 0
    already: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    departments: int = 0
    categories: int = 0

    def lines(self) -> Iterator[str]:
        yield f"read {self.read:,} rows; imported {self.imported:,} cases"
        if self.already:
            yield f"{self.already:,} rows were imported before and are left as they are"
        for reason, count in self.skipped.most_common():
            yield f"skipped {count:,}: {reason}"
        yield f"new departments: {self.departments}, new categories: {self.categories}"


def read_rows(path: Path, mapping: ImportMapping) -> tuple[list[Row], ImportReport]:
    report = ImportReport()
    rows: list[Row] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = set(reader.fieldnames or [])
        # Every column the mapping names must be there, the optional ones too: a misspelt due
        # column would otherwise import every case without its deadline, silently.
        for name, column in mapping.columns.items():
            if column not in header:
                raise MappingError(f"{path.name} has no column {column!r} (columns.{name})")
        for raw in reader:
            report.read += 1
            parsed = parse_row(raw, mapping)
            if isinstance(parsed, str):
                report.skipped[parsed] += 1
            else:
                rows.append(parsed)
    return rows, report
