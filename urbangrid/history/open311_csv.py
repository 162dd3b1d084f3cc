"""A city's past cases from an Open311-style CSV export, so it starts with its history.

A mapping file (YAML) names the export's columns, its time zone and date format, which final
statuses count as closed, and how agencies and request types become departments and categories.
Each closed row becomes a CLOSED case with the steps of the closed loop at the times the export
knows (reported, filed and dispatched when created; handled, checked and closed when closed),
its due date as the deadline; rows still open in the source are left to the live system.
Importing the same file twice adds nothing: each row's tracking token is its source id.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import yaml
from sqlalchemy import select
from sqlmodel import Session, col

from urbangrid.core.tables import Case, Category, Department
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role, apply
from urbangrid.history.records import CaseRecord

BUILT_IN = Path(__file__).resolve().parent.parent / "data"
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
    urbangrid.history.open311_csv.MappingError: mapping: timezone is missing
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


def slug(text: str) -> str:
    """A department code from an agency's name.

    >>> slug("Recreation & Parks"), slug("Mayor's Office")
    ('recreation-parks', 'mayor-s-office')
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "agency"


def loop_events(row: Row, department: str, actor: str) -> list[dict[str, Any]]:
    """The closed loop's steps at the times the export knows, legal by the transition table."""
    at_created = [
        ("submit", Role.CITIZEN, "citizen"),
        ("file", Role.SYSTEM, actor),
        ("dispatch", Role.SYSTEM, actor),
        ("accept", Role.DEPARTMENT, actor),
    ]
    at_closed = [
        ("handle", Role.DEPARTMENT, actor),
        ("check_pass", Role.SUPERVISOR, actor),
        ("close", Role.SHIFT_LEAD, actor),
    ]
    if row.outcome == "void":
        at_created, at_closed = (
            [("submit", Role.CITIZEN, "citizen")],
            [("void", Role.SHIFT_LEAD, actor)],
        )
    events = []
    state: CaseState | None = None
    for steps, at in ((at_created, row.created), (at_closed, row.closed)):
        for action, role, who in steps:
            before = state
            state = apply(before, action, role)
            events.append(
                {
                    "at": at,
                    "action": action,
                    "from_state": before,
                    "to_state": state,
                    "actor": who,
                    "role": role,
                    "note": "",
                    "detail": json.dumps({"imported": actor}),
                    "department_code": None if action in ("submit", "file", "void") else department,
                }
            )
    return events


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


