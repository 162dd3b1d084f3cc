"""A per-client rate limit on writes: a token bucket per client, kept in this API process.

Each process counts on its own; a deployment with many API processes puts a shared limit at
its reverse proxy as well (README, "Running in production").
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from fastapi import HTTPException, Request, status


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float


def take(
    bucket: Bucket | None, *, now: float, per_second: float, burst: int
) -> tuple[Bucket, float]:
    """Take one token; returns the new bucket and 0, or the old one and seconds to wait.

    >>> b, wait = take(None, now=0.0, per_second=1.0, burst=2)
    >>> b, wait = take(b, now=0.0, per_second=1.0, burst=2)
    >>> take(b, now=0.0, per_second=1.0, burst=2)[1]
    1.0
    >>> take(b, now=1.5, per_second=1.0, burst=2)[1]
    0.0
    """
    tokens = float(burst) if bucket is None else bucket.tokens
    if bucket is not None:
        tokens = min(float(burst), tokens + (now - bucket.at) * per_second)
    if tokens >= 1.0:
        return Bucket(tokens - 1.0, now), 0.0
    return Bucket(tokens, now), (1.0 - tokens) / per_second


class RateLimiter:
    """Buckets for the most recently seen clients (a bounded map, so memory stays flat)."""

    def __init__(self, per_minute: float, burst: int, *, max_clients: int = 100_000) -> None:
        self.per_second = per_minute / 60.0
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def check(self, client: str, now: float | None = None) -> int:
        """0 when ``client`` may go ahead; otherwise the whole seconds to wait (Retry-After)."""
        if not self.enabled:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket, wait = take(
                self._buckets.get(client), now=now, per_second=self.per_second, burst=self.burst
            )
            self._buckets[client] = bucket
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return math.ceil(wait) if wait > 0 else 0


async def limit_writes(request: Request) -> None:
    """Dependency of every write a resident makes: 429 with Retry-After past the limit.

    Asynchronous only so that FastAPI calls it on the event loop instead of a worker thread.
    """
    limiter: RateLimiter = request.app.state.limiter
    wait = limiter.check(f"ip:{request.client.host if request.client else 'unknown'}")
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many reports from this address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
