"""Rate limits that hold across every API process: residents' writes, Open311 clients, sign-in.

Counts live in the store ``rate_limit_storage`` names: ``memory://`` counts in this process (the
embedded default, one API process), ``redis://host:6379/0`` counts once for every process and
machine that shares it (production). The windows are the ``limits`` library's moving windows,
exact at every instant, so a client cannot double its allowance by straddling a window's edge.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from intake.windows import LocalWindows

log = logging.getLogger(__name__)


class StoreAway(RuntimeError):
    """The shared store of counts does not answer."""


def open_store(url: str) -> Storage:
    """The asynchronous store for ``url`` (``memory://``, ``redis://…``, ``rediss://…``).

    >>> type(open_store("memory://")).__name__
    'MemoryStorage'
    """
    options: dict[str, float | str | bool] = {}
    if url.startswith(("redis", "rediss", "valkey")):
        # A store that is away must cost a request half a second at most, never hang it.
        options = {
            "implementation": "redispy",
            "socket_timeout": 0.5,
            "socket_connect_timeout": 0.5,
        }
    store = storage_from_string(f"async+{url}", wrap_exceptions=True, **options)
    assert isinstance(store, Storage)
    return store


def per_minute(count: float) -> list[RateLimitItem]:
    """A steady rate as a limit of whole requests (at least one) per minute; none for 0.

    >>> [str(item) for item in per_minute(20)], per_minute(0)
    (['20 per 1 minute'], [])
    """
    return [RateLimitItemPerMinute(max(1, round(count)))] if count > 0 else []


def burst(count: int, seconds: int = 10) -> list[RateLimitItem]:
    """At most ``count`` requests in any ``seconds``.

    >>> [str(item) for item in burst(3)]
    ['3 per 10 second']
    """
    return [RateLimitItemPerSecond(count, seconds)]


class Limiter:
    """Counts requests against named limits in the store ``url`` names."""

    def __init__(self, url: str) -> None:
        self.url = url
        # One process's counts stay in the process (see intake.windows for why not limits' own).
        self._local = LocalWindows() if url.startswith("memory") else None
        self._limiter = None if self._local else MovingWindowRateLimiter(open_store(url))

    async def admit(self, limits: Sequence[RateLimitItem], *key: str) -> int:
        """Count one request of ``key``: 0 when it may go ahead, else the whole seconds to wait.

        Raises :class:`StoreAway` when the store does not answer.
        """
        if self._local is not None:
            return self._local.admit(list(limits), *key)
        assert self._limiter is not None
        try:
            # A refused request is not counted, and its wait is that of the longest window
            # exceeded: a client past the hour's limit is told the hour, not the minute.
            full = [item for item in limits if not await self._limiter.test(item, *key)]
            if not full:
                full = [item for item in limits if not await self._limiter.hit(item, *key)]
            waits = [
                (await self._limiter.get_window_stats(item, *key)).reset_time - time.time()
                for item in full
            ]
        except (StorageError, OSError, TimeoutError) as exc:
            raise StoreAway(f"rate-limit store {self._where()} does not answer: {exc}") from exc
        return math.ceil(max([*waits, 1.0])) if waits else 0

    async def clear(self, limits: Sequence[RateLimitItem], *key: str) -> None:
        """Forget ``key``'s counts (a member of staff who signed in is no longer guessing)."""
        if self._local is not None:
            self._local.clear(list(limits), *key)
            return
        assert self._limiter is not None
        try:
            for item in limits:
                await self._limiter.clear(item, *key)
        except (StorageError, OSError, TimeoutError) as exc:
            raise StoreAway(f"rate-limit store {self._where()} does not answer: {exc}") from exc

    def _where(self) -> str:
        return self.url.split("@")[-1]  # never the password of a redis://:secret@host URL


def client_address(request: Request) -> str:
    """The address a request came from (uvicorn resolves trusted proxies' X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


def too_many(wait: int, what: str) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many {what}; try again in {wait} s",
        headers={"Retry-After": str(wait)},
    )


async def admit_or_pass(limiter: Limiter, limits: Sequence[RateLimitItem], *key: str) -> int:
    """:meth:`Limiter.admit`, letting the request through when the store is away.

    A resident's report matters more than the limit on it: with the store away, writes go on
    unlimited (logged) rather than failing, and the limit returns with the store.
    """
    try:
        return await limiter.admit(limits, *key)
    except StoreAway as exc:
        log.warning("writes not rate-limited: %s", exc)
        return 0


async def limit_writes(request: Request) -> None:
    """Dependency of every write a resident makes: 429 with Retry-After past the limit."""
    settings = request.app.state.settings
    limits = [
        *per_minute(settings.rate_limit_per_minute),
        *(burst(settings.rate_limit_burst) if settings.rate_limit_per_minute > 0 else []),
    ]
    if not limits:
        return
    wait = await admit_or_pass(request.app.state.limiter, limits, "writes", client_address(request))
    if wait:
        raise too_many(wait, "reports from this address")
