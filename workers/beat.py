"""The scheduler's periodic tasks: each lives one interval, and none is ever dead-lettered.

The relay, the sweep and the other periodic tasks find their work in the database, so a run
that comes late is worth nothing once the next one is sent: each is sent to live for one
interval, or half a minute when the interval is shorter (a tick must outlive its trip to a busy
worker). Celery's ``expires`` option would say so twice, in the message's header (the worker
discards a late task and acknowledges it) and as RabbitMQ's per-message TTL, and RabbitMQ
dead-letters a message whose TTL runs out: 117 stale relays filled the dead-letter queue in an
hour with a busy worker, hiding the letters someone has to read. Here the lifetime goes in the
header only. A periodic task that fails is acknowledged too (``periodic_tasks`` in
``workers/app.py``): the next run does its work.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry

from urbangrid.core.messages import LIFETIME

# Header of the task message protocol that the worker reads as the task's expiry.
EXPIRES_HEADER = "expires"


class Scheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery beat that puts a periodic task's lifetime in the header, not in a broker TTL."""

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        options = dict(entry.options)
        lifetime = options.pop(LIFETIME, None)
        if lifetime is not None:
            expires = self.app.now() + timedelta(seconds=float(lifetime))
            options["headers"] = {**options.get("headers", {}), EXPIRES_HEADER: expires.isoformat()}
        sending = entry.options
        entry.options = options
        try:
            return super().apply_async(entry, producer, advance, **kwargs)
        finally:
            entry.options = sending
