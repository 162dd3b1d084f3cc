"""Routing a batch of reports with one message, for an API that takes in hundreds a second.

The API publishes the cases committed in the last few milliseconds as one message instead of
one each: the broker, and the API's own CPU, then pay once per batch. The batch runs the routing
task itself for each case, in this process, so that there is one routing step and one set of
its arguments (calendar, time zone); a case whose routing fails is published again on its own,
to be retried with the single task's backoff. Routing is idempotent, so a batch delivered twice
changes nothing.
"""

from __future__ import annotations

import logging

from celery import Celery

from urbangrid.core.messages import MAX_BATCH, ROUTE_CASE, ROUTE_CASES
from workers.publish import publish_route

log = logging.getLogger(__name__)


def register(app: Celery) -> None:
    @app.task(name=ROUTE_CASES)
    def route_cases_task(case_ids: list[int]) -> int:
        route = app.tasks[ROUTE_CASE]
        failed = []
        for case_id in case_ids[:MAX_BATCH]:
            try:
                route(int(case_id))
            except Exception as exc:  # left to the single task, which retries with backoff
                log.warning("routing case %s in a batch failed: %s", case_id, exc)
                failed.append(int(case_id))
        for case_id in failed:
            publish_route(app, case_id)
        return len(case_ids) - len(failed)
