"""Housekeeping gives way to routing: a sweep pauses while reports wait to be routed.

The SLA sweep and routing share the database. At an office hour thousands of deadlines fall at
once, and a sweep writing them as fast as it can made residents' reports wait for routing six
times longer (the pipeline bench, scheduler on against off). A resident waiting for their report
to reach a department matters more than a warning marked a few seconds late, so before each set
of cases the sweep looks at the routing queues on RabbitMQ and, while reports wait there, pauses
(a bounded while: the deadlines are still marked if a surge outlasts it). The embedded broker,
with one worker doing both, needs none of this.
"""

from __future__ import annotations

import logging
import time

from celery import Celery

from urbangrid.core.messages import ROUTING_QUEUES

log = logging.getLogger(__name__)

PAUSE_S = 0.1
LONGEST_S = 5.0


def routing_backlog(app: Celery) -> int:
    """Messages ready on the routing queues that a running router will take; 0 when the broker
    cannot say (or is away). A queue nobody consumes (routing stopped, between deployments)
    is no reason to hold deadlines back: nothing would drain it."""
    if not str(app.conf.broker_url or "").startswith("amqp"):
        return 0
    try:
        with app.pool.acquire(block=True, timeout=1) as conn:
            channel = conn.default_channel
            found = [channel.queue_declare(queue=name, passive=True) for name in ROUTING_QUEUES]
            return sum(int(q.message_count) for q in found if int(q.consumer_count) > 0)
    except Exception as exc:  # a broker that cannot answer is no reason to hold the sweep
        log.debug("routing queues not read: %s", exc)
        return 0


def give_way(app: Celery, *, longest_s: float = LONGEST_S) -> float:
    """Wait while reports wait for routing, at most ``longest_s``; the seconds waited."""
    started = time.monotonic()
    while routing_backlog(app) and time.monotonic() - started < longest_s:
        time.sleep(PAUSE_S)
    return time.monotonic() - started
