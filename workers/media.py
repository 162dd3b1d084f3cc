"""The media queue: turn a raw upload into the stored photo, its public copy and thumbnails.

The API keeps the raw upload (EXIF and all) under ``incoming/`` and a pending photo row; this
step decodes it, turns it upright, shrinks it, strips every piece of metadata and stores that
copy (for staff) and its thumbnail by content hash; then it finds the faces and licence plates
on it and stores the public copy with each one blurred, with its own thumbnail; it marks the row
ready, with the detections and the public copy's digest in the same update, so the photo is
never public unblurred; and deletes the raw upload. Run twice, it changes nothing: the objects
are named by their content and the row is guarded on pending.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy import or_, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from urbangrid.cases.blurring import Detection, detections_json, find, publish
from urbangrid.cases.moderation import carried_over
from urbangrid.cases.photos import PhotoRejected, normalise
from urbangrid.core.columns import utcnow
from urbangrid.core.db import get_engine
from urbangrid.core.messages import PROCESS_PHOTO, RELAY_PHOTOS
from urbangrid.core.settings import Settings
from urbangrid.core.storage import Storage, object_key, open_storage
from urbangrid.core.tables import Photo

log = logging.getLogger(__name__)


def publish_photo(app: Celery, photo_id: int) -> bool:
    """Queue ``photo_id`` for processing; False when the broker is down (the relay retries)."""
    try:
        app.send_task(PROCESS_PHOTO, args=[photo_id], retry=False)
    except Exception as exc:  # kombu raises several kinds for an unreachable broker
        log.warning("broker unavailable, photo %s left for the relay: %s", photo_id, exc)
        return False
    return True


def process_photo(photo_id: int, *, session: Session, storage: Storage, settings: Settings) -> str:
    """Make the stored copy of one photo; returns the photo's state afterwards."""
    photo = session.get(Photo, photo_id)
    if photo is None:
        log.warning("process_photo: photo %s does not exist", photo_id)
        return "missing"
    if photo.state != "pending":
        _drop_raw(session, storage, photo)
        return photo.state
    assert photo.raw_key is not None
    values: dict[str, Any]
    try:
        made = normalise(
            storage.get(photo.raw_key),
            max_side=settings.photo_max_side,
            thumb_side=settings.photo_thumb_side,
            max_pixels=settings.photo_max_pixels,
        )
    except KeyError:
        values = {"state": "rejected", "error": "the raw upload is missing from storage"}
    except PhotoRejected as exc:
        values = {"state": "rejected", "error": str(exc)[:500]}
    else:
        storage.put(object_key("photos", made.digest, ".jpg"), made.image, "image/jpeg")
        storage.put(object_key("thumbs", made.digest, ".jpg"), made.thumbnail, "image/jpeg")
        # The same picture moderated before (sent again, by anyone) stays taken down or
        # covered: its copies share their public address.
        hidden, covered = carried_over(session, photo_id, made.digest)
        values = {
            "state": "ready",
            "digest": made.digest,
            "width": made.width,
            "height": made.height,
        }
        if hidden:  # never shown by this step: a shift lead may have hidden it while pending
            values["hidden"] = True
        if covered:
            values["redactions"] = json.dumps([list(b) for b in covered])
        # Faces and plates blurred, rectangles covered: a detector that fails raises, and the
        # photo stays pending (the task retries), so it is never published unblurred.
        detections: list[Detection] = []
        if settings.photo_blur:
            detections, version = find(made.image)
            values |= {
                "detections": detections_json(detections),
                "detector": version,
                "detected_at": utcnow(),
            }
        values["public_digest"] = publish(
            storage,
            made.image,
            redactions=covered,
            detections=detections,
            min_score=settings.photo_blur_min_score,
            thumb_side=settings.photo_thumb_side,
        )
    if values["state"] == "rejected":
        # The intake refuses what it can see is broken; what gets past it is gone from the
        # resident's photos with no word to them, so say so where an operator looks.
        log.warning("photo %s of case %s rejected: %s", photo_id, photo.case_id, values["error"])
    session.execute(
        update(Photo)
        .where(col(Photo.id) == photo_id)
        .where(col(Photo.state) == "pending")
        .values(processed_at=utcnow(), **values)
    )
    session.commit()
    session.refresh(photo)
    _drop_raw(session, storage, photo)
    return photo.state


def _drop_raw(session: Session, storage: Storage, photo: Photo) -> None:
    """Delete the raw upload once no pending photo still needs it (the same file may have
    been uploaded twice)."""
    if photo.raw_key is None:
        return
    waiting = session.exec(
        select(Photo.id)
        .where(col(Photo.raw_key) == photo.raw_key)
        .where(col(Photo.state) == "pending")
        .limit(1)
    ).first()
    if waiting is None:
        storage.delete(photo.raw_key)
    session.execute(update(Photo).where(col(Photo.id) == photo.id).values(raw_key=None))
    session.commit()


def claim_unprocessed(session: Session, *, now: datetime, grace_s: float, batch: int) -> list[int]:
    """Pending photos whose message was never sent or was lost; marks them published now."""
    stale = now - timedelta(seconds=grace_s)
    query = (
        select(Photo.id)
        .where(col(Photo.state) == "pending")
        .where(
            or_(
                col(Photo.published_at) < stale,
                col(Photo.published_at).is_(None) & (col(Photo.created_at) < stale),
            )
        )
        .order_by(col(Photo.id))
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [int(i) for i in session.exec(query) if i is not None]
    if ids:
        session.execute(update(Photo).where(col(Photo.id).in_(ids)).values(published_at=now))
    session.commit()
    return ids


def register(app: Celery) -> None:
    """Declare the media tasks on ``app``."""
    settings: Settings = app.conf.urbangrid_settings
    storage = open_storage(settings.media_storage, var_dir=settings.var_dir)

    @app.task(name=PROCESS_PHOTO, bind=True, max_retries=8, retry_backoff=True)
    def process_photo_task(self: Any, photo_id: int) -> str:
        try:
            with Session(get_engine(settings), expire_on_commit=False) as session:
                return process_photo(photo_id, session=session, storage=storage, settings=settings)
        # Storage unreachable (a bucket's network) or the database away: try again later. The
        # soak saw two photos dead-lettered by a 40 s database outage before this.
        except (OSError, OperationalError) as exc:
            raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from exc

    @app.task(name=RELAY_PHOTOS)
    def relay_photos_task() -> int:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            ids = claim_unprocessed(
                session, now=utcnow(), grace_s=settings.relay_grace_s, batch=settings.relay_batch
            )
        return sum(publish_photo(app, photo_id) for photo_id in ids)
