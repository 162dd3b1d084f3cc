"""Housekeeping of intake: idempotency keys are forgotten once their lifetime is over."""

from __future__ import annotations

from datetime import timedelta

from celery import Celery

from intake.idempotency import expire
from urbangrid.core.columns import utcnow
from urbangrid.core.db import get_engine
from urbangrid.core.settings import Settings

EXPIRE_TASK = "urbangrid.expire_idempotency_keys"


def register(app: Celery) -> None:
    settings: Settings = app.conf.urbangrid_settings

    @app.task(name=EXPIRE_TASK)
    def expire_idempotency_keys_task() -> int:
        with get_engine(settings).begin() as conn:
            return expire(conn, now=utcnow(), ttl=timedelta(hours=settings.idempotency_ttl_h))
