"""The rows of an Open311 CSV export as closed cases, with their departments and categories."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from statistics import median
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlmodel import Session, col

from urbangrid.core.tables import Case, Category, Department
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role, apply
from urbangrid.history.open311.mapping import ImportMapping, MappingError
from urbangrid.history.open311.rows import ImportReport, Row
from urbangrid.history.records import CaseRecord, case_columns


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
        case = case_columns(
            row.lon,
            row.lat,
            id=first + number,
            tracking_token=f"{mapping.source}:{row.source_id}"[:64],
            category_code=categories[row.kind],
            description=" · ".join(x for x in (row.kind, row.address) if x)[:4000],
            state=state,
            l1_code=l1,
            l2_code=l2,
            l3_code=l3,
            l4_code=l4,
            department_code=department if closed else None,
            created_at=row.created,
            updated_at=row.closed,
            deadline_at=row.due if closed else None,
            routed_at=row.created,
            filed_at=row.created if closed else None,
            dispatched_at=row.created if closed else None,
            handled_at=row.closed if closed else None,
            closed_at=row.closed if closed else None,
            # The export's due date is the whole case's deadline, and the handling deadline
            # too: it knows no stages.
            case_deadline_at=row.due if closed else None,
            channel="open311",
        )
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
