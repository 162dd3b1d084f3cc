"""Housekeeping of intake: idempotency keys are forgotten once their lifetime is over, and raw
uploads no photo needs are deleted."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import Celery
from sqlalchemy import Connection, delete, select
from sqlmodel import col

from urbangrid.core.columns import utcnow
from urbangrid.core.db import get_engine
from urbangrid.core.messages import EXPIRE_IDEMPOTENCY_KEYS, SWEEP_RAW_UPLOADS
from urbangrid.core.settings import Settings
from urbangrid.core.storage import Storage, open_storage
from urbangrid.core.tables import IdempotencyKey, Photo

log = logging.getLogger(__name__)

# A raw upload is written before its photo row (intake/steps.py); one older than this with no
# row is left from a request refused or cut off after it was written (an action the case's state
# did not allow, a database that went away), never one still on its way.
RAW_GRACE = timedelta(hours=1)


def expire(conn: Connection, *, now: datetime, ttl: timedelta) -> int:
    """Forget keys older than ``ttl``; returns how many."""
    result = conn.execute(delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < now - ttl))
    return int(result.rowcount)


def sweep_raw(conn: Connection, storage: Storage, *, now: datetime) -> int:
    """Delete the raw uploads (EXIF, GPS and all) that no photo row needs; returns how many.

    The media worker deletes a raw upload once its photo is processed; this finds those left by
    requests refused after their files were written. Each is checked again just before it is
    deleted, so a file sent again meanwhile is kept."""
    swept = 0
    before = now - RAW_GRACE
    for key in storage.written_before("incoming", before):
        wanted = conn.execute(
            select(col(Photo.id)).where(col(Photo.raw_key) == key).limit(1)
        ).first()
        if wanted is None and key in set(storage.written_before(key.rsplit("/", 1)[0], before)):
            storage.delete(key)
            swept += 1
    if swept:
        log.info("deleted %d raw uploads no photo needs", swept)
    return swept


def register(app: Celery) -> None:
    settings: Settings = app.conf.urbangrid_settings
    storage = open_storage(settings.media_storage, var_dir=settings.var_dir)

    @app.task(name=SWEEP_RAW_UPLOADS)
    def sweep_raw_uploads_task() -> int:
        with get_engine(settings).connect() as conn:
            return sweep_raw(conn, storage, now=utcnow())

    @app.task(name=EXPIRE_IDEMPOTENCY_KEYS)
    def expire_idempotency_keys_task() -> int:
        with get_engine(settings).begin() as conn:
            return expire(conn, now=utcnow(), ttl=timedelta(hours=settings.idempotency_ttl_h))
