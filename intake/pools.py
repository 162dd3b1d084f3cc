"""Work kept off the API's event loop in a thread pool of its own, with a bound on what waits.

Sign-in's password hashing and the intake's check of each photo are both slow work a flood
could multiply: each runs in its own small pool, and past its bound a request answers 503 with
Retry-After at once rather than queueing without end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from intake.errors import unavailable

T = TypeVar("T")


class BoundedPool:
    """``workers`` threads; at most ``limit`` pieces of work running or waiting at once."""

    def __init__(
        self,
        workers: int,
        limit: int,
        *,
        name: str,
        busy: str,
        retry_after: int,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self.limit = limit
        self._busy, self._retry_after = busy, retry_after
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=name, initializer=initializer
        )
        self._in_flight = 0

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` in the pool; 503 with Retry-After when the bound is reached."""
        if self._in_flight >= self.limit:
            raise unavailable(self._busy, self._retry_after)
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        finally:
            self._in_flight -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