def import_rows(
    session: Session,
    rows: list[Row],
    mapping: ImportMapping,
    report: ImportReport,
    *,
    grid: Any | None = None,
    batch: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write the rows as cases, with their departments and categories, a batch per commit;
    ``progress`` is told how many rows each batch took."""
    for start in range(0, len(rows), batch):
        _import_batch(session, rows[start : start + batch], mapping, report, grid)
        if progress is not None:
            progress(len(rows[start : start + batch]))
    return report


def _import_batch(
    session: Session,
    rows: list[Row],
    mapping: ImportMapping,
    report: ImportReport,
    grid: Any | None,
) -> None:
    from urbangrid.history.store import insert_cases, next_case_id

    tokens = {f"{mapping.source}:{row.source_id}"[:64]: row for row in rows}
    known = set(
        session.execute(
            select(col(Case.tracking_token)).where(col(Case.tracking_token).in_(list(tokens)))
        ).scalars()
    )
    report.already += len(known)
    fresh = [row for token, row in tokens.items() if token not in known]
    departments = _departments(session, fresh, mapping, report)
    categories = _categories(session, fresh, mapping, report, departments)
    codes = _locate(session, fresh, grid)
    actor = f"import:{mapping.source}"
    connection = session.connection()
    first = next_case_id(connection)
    cases = []
    for number, row in enumerate(fresh):
        department = departments[row.agency]
        l1, l2, l3, l4 = codes[number]
        state = CaseState.CLOSED if row.outcome == "closed" else CaseState.VOID
        closed = row.outcome == "closed"
        case = {
            "id": first + number,
            "tracking_token": f"{mapping.source}:{row.source_id}"[:64],
            "category_code": categories[row.kind],
            "description": " · ".join(x for x in (row.kind, row.address) if x)[:4000],
            "input_crs": "wgs84",
            "input_lat": row.lat,
            "input_lon": row.lon,
            "lat": row.lat,
            "lon": row.lon,
            "state": state,
            "grid_version_id": None,
            "l1_code": l1,
            "l2_code": l2,
            "l3_code": l3,
            "l4_code": l4,
            "department_code": department if closed else None,
            "routing_rule_id": None,
            "created_at": row.created,
            "updated_at": row.closed,
            "deadline_at": row.due if closed else None,
            "routed_at": row.created,
            "published_at": None,
            "publish_attempts": 0,
            "filed_at": row.created if closed else None,
            "dispatched_at": row.created if closed else None,
            "handled_at": row.closed if closed else None,
            "closed_at": row.closed if closed else None,
            "rework_count": 0,
            "return_count": 0,
            "extension_count": 0,
            "reopen_count": 0,
            "escalation_level": 0,
            # The export's due date is the whole case's deadline, and the handling deadline
            # too: it knows no stages.
            "stage": None,
            "stage_deadline_at": None,
            "case_deadline_at": row.due if closed else None,
            "escalated_to": None,
            "flag": None,
            "pending_request": None,
            # Intake's columns (migration 0003_intake): the channel, and no contact or link.
            "channel": "open311",
            "client_id": None,
            "contact": None,
            "address": None,
            "media_url": None,
            "duplicate_of": None,
        }
        events = [{**event, "case_id": case["id"]} for event in loop_events(row, department, actor)]
        cases.append(CaseRecord(case, events))
    written, _ = insert_cases(connection, cases, grid_version_id=codes.version)
    report.imported += written
    session.commit()


def _departments(
    session: Session, rows: Iterable[Row], mapping: ImportMapping, report: ImportReport
) -> dict[str, str]:
    found: dict[str, str] = {}
    for agency in sorted({row.agency for row in rows}):
        code = mapping.departments.get(agency) or f"{mapping.department_prefix}{slug(agency)}"
        code = code[:64]
        if session.get(Department, code) is None:
            session.add(Department(code=code, name=agency, kind=mapping.department_kind))
            report.departments += 1
        found[agency] = code
    session.flush()
    return found


def _prefix(kind: str) -> str:
    return kind.split("-", 1)[0].strip() or kind


def _categories(
    session: Session,
    rows: list[Row],
    mapping: ImportMapping,
    report: ImportReport,
    departments: Mapping[str, str],
) -> dict[str, str]:
    """Each request type's category: named in the mapping, imported before, or new.

    New ones are numbered B<major><minor>: the major class per type prefix ("SW"), the minor
    per type; numbers already given by earlier imports are kept.
    """
    letter = mapping.category_letter
    existing: dict[str, str] = {}
    majors: dict[str, str] = {}
    minors: Counter[str] = Counter()
    for category in session.execute(
        select(Category).where(col(Category.code).startswith(letter))
    ).scalars():
        if category.family != "imported":
            continue
        existing[category.name_en] = category.code
        majors.setdefault(_prefix(category.name_en), category.major)
        minors[category.major] = max(minors[category.major], int(category.minor))
    spans: dict[str, list[float]] = {}
    agency: dict[str, Counter[str]] = {}
    for row in rows:
        if row.due is not None:
            spans.setdefault(row.kind, []).append((row.due - row.created).total_seconds() / 3600)
        agency.setdefault(row.kind, Counter())[row.agency] += 1
    found: dict[str, str] = {}
    for kind in sorted({row.kind for row in rows}):
        named = mapping.categories.get(kind)
        if named is not None:
            if session.get(Category, named) is None:
                raise MappingError(f"mapping: categories.codes.{kind}: no category {named!r}")
            found[kind] = named
            continue
        if kind in existing:
            found[kind] = existing[kind]
            continue
        prefix = _prefix(kind)
        if prefix not in majors:
            used = {int(m) for m in majors.values()}
            free = next((n for n in range(1, 100) if n not in used), None)
            if free is None:
                raise MappingError(f"more than 99 type prefixes for letter {letter}")
            majors[prefix] = f"{free:02d}"
        major = majors[prefix]
        minors[major] += 1
        if minors[major] > 99:
            raise MappingError(f"more than 99 request types under {prefix!r}")
        code = f"{letter}{major}{minors[major]:02d}"
        hours = median(spans[kind]) if kind in spans else 24.0
        owner = departments[agency[kind].most_common(1)[0][0]]
        session.add(
            Category(
                code=code,
                name_zh=kind[:100],
                name_en=kind[:100],
                family="imported",
                major=major,
                minor=f"{minors[major]:02d}",
                department_kind=owner[:64],
                # The limit the history shows (median due − created), in natural hours.
                time_limit=f"{max(1, round(hours))}h",
            )
        )
        existing[kind] = found[kind] = code
        report.categories += 1
    session.flush()
    return found


class _Codes(list[tuple[str | None, str | None, str | None, str | None]]):
    version: int | None = None


def _locate(session: Session, rows: list[Row], grid: Any | None) -> _Codes:
    """Each row's four grid codes in the active grid, or none when it lies outside it."""
    codes = _Codes([(None, None, None, None)] * len(rows))
    if grid is None or not rows:
        return codes
    try:
        version, index = grid.current(session)
    except LookupError:
        return codes
    found = index.assign(np.array([r.lon for r in rows]), np.array([r.lat for r in rows]))
    codes.version = version
    for i in range(len(rows)):
        if bool(found.inside[i]):
            level_codes = [
                str(found.codes[level][i]) or None if level in found.codes else None
                for level in (1, 2, 3, 4)
            ]
            codes[i] = (level_codes[0], level_codes[1], level_codes[2], level_codes[3])
    return codes
