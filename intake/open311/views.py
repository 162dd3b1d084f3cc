"""Cases and categories as Open311 objects: plain dicts, rendered to XML or JSON by ``render``.

Contact details never appear here: an Open311 request is public.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from urbangrid.cases.public import photo_url, public_photos, public_url_digest
from urbangrid.core.tables import Case, CaseEvent, Category, Department, GridArea, MajorClass, Photo
from urbangrid.domain.public import TRANSFERS, detail_dict, public_step, public_timeline
from urbangrid.domain.residents import describe_limit, open311_status, status_text
from urbangrid.domain.states import OPEN_STATES

CRS_ATTRIBUTE = "crs"


def service(category: Category, major: MajorClass | None, lang: str) -> dict[str, Any]:
    name = category.name_en if lang == "en" else category.name_zh
    group = (major.name_en if lang == "en" else major.name_zh) if major else category.major
    return {
        "service_code": category.code,
        "service_name": name,
        "description": f"{name} ({category.name_zh} / {category.name_en}); "
        + describe_limit(category.time_limit, lang),
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join([category.name_zh, category.name_en, category.code]),
        "group": group,
    }


def service_definition(category: Category, lang: str) -> dict[str, Any]:
    """The attributes a client may send: the coordinate system of lat/long, and (information
    only) the time limit the city answers within."""
    en = lang == "en"
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": CRS_ATTRIBUTE,
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "Coordinate system of lat/long" if en else "经纬度坐标系",
                "order": 1,
                "description": (
                    "wgs84 (GPS, the default), gcj02 (Amap, Tencent) or bd09 (Baidu)"
                    if en
                    else "wgs84（GPS，默认）、gcj02（高德、腾讯）或 bd09（百度）"
                ),
                "values": [
                    {"key": "wgs84", "name": "WGS84 (GPS)"},
                    {"key": "gcj02", "name": "GCJ-02 (Amap, Tencent)"},
                    {"key": "bd09", "name": "BD-09 (Baidu)"},
                ],
            },
            {
                "variable": False,
                "code": "time_limit",
                "datatype": "string",
                "required": False,
                "datatype_description": None,
                "order": 2,
                "description": describe_limit(category.time_limit, lang),
            },
        ],
    }


@dataclass(frozen=True)
class Context:
    """Everything a page of requests needs besides the cases, read in a few queries."""

    categories: Mapping[str, Category]
    departments: Mapping[str, str]
    areas: Mapping[tuple[int, str], str]
    photos: Mapping[int, Sequence[Photo]]
    events: Mapping[int, Sequence[CaseEvent]]
    base_url: str
    tz: ZoneInfo
    lang: str
    # The cases that duplicates joined: a duplicate reads as the case it follows.
    parents: Mapping[int, Case] = field(default_factory=dict)
    # When each closed case (and parent) last closed: a later rating is no update for clients.
    closed: Mapping[int, datetime] = field(default_factory=dict)
    # How reports located by address were found in the gazetteer (their submit event's record).
    matches: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


def load_context(
    session: Session,
    cases: Sequence[Case],
    *,
    base_url: str,
    tz: ZoneInfo,
    lang: str,
    extensions: bool,
) -> Context:
    parents = {
        parent.id: parent
        for parent in session.exec(
            select(Case).where(
                col(Case.id).in_({c.duplicate_of for c in cases if c.duplicate_of is not None})
            )
        )
        if parent.id is not None
    }
    closed = _closing_times(session, [*cases, *parents.values()])
    ids = [c.id for c in cases if c.id is not None]
    categories = {c.code: c for c in session.exec(select(Category))}
    departments = {
        d.code: d.named(lang)
        for d in session.exec(
            select(Department).where(
                col(Department.code).in_(
                    {c.department_code for c in [*cases, *parents.values()] if c.department_code}
                )
            )
        )
    }
    wanted: dict[int, set[str]] = {}
    for case in cases:
        if case.grid_version_id is not None:
            levels = (case.l1_code, case.l2_code, case.l3_code, case.l4_code)
            wanted.setdefault(case.grid_version_id, set()).update(c for c in levels if c)
    areas: dict[tuple[int, str], str] = {}
    for version, codes in wanted.items():
        for code, name in session.execute(
            select(col(GridArea.code), col(GridArea.name))
            .where(col(GridArea.version_id) == version)
            .where(col(GridArea.code).in_(codes))
        ):
            areas[(version, code)] = name
    photos = public_photos(session, ids, ready_only=True)
    events: dict[int, list[CaseEvent]] = {}
    if extensions:
        for event in session.exec(
            select(CaseEvent).where(col(CaseEvent.case_id).in_(ids)).order_by(col(CaseEvent.id))
        ):
            events.setdefault(event.case_id, []).append(event)
    matches: dict[int, Mapping[str, Any]] = {}
    for case_id, detail in session.execute(
        select(col(CaseEvent.case_id), col(CaseEvent.detail))
        .where(col(CaseEvent.case_id).in_(ids))
        .where(col(CaseEvent.action) == "submit")
        .where(col(CaseEvent.detail).contains("address_match"))
    ):
        found = detail_dict(detail).get("address_match")
        if isinstance(found, dict):
            matches[case_id] = found
    return Context(
        categories,
        departments,
        areas,
        photos,
        events,
        base_url,
        tz,
        lang,
        parents,
        closed,
        matches,
    )


def _closing_times(session: Session, cases: Sequence[Case]) -> dict[int, datetime]:
    """The time each closed case last moved from an open state to a closed one."""
    shut = [c.id for c in cases if c.id is not None and c.state not in OPEN_STATES]
    if not shut:
        return {}
    found: dict[int, datetime] = {}
    for case_id, at in session.execute(
        select(col(CaseEvent.case_id), col(CaseEvent.at))
        .where(col(CaseEvent.case_id).in_(shut))
        .where(col(CaseEvent.to_state).not_in([str(s) for s in OPEN_STATES]))
        .where(col(CaseEvent.from_state).in_([str(s) for s in OPEN_STATES]))
    ):
        if case_id not in found or at > found[case_id]:
            found[case_id] = at
    return found


def reads_as(case: Case, ctx: Context) -> Case:
    """The case whose state a request shows: a duplicate follows the case it joined (its own
    state is void, which clients would read as fixed)."""
    if case.duplicate_of is not None:
        return ctx.parents.get(case.duplicate_of, case)
    return case


def updated_at(case: Case, ctx: Context) -> datetime:
    """When the request last changed as clients see it: a closed one, when it closed."""
    if case.state in OPEN_STATES:
        return case.updated_at
    return case.closed_at or ctx.closed.get(case.id or 0) or case.updated_at


def request_doc(case: Case, ctx: Context, *, extensions: bool) -> dict[str, Any]:
    """One service request as the standard lists its fields (and the extensions, if asked)."""
    category = ctx.categories.get(case.category_code)
    photos = ctx.photos.get(case.id or 0, [])
    before = [p for p in photos if p.kind == "before"]
    first = public_url_digest(before[0]) if before else None
    media = photo_url(first, base=ctx.base_url) if first else None
    shown = reads_as(case, ctx)
    match = ctx.matches.get(case.id or 0)
    doc: dict[str, Any] = {
        "service_request_id": str(case.id),
        "status": open311_status(shown.state),
        "status_notes": _status_notes(case, ctx),
        "service_name": (
            (category.name_en if ctx.lang == "en" else category.name_zh)
            if category
            else case.category_code
        ),
        "service_code": case.category_code,
        "description": case.description,
        "agency_responsible": ctx.departments.get(shown.department_code or ""),
        "service_notice": describe_limit(category.time_limit, ctx.lang) if category else None,
        "requested_datetime": _local(case.created_at, ctx.tz),
        "updated_datetime": _local(updated_at(shown, ctx), ctx.tz),
        "expected_datetime": _local(shown.deadline_at, ctx.tz),
        "address": case.address or _grid_address(case, ctx),
        "address_id": match["address_id"] if match else case.l4_code,
        "zipcode": None,
        "lat": round(case.lat, 7),
        "long": round(case.lon, 7),
        "media_url": media or case.media_url,
    }
    if case.duplicate_of is not None and not extensions:
        # Chicago's extension: a client that never asks for extensions still learns that the
        # report was joined to another request, and which.
        doc["extended_attributes"] = {
            "duplicate": True,
            "parent_service_request_id": str(case.duplicate_of),
        }
    if extensions:
        doc["extended_attributes"] = {
            "detailed_status": shown.state,
            "grid": {
                "district": case.l1_code,
                "street": case.l2_code,
                "community": case.l3_code,
                "cell": case.l4_code,
            },
            "photos": [
                {
                    "kind": p.kind,
                    "url": photo_url(digest, base=ctx.base_url),
                    "thumb_url": photo_url(digest, thumb=True, base=ctx.base_url),
                }
                for p in photos
                if (digest := public_url_digest(p))
            ],
            "duplicate": case.duplicate_of is not None,
            "parent_service_request_id": (
                str(case.duplicate_of) if case.duplicate_of is not None else None
            ),
            "address_match": match,
        }
        doc["notes"] = notes(ctx.events.get(case.id or 0, []), ctx)
    return doc


def notes(events: Iterable[CaseEvent], ctx: Context) -> list[dict[str, Any]]:
    """The case's public timeline: state changes and transfers between bodies, with the staff's
    public notes; internal notes and residents' own words (which may hold personal details)
    stay out."""
    found = []
    for step in public_timeline(events):
        summary = step.text(ctx.lang)
        if step.transfer_to:
            summary = f"{summary}: {ctx.departments.get(step.transfer_to, step.transfer_to)}"
        found.append(
            {
                "datetime": _local(step.at, ctx.tz),
                "type": "transfer" if step.transfer_to or step.action in TRANSFERS else "status",
                "status": open311_status(step.state),
                "detailed_status": step.state,
                "summary": summary,
                "description": step.public_note,
            }
        )
    return found


def _status_notes(case: Case, ctx: Context) -> str:
    text = status_text(reads_as(case, ctx).state, ctx.lang)
    if case.duplicate_of is not None:
        joined = "Joined request" if ctx.lang == "en" else "已并入诉求"
        return f"{text}; {joined} {case.duplicate_of}"
    return text


def _grid_address(case: Case, ctx: Context) -> str | None:
    if case.grid_version_id is None:
        return None
    codes = (case.l4_code, case.l3_code, case.l2_code, case.l1_code)  # most specific first
    names = [ctx.areas.get((case.grid_version_id, code), "") for code in codes if code]
    return ", ".join(name for name in names if name) or None


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    return value.astimezone(tz) if value is not None else None


def update_doc(event: CaseEvent, ctx: Context) -> dict[str, Any]:
    """One entry of ``servicerequestupdates``: a state change of a request, with the photo
    taken at that step (a department's after-photo) when there is one."""
    taken = [p for p in ctx.photos.get(event.case_id, []) if p.event_id == event.id and p.digest]
    step = public_step(event)
    words = step.public_note if step else ""
    return {
        "update_id": str(event.id),
        "service_request_id": str(event.case_id),
        "status": open311_status(event.to_state),
        "detailed_status": event.to_state,
        "updated_datetime": _local(event.at, ctx.tz),
        "description": status_text(event.to_state, ctx.lang) + (f": {words}" if words else ""),
        "media_url": photo_url(public_url_digest(taken[0]) or "", base=ctx.base_url)
        if taken
        else None,
    }
