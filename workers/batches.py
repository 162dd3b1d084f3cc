"""Routing a batch of reports with one message, for an API that takes in hundreds a second.

The API publishes the cases committed in the last few milliseconds as one message instead of
one each: the broker, and the API's own CPU, then pay once per batch. The worker routes the
batch with ``routing.route_batch``: the cases claimed together, their cells found in one call,
their departments and clocks decided in memory from reference data cached in this process, and
everything written in three statements. Should the batch fail as a whole (a lost connection),
each case is published again on its own, to be retried with the single task's backoff. Routing
is idempotent, so a batch delivered twice changes nothing.
"""

from __future__ import annotations

import logging

from celery import Celery
from sqlmodel import Session

from urbangrid.cases.reference import ReferenceCache
from urbangrid.cases.workdays import clock_rules
from urbangrid.core.db import get_engine
from urbangrid.core.messages import RELAY_BATCH, ROUTE_CASES
from urbangrid.core.settings import Settings
from workers.batch_routing import route_batch
from workers.publish import publish_route
from workers.tasks import _grid as grid

log = logging.getLogger(__name__)

# Cases per message at most: the API's batches are smaller; the relay's are cut to this.
MAX_BATCH = RELAY_BATCH


def register(app: Celery) -> None:
    settings: Settings = app.conf.urbangrid_settings
    reference = ReferenceCache(lambda session: clock_rules(session, settings))

    @app.task(name=ROUTE_CASES)
    def route_cases_task(case_ids: list[int]) -> int:
        ids = [int(i) for i in case_ids[:MAX_BATCH]]
        try:
            with Session(get_engine(settings), expire_on_commit=False) as session:
                outcomes = route_batch(
                    ids,
                    session=session,
                    grid=grid,
                    reference=lambda: reference.get(session),
                    top_up=MAX_BATCH,
                )
        except Exception as exc:  # left to the single task, which retries with backoff
            log.warning("routing a batch of %s failed, each sent alone: %s", len(ids), exc)
            for case_id in ids:
                publish_route(app, case_id)
            return 0
        return sum(outcome.changed for outcome in outcomes)
