"""Taking a report in, whichever channel it came by (web page, native API, Open311).

The steps: check the category → place the report (its coordinates, or its photo's GPS) →
refuse a point outside the service area → store the raw photos → look for an open case it
duplicates → in one transaction store the case (with ``duplicate_of`` when it joins one), its
first event, its idempotency key and its photos → after the commit, publish the case to routing
(or, a duplicate, to be voided) and the photos to the media queue.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from fastapi import HTTPException
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool

from geo.assign import GridIndex
from geo.crs import to_wgs84
from geo.gazetteer import Gazetteer
from intake import idempotency
from intake.duplicates import nearest, search_area
from intake.errors import FieldError
from intake.location import Placed, locate
from intake.outages import within_deadline
from intake.pgfast import FastStore, KeyTaken
from intake.publisher import Publisher
from intake.rows import case_row, event_row, insert_report, read_accepted
from intake.submission import Accepted, Submission
from intake.uploads import Upload
from urbangrid.cases.addresses import load_gazetteer, signature
from urbangrid.core.columns import utcnow
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.settings import Settings
from urbangrid.core.storage import Storage, object_key
from urbangrid.core.tables import Category
from urbangrid.domain.states import CaseState

log = logging.getLogger(__name__)

T = TypeVar("T")

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
        self._refreshing: asyncio.Future[None] | None = None

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
            # One read at a time, shared by every request waiting on it: with the database
            # hanging, requests answer 503 on time and do not each tie up a thread.
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = asyncio.ensure_future(run_in_threadpool(self.refresh_reference))
                self._refreshing.add_done_callback(_collect)
            await within_deadline(asyncio.shield(self._refreshing))
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
        placed = Placed(lat, lon, crs, wgs_lat, wgs_lon, match)
        if self.fast is not None and not sub.uploads:
            return await self._fast(sub, placed, print_)
        try:
            return await self._run(insert_report, sub, placed, print_, self.settings)
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

    async def _fast(self, sub: Submission, placed: Placed, print_: str) -> Accepted:
        """PostgreSQL's path for a report without photos: one statement, three when an open
        case of the category is near."""
        assert self.fast is not None
        now = utcnow()
        token = secrets.token_urlsafe(24)
        values = {
            **case_row(sub, placed, token, now),
            **event_row(sub, placed),
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

        return await within_deadline(run_in_threadpool(in_thread))

    async def _replay(self, sub: Submission, earlier: tuple[int, str], print_: str) -> Accepted:
        case_id, earlier_print = earlier
        if earlier_print != print_:
            raise FieldError(
                idempotency.HEADER if sub.channel != "open311" else "device_id",
                "was already used for a different report",
                kind="idempotency_key_reused",
                where="header" if sub.channel != "open311" else "body",
            )
        return await self._run(read_accepted, case_id)

    def _area(self, placed: Placed, now: datetime) -> dict[str, Any]:
        return search_area(
            placed.wgs_lat,
            placed.wgs_lon,
            radius_m=self.settings.duplicate_radius_m,
            window_h=self.settings.duplicate_window_h,
            now=now,
        )

    def store_raw(self, uploads: tuple[Upload, ...]) -> None:
        """Keep the raw uploads (blocking; from a thread) until the media worker has run.

        Written even when the same file is already there: that marks it as just written, so
        the sweep of raw uploads no photo needs (workers/housekeeping.py) leaves it alone until
        this request's photo row is stored."""
        for upload in uploads:
            key = object_key("incoming", upload.sha256)
            self.storage.put(key, upload.data, f"image/{upload.info.format}")


# An empty box: the fast statement then finds nothing near and inserts.
_NO_AREA = {"min_lat": 1.0, "max_lat": 0.0, "min_lon": 1.0, "max_lon": 0.0}


def _collect(done: asyncio.Future[None]) -> None:
    """Take a finished reference read's error, if any: every request may have stopped waiting."""
    if not done.cancelled():
        done.exception()
