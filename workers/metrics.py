"""The scheduler's refresh of the evaluation's rollups: a shell around evaluation.refresh."""

from __future__ import annotations

import logging

from celery import Celery

from urbangrid.core.db import get_engine
from urbangrid.core.messages import REFRESH_METRICS
from urbangrid.core.settings import Settings
from urbangrid.evaluation.refresh import refresh

log = logging.getLogger(__name__)


def register(app: Celery) -> None:
    settings: Settings = app.conf.urbangrid_settings

    # The first build of a large history takes minutes (at a million cases); later refreshes
    # take the cases written since, in well under a second. Two at once wait for each other.
    @app.task(name=REFRESH_METRICS, soft_time_limit=3300, time_limit=3600)
    def refresh_metrics_task() -> int:
        done = refresh(get_engine(settings), tz=settings.city_timezone)
        if done.cases:
            log.info(
                "metrics: %s %s cases in %.2f s",
                "built from" if done.full else "folded in",
                done.cases,
                done.seconds,
            )
        return done.cases
