"""Celery tasks: thin shells that pass ids to the routing, relay and SLA steps.

Only transient errors are retried (with exponential backoff and jitter): a database that is
locked, restarting or unreachable, and a case another step moved first. Anything else is a bug or
bad data that a retry cannot fix; the task fails at once and RabbitMQ dead-letters its message.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from urbangrid.cases.lifecycle import ConcurrentChange
from urbangrid.cases.relay import claim_unrouted
from urbangrid.cases.workdays import case_policy, clock_rules
from urbangrid.core.columns import utcnow
from urbangrid.core.db import get_engine
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.messages import (
    RELAY_UNROUTED,
    ROUTE_CASE,
    SLA_ADVANCE,
    SLA_ADVANCE_MANY,
    SLA_SWEEP,
)
from urbangrid.core.settings import Settings
from workers.giveway import give_way
from workers.publish import publish_routes
from workers.routing import route_case
from workers.sla import advance_batch, advance_case, claim_due

log = logging.getLogger(__name__)

# One grid index per worker process, mapped from the shared index file, and again only when
# another grid version is activated.
_grid = ActiveGrid()  # folder from the settings, read on first use

TRANSIENT = (OperationalError, ConcurrentChange)
RETRY: dict[str, Any] = {
    "bind": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 8,
}

SWEEP_SET = 200  # cases per advancing task


def register(app: Celery) -> None:
    """Declare the tasks on ``app`` (the app is passed explicitly, never ``current_app``)."""
    settings: Settings = app.conf.urbangrid_settings
    _grid.boundary_margin_m = settings.boundary_margin_m

    @app.task(name=ROUTE_CASE, **RETRY)
    def route_case_task(self: Any, case_id: int) -> str:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            rules = clock_rules(session, settings)
            outcome = route_case(case_id, session=session, grid=_grid, rules=rules)
        return outcome.state

    @app.task(name=RELAY_UNROUTED, bind=True)
    def relay_unrouted_task(self: Any) -> int:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            ids = claim_unrouted(
                session, now=utcnow(), grace_s=settings.relay_grace_s, batch=settings.relay_batch
            )
        sent = publish_routes(app, ids)
        if ids:
            log.info("relay published %s of %s unrouted reports", sent, len(ids))
        return sent

    @app.task(name=SLA_SWEEP, bind=True)
    def sla_sweep_task(self: Any) -> int:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            ids = claim_due(
                session,
                now=utcnow(),
                lease_s=settings.sla_lease_s,
                batch=settings.sla_sweep_batch,
            )
        # In sets: a worker advances each set with a few statements (workers/sla.py).
        for start in range(0, len(ids), SWEEP_SET):
            app.send_task(SLA_ADVANCE_MANY, args=[ids[start : start + SWEEP_SET]])
        if ids:
            log.info("SLA sweep handed out %s cases", len(ids))
        return len(ids)

    @app.task(name=SLA_ADVANCE, **RETRY)
    def sla_advance_task(self: Any, case_id: int) -> list[str]:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            return advance_case(
                session, case_id, now=utcnow(), policy=case_policy(session, settings)
            )

    @app.task(name=SLA_ADVANCE_MANY, **RETRY)
    def sla_advance_many_task(self: Any, case_ids: list[int]) -> int:
        give_way(app)  # reports waiting for routing go first
        with Session(get_engine(settings), expire_on_commit=False) as session:
            fired = advance_batch(
                session,
                [int(i) for i in case_ids],
                now=utcnow(),
                policy=case_policy(session, settings),
            )
        return sum(len(marks) for marks in fired.values())


def warm_grid(settings: Settings) -> None:
    """Map the grid index before the first task, so the first report is not slow (building
    the index file first if no process has yet)."""
    try:
        with Session(get_engine(settings)) as session:
            ActiveGrid(settings.effective_grid_index_dir).current(session)
    except LookupError as exc:
        log.warning("no active grid yet: %s", exc)
