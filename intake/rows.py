"""A report as database rows: the new case, its first event, its idempotency key and its photos,
written in one transaction; and a case read back as the answer to a retry."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

import shapely
from sqlalchemy import Connection, Table, insert, select
from sqlmodel import col

from intake.duplicates import find_duplicate
from intake.location import Placed, address_match
from intake.submission import Accepted, Submission
from intake.uploads import Upload
from urbangrid.core.columns import utcnow
from urbangrid.core.settings import Settings
from urbangrid.core.storage import object_key
from urbangrid.core.tables import Case, CaseEvent, IdempotencyKey, Photo
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role

# The statements of the submit path, built once: building them per request cost more CPU than
# the database work itself. Core tables, so the ORM's bookkeeping stays out of the hot path.
_CASES: Table = Case.__table__  # type: ignore[attr-defined]
_INSERT_CASE = insert(_CASES).returning(_CASES.c.id)
_INSERT_EVENT = insert(CaseEvent.__table__).returning(CaseEvent.__table__.c.id)  # type: ignore[attr-defined]
_INSERT_KEY = insert(IdempotencyKey.__table__)  # type: ignore[attr-defined]
_INSERT_PHOTO = insert(Photo.__table__).returning(Photo.__table__.c.id)  # type: ignore[attr-defined]


def insert_report(
    conn: Connection, sub: Submission, placed: Placed, print_: str, settings: Settings
) -> Accepted:
    """Store a report: its case (joining an open case it duplicates), its first event, its
    idempotency key and its photo rows, in the caller's transaction."""
    now = utcnow()
    parent = find_duplicate(
        conn,
        sub.category,
        placed.wgs_lat,
        placed.wgs_lon,
        radius_m=settings.duplicate_radius_m,
        window_h=settings.duplicate_window_h,
        now=now,
    )
    token = secrets.token_urlsafe(24)
    row = case_row(sub, placed, token, now)
    row["location"] = shapely.Point(placed.wgs_lon, placed.wgs_lat)
    row["duplicate_of"] = parent
    case_id = _new_id(conn.execute(_INSERT_CASE, row).scalar_one())
    event = event_row(sub, placed)
    event_id = _new_id(
        conn.execute(
            _INSERT_EVENT,
            {
                "case_id": case_id,
                "at": now,
                "action": "submit",
                "from_state": None,
                "to_state": CaseState.REPORTED.value,
                "role": Role.CITIZEN.value,
                **event,
            },
        ).scalar_one()
    )
    if sub.idempotency_key:
        conn.execute(
            _INSERT_KEY,
            {
                "client_id": sub.key_scope,
                "key": sub.idempotency_key,
                "fingerprint": print_,
                "case_id": case_id,
                "created_at": now,
            },
        )
    photo_ids = store_photo_rows(
        conn, case_id=case_id, event_id=event_id, uploads=sub.uploads, now=now
    )
    return Accepted(case_id, token, CaseState.REPORTED, now, parent, photo_ids)


def case_row(sub: Submission, placed: Placed, token: str, now: datetime) -> dict[str, Any]:
    """The new case's columns, the same on both paths."""
    return {
        "tracking_token": token,
        "category_code": sub.category,
        "description": sub.description,
        "input_crs": placed.crs,
        "input_lat": placed.lat,
        "input_lon": placed.lon,
        "lat": placed.wgs_lat,
        "lon": placed.wgs_lon,
        "state": CaseState.REPORTED.value,
        "created_at": now,
        "updated_at": now,
        "channel": sub.channel,
        "client_id": sub.client_id,
        "contact": sub.contact,
        "address": sub.address,
        "media_url": sub.media_url,
    }


def event_row(sub: Submission, placed: Placed) -> dict[str, Any]:
    """The ``submit`` event's own columns, the same on both paths; a report located by its
    address keeps the match and its score here."""
    detail: dict[str, Any] = {"channel": sub.channel, "photos": len(sub.uploads)}
    if placed.match is not None:
        detail["address_match"] = address_match(placed.match)
    return {
        "actor": sub.actor,
        "note": sub.description[:200],
        "detail": json.dumps(detail, ensure_ascii=False),
    }


def store_photo_rows(
    conn: Connection,
    *,
    case_id: int,
    event_id: int | None,
    uploads: tuple[Upload, ...],
    now: datetime,
    kind: str = "before",
) -> tuple[int, ...]:
    """One pending photo row per upload; the media worker makes the stored copies."""
    ids = []
    for upload in uploads:
        gps = upload.info.gps
        values = {
            "case_id": case_id,
            "event_id": event_id,
            "kind": kind,
            "state": "pending",
            "raw_key": object_key("incoming", upload.sha256),
            "raw_sha256": upload.sha256,
            "raw_format": upload.info.format,
            "raw_bytes": len(upload.data),
            "gps_lat": gps[0] if gps else None,
            "gps_lon": gps[1] if gps else None,
            "created_at": now,
            "error": "",
            "hidden": False,
        }
        ids.append(_new_id(conn.execute(_INSERT_PHOTO, values).scalar_one()))
    return tuple(ids)


def _new_id(value: int | None) -> int:
    if value is None:
        raise RuntimeError("INSERT … RETURNING gave no id")
    return int(value)


def read_accepted(conn: Connection, case_id: int) -> Accepted:
    row = conn.execute(
        select(
            col(Case.tracking_token),
            col(Case.state),
            col(Case.created_at),
            col(Case.duplicate_of),
        ).where(col(Case.id) == case_id)
    ).one()
    photos = conn.execute(
        select(col(Photo.id)).where(col(Photo.case_id) == case_id).order_by(col(Photo.id))
    ).scalars()
    return Accepted(
        case_id, row[0], row[1], row[2], row[3], tuple(_new_id(p) for p in photos), replayed=True
    )
