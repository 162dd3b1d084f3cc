"""Taking a report in, whichever channel it came by (web page, native API, Open311).

The steps: check the category → place the report (its coordinates, or its photo's GPS) →
refuse a point outside the service area → store the raw photos → look for an open case it
duplicates → in one transaction store the case (with ``duplicate_of`` when it joins one), its
first event, its idempotency key and its photos → after the commit, publish the case to routing
(or, a duplicate, to be voided) and the photos to the media queue.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import shapely
from fastapi import HTTPException
from sqlalchemy import Connection, Engine, Table, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool

from geo.assign import GridIndex
from geo.crs import to_wgs84
from geo.gazetteer import FUZZY_MIN_SCORE, Gazetteer, Match
from intake import idempotency
from intake.duplicates import find_duplicate, nearest, search_area
from intake.errors import FieldError
from intake.pgfast import FastStore, KeyTaken
from intake.publisher import Publisher
from urbangrid.cases.addresses import load_gazetteer, signature
from urbangrid.cases.photos import PhotoInfo
from urbangrid.core.columns import utcnow
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.settings import Settings
from urbangrid.core.storage import Storage, object_key
from urbangrid.core.tables import Case, CaseEvent, Category, IdempotencyKey, Photo
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role

log = logging.getLogger(__name__)

T = TypeVar("T")

# The statements of the submit path, built once: building them per request cost more CPU than
# the database work itself. Core tables, so the ORM's bookkeeping stays out of the hot path.
_CASES: Table = Case.__table__  # type: ignore[attr-defined]
_INSERT_CASE = insert(_CASES).returning(_CASES.c.id)
_INSERT_EVENT = insert(CaseEvent.__table__).returning(CaseEvent.__table__.c.id)  # type: ignore[attr-defined]
_INSERT_KEY = insert(IdempotencyKey.__table__)  # type: ignore[attr-defined]
_INSERT_PHOTO = insert(Photo.__table__).returning(Photo.__table__.c.id)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Upload:
    """A photo as received: its bytes and what :func:`urbangrid.cases.photos.inspect` read."""

    field: str
    data: bytes
    info: PhotoInfo

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Submission:
    category: str
    lat: float | None
    lon: float | None
    crs: str = "wgs84"
    description: str = ""
    contact: str | None = None
    address: str | None = None
    # The address library's id of the place (Open311's address_id).
    address_id: str | None = None
    # The names the client gave the address fields, for refusals that name them.
    address_fields: tuple[str, str] = ("address", "address_id")
    media_url: str | None = None
    channel: str = "api"  # web | api | open311
    actor: str = "citizen"
    client_id: str | None = None  # the Open311 key's name; None for residents' own channels
    idempotency_key: str | None = None
    uploads: tuple[Upload, ...] = ()
    # The address a resident's own channel (web, app) submitted from: their idempotency keys
    # are theirs alone, so another client sending the same key never gets their case.
    requester: str | None = None

    def fingerprint(self) -> str:
        return idempotency.fingerprint(
            {
                "category": self.category,
                "lat": self.lat,
                "lon": self.lon,
                "crs": self.crs,
                "description": self.description,
                "contact": self.contact,
                "address": self.address,
                "address_id": self.address_id,
                "media_url": self.media_url,
                "photos": [upload.sha256 for upload in self.uploads],
            }
        )

    @property
    def key_scope(self) -> str:
        """Whose keys an idempotency key is looked up among: the Open311 client's, or the
        resident's address's."""
        return (self.client_id or f"address:{self.requester or 'unknown'}")[:100]


@dataclass(frozen=True)
class Accepted:
    id: int
    tracking_token: str
    state: str
    created_at: datetime
    duplicate_of: int | None = None
    photo_ids: tuple[int, ...] = ()
    replayed: bool = False


# Grid indexes already frozen out of the collector in this process (by identity).
_FROZEN: set[int] = set()


@dataclass
class _Reference:
    """What every report is checked against, held in memory and re-read every few seconds."""

    categories: dict[str, bool] = field(default_factory=dict)  # code → still offered
    limits: dict[str, str] = field(default_factory=dict)  # code → time limit
    grid: GridIndex | None = None
    grid_error: str = ""
    gazetteer: Gazetteer = field(default_factory=Gazetteer)
    gazetteer_signature: tuple[int, str] = (0, "")
    read_at: float = float("-inf")


class Intake:
    """The intake steps of one API process, with its engines, grid, storage and broker."""

    REFERENCE_TTL_S = 5.0

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        fast: FastStore | None,
        grid: ActiveGrid,
        storage: Storage,
        publisher: Publisher,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.fast = fast
        self.storage = storage
        self.publisher = publisher
        self._grid = grid
        self._reference = _Reference()
        self._misses: dict[str, float] = {}

    # -- reference data -------------------------------------------------------------------

    def refresh_reference(self) -> None:
        """Re-read categories and the active grid (blocking: call it from a thread)."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(col(Category.code), col(Category.active), col(Category.time_limit))
            ).all()
            categories = {str(code): bool(active) for code, active, _ in rows}
            limits = {str(code): str(limit) for code, _, limit in rows}
            try:
                _, index = self._grid.current(session)
                grid, error = index, ""
            except LookupError as exc:
                grid, error = None, str(exc)
            # The address points are re-read only when an import changed them. A database
            # not yet migrated to hold them still takes reports with coordinates.
            gazetteer, sig = self._reference.gazetteer, self._reference.gazetteer_signature
            try:
                latest = signature(session)
                if latest != sig:
                    gazetteer, sig = load_gazetteer(session), latest
            except SQLAlchemyError as exc:
                log.warning("address list not read: %s", exc)
        if grid is not None and id(grid) not in _FROZEN:
            _FROZEN.add(id(grid))
            # The grid index is hundreds of thousands of long-lived objects; left to the
            # collector, every full collection walks them all (90 ms pauses seen on the demo
            # city). Frozen, they are never scanned again.
            gc.collect()
            gc.freeze()
        self._reference = _Reference(
            categories, limits, grid, error, gazetteer, sig, time.monotonic()
        )

    def _look_up_category(self, code: str) -> bool | None:
        now = time.monotonic()
        if now - self._misses.get(code, float("-inf")) < self.REFERENCE_TTL_S:
            return None
        with Session(self.engine) as session:
            row = session.get(Category, code)
        if row is None:
            if len(self._misses) > 10_000:
                self._misses.clear()
            self._misses[code] = now
            return None
        self._reference.categories[code] = row.active
        self._reference.limits[code] = row.time_limit
        return row.active

    def time_limit(self, category: str) -> str | None:
        return self._reference.limits.get(category)

    async def reference(self) -> _Reference:
        if time.monotonic() - self._reference.read_at > self.REFERENCE_TTL_S:
            await run_in_threadpool(self.refresh_reference)
        return self._reference

    # -- the steps ------------------------------------------------------------------------

    async def submit(self, sub: Submission) -> Accepted:
        """Check, place and store one report; raises :class:`FieldError` naming the field."""
        reference = await self.reference()
        active = reference.categories.get(sub.category)
        if active is None:
            # Perhaps loaded a moment ago: look it up once (an unknown code stays unknown for
            # a while, so repeating it costs the database nothing).
            active = await run_in_threadpool(self._look_up_category, sub.category)
        if active is None:
            raise FieldError("category", f"unknown category {sub.category!r}")
        if not active:
            raise FieldError("category", f"category {sub.category} is no longer offered")
        lat, lon, crs, match = locate(sub, reference.gazetteer)
        if reference.grid is None:
            raise HTTPException(503, reference.grid_error or "no active grid")
        x, y = to_wgs84(np.array([lon]), np.array([lat]), crs)
        wgs_lon, wgs_lat = float(x[0]), float(y[0])
        if not reference.grid.covers(wgs_lon, wgs_lat):
            raise FieldError(
                "lat",
                f"({lat}, {lon}) in {crs} is outside the service area",
                kind="outside_service_area",
            )
        # Only a keyed report is ever compared with an earlier one (a retry, or a key reused).
        print_ = sub.fingerprint() if sub.idempotency_key else ""
        if sub.idempotency_key and sub.uploads:
            # Photos are written to storage before the transaction: a retry that is answered
            # from the key need not write them again.
            earlier = await self._run(idempotency.find, sub.key_scope, sub.idempotency_key)
            if earlier is not None:
                return await self._replay(sub, earlier, print_)
        if sub.uploads:
            await run_in_threadpool(self.store_raw, sub.uploads)
        placed = _Placed(lat, lon, crs, wgs_lat, wgs_lon, match)
        if self.fast is not None and not sub.uploads:
            return await self._fast(sub, placed, print_)
        try:
            return await self._run(self._store, sub, placed, print_)
        except IntegrityError:
            if not sub.idempotency_key:
                raise
            earlier = await self._run(idempotency.find, sub.key_scope, sub.idempotency_key)
            if earlier is None:
                raise
            return await self._replay(sub, earlier, print_)

    def publish(self, accepted: Accepted) -> None:
        """After the commit: route a new case and process its photos (never waits)."""
        if accepted.replayed:
            return
        if accepted.duplicate_of is None:
            self.publisher.route(accepted.id)
        else:
            self.publisher.link(accepted.id)
        self.publish_photos(accepted.photo_ids)

    def publish_photos(self, photo_ids: tuple[int, ...]) -> None:
        for photo_id in photo_ids:
            self.publisher.photo(photo_id)

    # -- helpers --------------------------------------------------------------------------

    async def _fast(self, sub: Submission, placed: _Placed, print_: str) -> Accepted:
        """PostgreSQL's path for a report without photos: one statement, three when an open
        case of the category is near."""
        assert self.fast is not None
        now = utcnow()
        token = secrets.token_urlsafe(24)
        values = {
            **_case_row(sub, placed, token, now),
            **_event_row(sub, placed),
            "key_scope": sub.key_scope,
            "key": sub.idempotency_key,
            "fingerprint": print_,
            "duplicate_of": None,
            **self._area(placed, now),
        }
        try:
            case_id = await self.fast.insert(values)
            parent = None
            if case_id is None:  # an open case of the category is in the box: measure exactly
                rows = await self.fast.candidates(values)
                parent = nearest(
                    rows,
                    lat=placed.wgs_lat,
                    lon=placed.wgs_lon,
                    radius_m=self.settings.duplicate_radius_m,
                )
                values.update(duplicate_of=parent, **_NO_AREA)
                case_id = await self.fast.insert(values)
                assert case_id is not None
        except KeyTaken:
            earlier = await self._run(idempotency.find, sub.key_scope, sub.idempotency_key)
            if earlier is None:
                raise
            return await self._replay(sub, earlier, print_)
        return Accepted(case_id, token, CaseState.REPORTED, now, parent)

    async def _run(self, step: Callable[..., T], *args: Any) -> T:
        """Run ``step(connection, *args)`` in one transaction, in a worker thread."""

        def in_thread() -> T:
            with self.engine.begin() as conn:
                return step(conn, *args)

        return await run_in_threadpool(in_thread)

    async def _replay(self, sub: Submission, earlier: tuple[int, str], print_: str) -> Accepted:
        case_id, earlier_print = earlier
        if earlier_print != print_:
            raise FieldError(
                idempotency.HEADER if sub.channel != "open311" else "device_id",
                "was already used for a different report",
                kind="idempotency_key_reused",
                where="header" if sub.channel != "open311" else "body",
            )
        return await self._run(_read_accepted, case_id)

    def _area(self, placed: _Placed, now: datetime) -> dict[str, Any]:
        return search_area(
            placed.wgs_lat,
            placed.wgs_lon,
            radius_m=self.settings.duplicate_radius_m,
            window_h=self.settings.duplicate_window_h,
            now=now,
        )

    def store_raw(self, uploads: tuple[Upload, ...]) -> None:
        """Keep the raw uploads (blocking; from a thread) until the media worker has run."""
        for upload in uploads:
            key = object_key("incoming", upload.sha256)
            if not self.storage.exists(key):
                self.storage.put(key, upload.data, f"image/{upload.info.format}")

    def _store(self, conn: Connection, sub: Submission, placed: _Placed, print_: str) -> Accepted:
        now = utcnow()
        parent = find_duplicate(
            conn,
            sub.category,
            placed.wgs_lat,
            placed.wgs_lon,
            radius_m=self.settings.duplicate_radius_m,
            window_h=self.settings.duplicate_window_h,
            now=now,
        )
        token = secrets.token_urlsafe(24)
        row = _case_row(sub, placed, token, now)
        row["location"] = shapely.Point(placed.wgs_lon, placed.wgs_lat)
        row["duplicate_of"] = parent
        case_id = _new_id(conn.execute(_INSERT_CASE, row).scalar_one())
        event = _event_row(sub, placed)
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


