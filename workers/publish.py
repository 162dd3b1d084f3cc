"""Publishing a case id to the routing queue, after the case is committed."""

from __future__ import annotations

import logging

from celery import Celery

from urbangrid.core.messages import RELAY_BATCH, ROUTE_CASE, ROUTE_CASES

log = logging.getLogger(__name__)


def publish_route(app: Celery, case_id: int) -> bool:
    """Send the routing task for ``case_id``; False (and a log line) when the broker is down.

    No retry here: the report is already stored, and the relay publishes it once the broker
    answers again. A resident's submit must not wait on the broker.
    """
    try:
        app.send_task(ROUTE_CASE, args=[case_id], retry=False)
    except Exception as exc:  # kombu raises several kinds for an unreachable broker
        log.warning("broker unavailable, case %s left for the relay: %s", case_id, exc)
        return False
    return True


def publish_routes(app: Celery, case_ids: list[int]) -> int:
    """Send ``case_ids`` to routing in batch messages; returns how many cases were sent."""
    sent = 0
    for start in range(0, len(case_ids), RELAY_BATCH):
        chunk = case_ids[start : start + RELAY_BATCH]
        try:
            app.send_task(ROUTE_CASES, args=[chunk], retry=False)
        except Exception as exc:  # the broker is away: the relay tries again after its lease
            log.warning("broker unavailable, %s cases left for the relay: %s", len(chunk), exc)
            break
        sent += len(chunk)
    return sent
