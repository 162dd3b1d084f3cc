"""A database that is away is a 503 with ``Retry-After``, never a 500 and never a hang.

PostgreSQL restarting, a network cut, SQLite locked past its busy timeout: the resident's app is
told to try again in a few seconds, which it does with the same ``Idempotency-Key``, so nothing
is stored twice. The engines (``core/db.py``, ``intake/pgfast.py``) give up on a connection
within seconds and test pooled connections before use, so the answer comes within 5 s and the
first requests after the database's return succeed. A broker that is away never reaches a
resident: reports are committed first and published from a thread, and the relay publishes
whatever the broker missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

import psycopg
import sqlalchemy.exc
from fastapi import Request
from fastapi.responses import JSONResponse, Response

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_S = 5
# Longest a request waits on the database before the answer is 503: a database that hangs (a
# stalled server or proxy, a link that swallows packets while the kernel still acknowledges
# them) must not hold a resident's request open. libpq's own timeouts cover connecting and
# unacknowledged sends, not a peer that accepts and never answers.
ANSWER_WITHIN_S = 4.0
MESSAGE = "the city's database is unavailable for a moment; try again shortly"

# What a database that is away raises, through SQLAlchemy or psycopg (the fast path's pool
# raises PoolTimeout, an OperationalError, when no connection comes within its timeout).
UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)

_last_logged = [0.0]


def hanging() -> psycopg.OperationalError:
    """What a wait past :data:`ANSWER_WITHIN_S` raises: answered as the database away (503)."""
    return psycopg.OperationalError(f"the database did not answer within {ANSWER_WITHIN_S:.0f} s")


async def within_deadline(waiting: Awaitable[T]) -> T:
    """``waiting``, or :func:`hanging` after :data:`ANSWER_WITHIN_S` (it is cancelled; work
    already in a thread finishes there when the database answers)."""
    try:
        return await asyncio.wait_for(waiting, ANSWER_WITHIN_S)
    except TimeoutError:
        raise hanging() from None


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """503 with ``Retry-After``; under ``/open311/`` the standard's error document."""
    now = time.monotonic()
    if now - _last_logged[0] > 5:  # one line per 5 s, not one per request, during an outage
        _last_logged[0] = now
        log.warning("database unavailable (%s %s): %s", request.method, request.url.path, exc)
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if request.url.path.startswith("/open311/"):
        from intake.open311.edges import format_of
        from intake.open311.render import errors

        return errors(format_of(request.url.path), 503, [MESSAGE], headers)
    return JSONResponse({"detail": MESSAGE}, status_code=503, headers=headers)
