"""Housekeeping of intake: idempotency keys are forgotten once their lifetime is over."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import Celery
from sqlalchemy import Connection, delete
from sqlmodel import col

from urbangrid.core.columns import utcnow
from urbangrid.core.db import get_engine
from urbangrid.core.messages import EXPIRE_IDEMPOTENCY_KEYS
from urbangrid.core.settings import Settings
from urbangrid.core.tables import IdempotencyKey


def expire(conn: Connection, *, now: datetime, ttl: timedelta) -> int:
    """Forget keys older than ``ttl``; returns how many."""
    result = conn.execute(delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < now - ttl))
    return int(result.rowcount)


def register(app: Celery) -> None:
    settings: Settings = app.conf.urbangrid_settings

    @app.task(name=EXPIRE_IDEMPOTENCY_KEYS)
    def expire_idempotency_keys_task() -> int:
        with get_engine(settings).begin() as conn:
            return expire(conn, now=utcnow(), ttl=timedelta(hours=settings.idempotency_ttl_h))