def _case_row(sub: Submission, placed: _Placed, token: str, now: datetime) -> dict[str, Any]:
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


def _event_row(sub: Submission, placed: _Placed) -> dict[str, Any]:
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


def address_match(match: Match) -> dict[str, Any]:
    """What a report located by address records of the gazetteer's answer."""
    return {
        "address_id": match.point.ref,
        "address": match.point.address,
        "score": round(match.score, 1),
        "method": match.method,
    }


# An empty box: the fast statement then finds nothing near and inserts.
_NO_AREA = {"min_lat": 1.0, "max_lat": 0.0, "min_lon": 1.0, "max_lon": 0.0}


@dataclass(frozen=True)
class _Placed:
    lat: float  # as given, in ``crs``
    lon: float
    crs: str
    wgs_lat: float
    wgs_lon: float
    match: Match | None = None


def locate(sub: Submission, gazetteer: Gazetteer) -> tuple[float, float, str, Match | None]:
    """The report's (lat, lon, crs, match): as given; else the first photo's EXIF GPS (WGS84);
    else the point of its address in the gazetteer (by the library's id, then by the words)."""
    if sub.lat is not None and sub.lon is not None:
        return sub.lat, sub.lon, sub.crs, None
    if (sub.lat is None) != (sub.lon is None):
        missing = "lon" if sub.lon is None else "lat"
        raise FieldError(missing, "give both lat and lon, or neither and a photo with GPS")
    for upload in sub.uploads:
        if upload.info.gps is not None:
            lat, lon = upload.info.gps
            return lat, lon, "wgs84", None
    text_field, id_field = sub.address_fields
    if sub.address_id:
        point = gazetteer.by_ref.get(sub.address_id)
        if point is None:
            raise FieldError(id_field, f"{sub.address_id!r} is not in the city's address list")
        return point.lat, point.lon, "wgs84", Match(point, 100.0, "address_id")
    if sub.address:
        if not len(gazetteer):
            raise FieldError(
                text_field,
                "this city has loaded no address list: give lat and lon",
                kind="not_found",
            )
        match = gazetteer.find(sub.address)
        if match is None:
            raise FieldError(
                text_field,
                f"{sub.address!r} matches no single address of the city's list (a fuzzy "
                f"match needs a score of {FUZZY_MIN_SCORE:g} and the same house numbers; "
                "without a district, the address must be in one district only): "
                "check it, or give the location's coordinates",
                kind="not_found",
            )
        return match.point.lat, match.point.lon, "wgs84", match
    raise FieldError(
        "lat",
        "location missing: give lat and lon, an address, or a photo that carries its GPS position",
        kind="missing",
    )


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


def _read_accepted(conn: Connection, case_id: int) -> Accepted:
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
