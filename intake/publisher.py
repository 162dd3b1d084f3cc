"""Publishing committed reports and photos from one thread of the API process.

A request hands the ids over and is answered; this thread sends them to the broker with one
producer, the cases of each moment together in one routing message (``workers/batches.py``).
Were publishing done per request, even after the response, a keep-alive
connection could not serve its next request until the broker had confirmed the message.
Nothing is lost when the broker is down or the process stops with ids still queued: the case is
already committed, and the relay publishes whatever stays unrouted (and every pending photo).
Once the broker confirmed a batch, ``on_published`` records it on the cases (one UPDATE per
batch), so the relay leaves them alone unless they stay unrouted past its lease.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from celery import Celery

from urbangrid.core.messages import LINK_DUPLICATE, PROCESS_PHOTO, ROUTE_CASE, ROUTE_CASES

log = logging.getLogger(__name__)

# Cases per routing message: what a few milliseconds of a busy API bring, small enough that the
# first case of a message does not wait long for the last to be routed.
PUBLISH_BATCH = 50


class Publisher:
    """Ids go into a deque; the thread wakes every ``interval_s`` and sends what is there.

    Polling rather than a condition variable: waking a thread per report would hand the GIL
    back and forth with the event loop on every request.
    """

    def __init__(
        self,
        celery: Celery,
        *,
        interval_s: float = 0.01,
        max_pending: int = 100_000,
        on_published: Callable[[Sequence[int]], None] | None = None,
    ):
        self.celery = celery
        self.on_published = on_published
        self.interval_s = interval_s
        self.max_pending = max_pending
        self._pending: deque[tuple[str, int]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failed = 0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="urbangrid-publisher")
            self._thread.daemon = True
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is queued (within ``timeout``), then stop."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout)
            self._thread = None

    def route(self, case_id: int) -> None:
        self._put(ROUTE_CASE, case_id)

    def photo(self, photo_id: int) -> None:
        self._put(PROCESS_PHOTO, photo_id)

    def link(self, case_id: int) -> None:
        """A report that joined an open case, to be voided as its duplicate."""
        self._put(LINK_DUPLICATE, case_id)

    def _put(self, task: str, item_id: int) -> None:
        if len(self._pending) >= self.max_pending:
            log.warning("publisher backlog full; %s %s left for the relay", task, item_id)
            return
        self._pending.append((task, item_id))

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.interval_s)
            batch: list[tuple[str, int]] = []
            while self._pending and len(batch) < 1000:
                batch.append(self._pending.popleft())
            if batch:
                self._send(batch)
            if stopping and not self._pending:
                return

    def _send(self, batch: list[tuple[str, int]]) -> None:
        """Cases go to routing in batches of up to PUBLISH_BATCH per message; photos one each."""
        routes = [item_id for task, item_id in batch if task == ROUTE_CASE]
        messages: list[tuple[str, list[Any], list[int]]] = [
            (ROUTE_CASES, [routes[i : i + PUBLISH_BATCH]], routes[i : i + PUBLISH_BATCH])
            for i in range(0, len(routes), PUBLISH_BATCH)
        ]
        # Photos and duplicates one each: heavier work, and rarer.
        messages += [
            (task, [item_id], [item_id] if task == LINK_DUPLICATE else [])
            for task, item_id in batch
            if task != ROUTE_CASE
        ]
        done = 0
        cases: list[int] = []
        try:
            with self.celery.producer_or_acquire() as producer:
                for task, args, ids in messages:
                    self.celery.send_task(task, args=args, producer=producer, retry=False)
                    done += max(1, len(ids))
                    cases += ids
        except Exception as exc:  # the broker is unreachable: the relay covers what is dropped
            self.failed += len(batch) - done
            log.warning(
                "broker unavailable, %s messages left for the relay: %s", len(batch) - done, exc
            )
        self.sent += done
        self._record(cases)

    def _record(self, case_ids: list[int]) -> None:
        if not case_ids or self.on_published is None:
            return
        try:
            self.on_published(case_ids)
        except Exception as exc:  # the database is away: the relay re-sends after its lease
            log.warning("could not record %s published cases: %s", len(case_ids), exc)
