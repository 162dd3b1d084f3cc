"""Sign-in's defences: throttled per account and per address, and kept off the event loop.

A staff password is an scrypt hash, deliberately slow (about 0.15 s of one core). Two abuses
follow: guessing a password, and flooding sign-in so that the hashing starves residents'
reports. Against guessing, attempts are counted per account name and per address in the shared
rate-limit store, in stacked windows, so the wait grows the longer it goes on: five attempts a
minute, ten an hour, twenty a day per name. Against flooding, hashing runs in a pool of its own
(``login_workers`` threads at the lowest CPU priority) with a short queue; past it sign-in
answers 503 at once, and the event loop that serves reports never waits on a hash.

Names that exist and names that do not are counted and hashed alike (``cases.staff.login``),
so neither the time nor the throttle tells which exist.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from limits import RateLimitItem, parse_many

from intake.errors import unavailable as away
from intake.pools import BoundedPool
from intake.ratelimit import Limiter, StoreAway, too_many

log = logging.getLogger(__name__)

# Attempts per account name, whoever makes them: the 6th in a minute waits for the minute, the
# 11th in an hour for the hour, the 21st in a day for the day.
ACCOUNT_LIMITS: list[RateLimitItem] = parse_many("5/minute;10/hour;20/day")
# Attempts per address: an office's staff share one, so it allows more.
ADDRESS_LIMITS: list[RateLimitItem] = parse_many("20/minute;100/hour;500/day")

T = TypeVar("T")


class SignInGuard:
    """The throttle and the hashing pool of one API process."""

    def __init__(self, limiter: Limiter, *, workers: int, queue: int) -> None:
        self.limiter = limiter
        self.queue = queue
        self._pool = BoundedPool(
            workers,
            queue,
            name="signin",
            busy="sign-in is busy",
            retry_after=1,
            initializer=_lowest_priority,
        )

    async def admit(self, name: str, address: str) -> None:
        """Count an attempt; 429 with Retry-After past either limit, 503 when the store is away.

        Sign-in fails closed: with the store away there is no limit on guessing, so it waits.
        """
        try:
            wait = await self.limiter.admit(ADDRESS_LIMITS, "signin-address", address)
            if not wait:
                wait = await self.limiter.admit(ACCOUNT_LIMITS, "signin-account", name)
        except StoreAway as exc:
            log.error("sign-in refused: %s", exc)
            raise away("sign-in is unavailable for a moment", 5) from exc
        if wait:
            raise too_many(wait, "sign-in attempts")

    async def signed_in(self, name: str) -> None:
        """A right password ends the account's count: its owner is not guessing."""
        try:
            await self.limiter.clear(ACCOUNT_LIMITS, "signin-account", name)
        except StoreAway as exc:
            log.warning("sign-in count of %r not cleared: %s", name, exc)

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` (the hashing and its database reads) in the pool; 503 when it is full."""
        return await self._pool.run(work)

    def close(self) -> None:
        self._pool.close()


def _lowest_priority() -> None:
    """Run this hashing thread at the lowest CPU priority: scrypt releases the GIL, so with
    the thread niced the kernel gives the API's own thread (residents' reports) the CPU first,
    and sign-in takes what is left. Linux nices threads one by one; elsewhere this is skipped
    rather than niceing the whole API."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError as exc:  # pragma: no cover - a container forbidding it
            log.warning("sign-in hashing left at normal priority: %s", exc)
