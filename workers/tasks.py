"""Celery tasks: thin shells that pass ids to the routing and relay steps."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from celery import Celery
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from geo.store import ActiveGrid
from urbangrid.columns import utcnow
from urbangrid.db import get_engine
from urbangrid.domain.timelimits import WeekendCalendar
from urbangrid.settings import Settings
from workers.publish import publish_route
from workers.relay import claim_unrouted
from workers.routing import route_case

log = logging.getLogger(__name__)

# One grid index per worker process, rebuilt only when another grid version is activated.
_grid = ActiveGrid()


def register(app: Celery) -> None:
    """Declare the tasks on ``app`` (the app is passed explicitly, never ``current_app``)."""
    settings: Settings = app.conf.urbangrid_settings
    tz = ZoneInfo(settings.city_timezone)

    @app.task(
        name="urbangrid.route_case",
        bind=True,
        autoretry_for=(OperationalError,),  # a locked or restarting database is transient
        retry_backoff=True,
        retry_backoff_max=60,
        max_retries=8,
    )
    def route_case_task(self: Any, case_id: int) -> str:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            outcome = route_case(
                case_id, session=session, grid=_grid, calendar=WeekendCalendar(), tz=tz
            )
        return outcome.state

    @app.task(name="urbangrid.relay_unrouted", bind=True)
    def relay_unrouted_task(self: Any) -> int:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            ids = claim_unrouted(
                session, now=utcnow(), grace_s=settings.relay_grace_s, batch=settings.relay_batch
            )
        sent = sum(publish_route(app, case_id) for case_id in ids)
        if ids:
            log.info("relay published %s of %s unrouted reports", sent, len(ids))
        return sent


def warm_grid(settings: Settings) -> None:
    """Build the grid index before the first task, so the first report is not slow."""
    try:
        with Session(get_engine(settings)) as session:
            _grid.current(session)
    except LookupError as exc:
        log.warning("no active grid yet: %s", exc)
