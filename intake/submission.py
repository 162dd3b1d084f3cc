"""Taking a report in, whichever channel it came by (web page, native API, Open311).

The steps: check the category → place the report (its coordinates, or its photo's GPS) →
refuse a point outside the service area → store the raw photos → in one transaction store the
case, its first event, its idempotency key and its photos, and link it to an open case it
duplicates → after the commit, publish the case to routing and the photos to the media queue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import shapely
from celery import Celery
from geo.assign import GridIndex
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool

from geo.crs import to_wgs84
from geo.store import ActiveGrid
from intake import idempotency
from intake.errors import FieldError
from urbangrid.columns import utcnow
from urbangrid.domain.residents import Nearby, bounding_box, nearest_open_case
from urbangrid.domain.states import OPEN_STATES, CaseState
from urbangrid.domain.workflow import Role
from urbangrid.lifecycle import ConcurrentChange, record
from urbangrid.photos import PhotoInfo
from urbangrid.settings import Settings
from urbangrid.storage import Storage, object_key
from urbangrid.tables import Case, CaseEvent, Category, IdempotencyKey, Photo
from workers.media import publish_photo
from workers.publish import publish_route

log = logging.getLogger(__name__)

T = TypeVar("T")
SYSTEM_ACTOR = "system:intake"


@dataclass(frozen=True)
class Upload:
    """A photo as received: its bytes and what :func:`urbangrid.photos.inspect` read from them."""

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
    media_url: str | None = None
    channel: str = "api"  # web | api | open311
    actor: str = "citizen"
    client_id: str | None = None  # the Open311 key's name; None for residents' own channels
    idempotency_key: str | None = None
    uploads: tuple[Upload, ...] = ()

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
                "media_url": self.media_url,
                "photos": [upload.sha256 for upload in self.uploads],
            }
        )

    @property
    def key_scope(self) -> str:
        return self.client_id or "residents"


@dataclass(frozen=True)
class Accepted:
    id: int
    tracking_token: str
    state: str
    created_at: datetime
    duplicate_of: int | None = None
    photo_ids: tuple[int, ...] = ()
    replayed: bool = False


@dataclass
class _Reference:
    """What every report is checked against, held in memory and re-read every few seconds."""

    categories: dict[str, bool] = field(default_factory=dict)  # code → still offered
    limits: dict[str, str] = field(default_factory=dict)  # code → time limit
    grid: GridIndex | None = None
    grid_error: str = ""
    read_at: float = float("-inf")


class Intake:
    """The intake steps of one API process, with its engines, grid, storage and broker."""

    REFERENCE_TTL_S = 5.0

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        async_engine: AsyncEngine | None,
        storage: Storage,
        celery: Celery,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.async_engine = async_engine
        self.storage = storage
        self.celery = celery
        self._grid = ActiveGrid()
        self._reference = _Reference()

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
        self._reference = _Reference(categories, limits, grid, error, time.monotonic())

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
            raise FieldError("category", f"unknown category {sub.category!r}")
        if not active:
            raise FieldError("category", f"category {sub.category} is no longer offered")
        lat, lon, crs = locate(sub)
        if reference.grid is None:
            from fastapi import HTTPException

            raise HTTPException(503, reference.grid_error or "no active grid")
        x, y = to_wgs84(np.array([lon]), np.array([lat]), crs)
        wgs_lon, wgs_lat = float(x[0]), float(y[0])
        if not bool(reference.grid.assign(np.array([wgs_lon]), np.array([wgs_lat])).inside[0]):
            raise FieldError(
                "lat",
                f"({lat}, {lon}) in {crs} is outside the service area",
                kind="outside_service_area",
            )
        print_ = sub.fingerprint()
        if sub.idempotency_key and sub.uploads:
            # Photos are written to storage before the transaction: a retry that is answered
            # from the key need not write them again.
            earlier = await self._run(idempotency.find, sub.key_scope, sub.idempotency_key)
            if earlier is not None:
                return await self._replay(sub, earlier, print_)
        if sub.uploads:
            await run_in_threadpool(self.store_raw, sub.uploads)
        placed = _Placed(lat, lon, crs, wgs_lat, wgs_lon)
        for attempt in range(3):
            try:
                return await self._run(self._store, sub, placed, print_)
            except IntegrityError:
                if not sub.idempotency_key:
                    raise
                earlier = await self._run(idempotency.find, sub.key_scope, sub.idempotency_key)
                if earlier is None:
                    raise
                return await self._replay(sub, earlier, print_)
            except ConcurrentChange:
                # The case this report duplicates changed state meanwhile: look again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def publish(self, accepted: Accepted) -> None:
        """After the commit: route a new case and process its photos (blocking; background)."""
        if accepted.replayed:
            return
        if accepted.duplicate_of is None:
            publish_route(self.celery, accepted.id)
        self.publish_photos(accepted.photo_ids)

    def publish_photos(self, photo_ids: tuple[int, ...]) -> None:
        for photo_id in photo_ids:
            publish_photo(self.celery, photo_id)

    # -- helpers --------------------------------------------------------------------------

    async def _run(self, step: Callable[..., T], *args: Any) -> T:
        """Run ``step(connection, *args)`` in one transaction: on the asynchronous PostgreSQL
        pool when there is one, else on the process's engine in a worker thread."""
        if self.async_engine is not None:
            async with self.async_engine.begin() as conn:
                return await conn.run_sync(step, *args)

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

    def store_raw(self, uploads: tuple[Upload, ...]) -> None:
        """Keep the raw uploads (blocking; from a thread) until the media worker has run."""
        for upload in uploads:
            key = object_key("incoming", upload.sha256)
            if not self.storage.exists(key):
                self.storage.put(key, upload.data, f"image/{upload.info.format}")

    def _store(self, conn: Connection, sub: Submission, placed: _Placed, print_: str) -> Accepted:
        now = utcnow()
        parent = self._find_duplicate(conn, sub.category, placed, now)
        token = secrets.token_urlsafe(24)
        case_id = _new_id(
            conn.execute(
                insert(Case)
                .values(
                    tracking_token=token,
                    category_code=sub.category,
                    description=sub.description,
                    input_crs=placed.crs,
                    input_lat=placed.lat,
                    input_lon=placed.lon,
                    lat=placed.wgs_lat,
                    lon=placed.wgs_lon,
                    location=shapely.Point(placed.wgs_lon, placed.wgs_lat),
                    state=CaseState.REPORTED,
                    created_at=now,
                    updated_at=now,
                    channel=sub.channel,
                    client_id=sub.client_id,
                    contact=sub.contact,
                    address=sub.address,
                    media_url=sub.media_url,
                )
                .returning(col(Case.id))
            ).scalar_one()
        )
        event_id = _new_id(
            conn.execute(
                insert(CaseEvent)
                .values(
                    case_id=case_id,
                    at=now,
                    action="submit",
                    from_state=None,
                    to_state=CaseState.REPORTED,
                    actor=sub.actor,
                    role=Role.CITIZEN,
                    note=sub.description[:200],
                    detail=json.dumps({"channel": sub.channel, "photos": len(sub.uploads)}),
                )
                .returning(col(CaseEvent.id))
            ).scalar_one()
        )
        if sub.idempotency_key:
            conn.execute(
                insert(IdempotencyKey).values(
                    client_id=sub.key_scope,
                    key=sub.idempotency_key,
                    fingerprint=print_,
                    case_id=case_id,
                    created_at=now,
                )
            )
        photo_ids = store_photo_rows(
            conn, case_id=case_id, event_id=event_id, uploads=sub.uploads, now=now
        )
        state: str = CaseState.REPORTED
        if parent is not None:
            with Session(bind=conn) as session:
                link_duplicate(session, case_id, parent, at=now)
            state = CaseState.VOID
        return Accepted(case_id, token, state, now, parent, photo_ids)

    def _find_duplicate(
        self, conn: Connection, category: str, placed: _Placed, now: datetime
    ) -> int | None:
        radius = self.settings.duplicate_radius_m
        if radius <= 0 or self.settings.duplicate_window_h <= 0:
            return None
        min_lat, max_lat, min_lon, max_lon = bounding_box(placed.wgs_lat, placed.wgs_lon, radius)
        since = now - timedelta(hours=self.settings.duplicate_window_h)
        rows = conn.execute(
            select(col(Case.id), col(Case.lat), col(Case.lon))
            .where(col(Case.category_code) == category)
            .where(col(Case.created_at) >= since)
            .where(col(Case.state).in_([str(s) for s in OPEN_STATES]))
            .where(col(Case.duplicate_of).is_(None))
            .where(col(Case.lat).between(min_lat, max_lat))
            .where(col(Case.lon).between(min_lon, max_lon))
            .order_by(col(Case.id))
            .limit(100)
        ).all()
        return nearest_open_case(
            (Nearby(_new_id(r[0]), float(r[1]), float(r[2])) for r in rows),
            lat=placed.wgs_lat,
            lon=placed.wgs_lon,
            radius_m=radius,
        )


@dataclass(frozen=True)
class _Placed:
    lat: float  # as given, in ``crs``
    lon: float
    crs: str
    wgs_lat: float
    wgs_lon: float


def locate(sub: Submission) -> tuple[float, float, str]:
    """The report's (lat, lon, crs): as given, or else the first photo's EXIF GPS (WGS84)."""
    if sub.lat is not None and sub.lon is not None:
        return sub.lat, sub.lon, sub.crs
    if (sub.lat is None) != (sub.lon is None):
        missing = "lon" if sub.lon is None else "lat"
        raise FieldError(missing, "give both lat and lon, or neither and a photo with GPS")
    for upload in sub.uploads:
        if upload.info.gps is not None:
            lat, lon = upload.info.gps
            return lat, lon, "wgs84"
    raise FieldError(
        "lat",
        "location missing: give lat and lon, or a photo that carries its GPS position",
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
        ids.append(
            _new_id(
                conn.execute(
                    insert(Photo)
                    .values(
                        case_id=case_id,
                        event_id=event_id,
                        kind=kind,
                        state="pending",
                        raw_key=object_key("incoming", upload.sha256),
                        raw_sha256=upload.sha256,
                        raw_format=upload.info.format,
                        raw_bytes=len(upload.data),
                        gps_lat=gps[0] if gps else None,
                        gps_lon=gps[1] if gps else None,
                        created_at=now,
                    )
                    .returning(col(Photo.id))
                ).scalar_one()
            )
        )
    return tuple(ids)


def link_duplicate(session: Session, case_id: int, parent_id: int, *, at: datetime) -> None:
    """Void the new report as a duplicate of ``parent_id`` and note it on the parent."""
    case = session.get(Case, case_id)
    parent = session.get(Case, parent_id)
    assert case is not None and parent is not None
    record(
        session,
        case,
        "void",
        actor=SYSTEM_ACTOR,
        role=Role.SYSTEM,
        at=at,
        note=f"duplicate of case {parent_id}; the reporter follows that case",
        detail={"duplicate_of": parent_id},
        values={"duplicate_of": parent_id},
    )
    record(
        session,
        parent,
        "duplicate",
        actor=SYSTEM_ACTOR,
        role=Role.SYSTEM,
        at=at,
        note=f"report {case_id} describes the same problem",
        detail={"report": case_id},
    )


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
