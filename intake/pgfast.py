"""PostgreSQL's fast path for a report without photos.

One statement, one round trip, on an asynchronous psycopg pool in autocommit: it looks for an
open case of the same category near the report (the cheap box test) and, only when there is
none, inserts the case, its ``submit`` event and its idempotency key together. When something
is nearby it inserts nothing; the candidates are then measured exactly and the report inserted
with ``duplicate_of`` set or not, two more round trips for the few reports that need them.

Why not the ORM: building and executing those statements through SQLAlchemy cost about 1.3 ms
of CPU per report against 0.15 ms here, and the API's single event loop is CPU-bound.
``tests/intake/test_fastpath.py`` holds both paths to writing the same rows.

Group commit: reports that arrive while the writers are busy are stored together, a few writers
each sending everything waiting as one pipelined transaction (one round trip, one commit, one
WAL flush for the lot). In a burst (a storm, a festival night) the database does a third less
work per report and the API holds fewer connections; when reports trickle in, each goes alone
at once, as before. The statements run in order in one transaction, so a report still sees an
open case stored by an earlier one of its batch. Should any statement fail (a retried
idempotency key, most often), the transaction stores nothing and each report of the batch is
written alone, so only the one at fault fails.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from psycopg import OperationalError, errors
from psycopg_pool import AsyncConnectionPool
from psycopg_pool.base import AttemptWithBackoff
from sqlalchemy.engine import make_url

from intake.outages import within_deadline
from urbangrid.core.db import PG_CONNECT_ARGS, POOL_TIMEOUT_S
from urbangrid.core.tables.cases import OPEN_NOT_DUPLICATE

log = logging.getLogger(__name__)

# Reports stored in one transaction at most: enough to absorb a burst, few enough that the
# first of them does not wait long for the last.
MAX_BATCH = 32

_STATEMENT = f"""
WITH near AS (
    SELECT 1 FROM cases
    WHERE category_code = %(category_code)s::text AND {OPEN_NOT_DUPLICATE}
      AND lat BETWEEN %(min_lat)s::float8 AND %(max_lat)s::float8
      AND lon BETWEEN %(min_lon)s::float8 AND %(max_lon)s::float8
      AND created_at >= %(since)s::timestamptz
    LIMIT 1
), c AS (
    INSERT INTO cases (
        tracking_token, category_code, description, input_crs, input_lat, input_lon, lat, lon,
        location, state, created_at, updated_at, publish_attempts, rework_count, return_count,
        extension_count, reopen_count, escalation_level, channel, client_id, contact, address,
        media_url, duplicate_of
    )
    SELECT %(tracking_token)s::text, %(category_code)s::text, %(description)s::text,
        %(input_crs)s::text, %(input_lat)s::float8, %(input_lon)s::float8, %(lat)s::float8,
        %(lon)s::float8, ST_SetSRID(ST_MakePoint(%(lon)s::float8, %(lat)s::float8), 4326),
        %(state)s::text, %(created_at)s::timestamptz, %(updated_at)s::timestamptz,
        0, 0, 0, 0, 0, 0, %(channel)s::text, %(client_id)s::text, %(contact)s::text,
        %(address)s::text, %(media_url)s::text, %(duplicate_of)s::int
    WHERE NOT EXISTS (SELECT 1 FROM near)
    RETURNING id
), e AS (
    INSERT INTO case_events (case_id, at, action, from_state, to_state, actor, role, note, detail)
    SELECT id, %(created_at)s::timestamptz, 'submit', NULL, 'REPORTED', %(actor)s::text,
        'citizen', %(note)s::text, %(detail)s::text
    FROM c
), k AS (
    INSERT INTO idempotency_key (client_id, key, fingerprint, case_id, created_at)
    SELECT %(key_scope)s::text, %(key)s::text, %(fingerprint)s::text, id,
        %(created_at)s::timestamptz
    FROM c
    WHERE %(key)s::text IS NOT NULL
)
SELECT id FROM c
"""


_CANDIDATES = f"""
SELECT id, lat, lon FROM cases
WHERE category_code = %(category_code)s::text AND {OPEN_NOT_DUPLICATE}
  AND lat BETWEEN %(min_lat)s::float8 AND %(max_lat)s::float8
  AND lon BETWEEN %(min_lon)s::float8 AND %(max_lon)s::float8
  AND created_at >= %(since)s::timestamptz
ORDER BY id LIMIT 100
"""


class KeyTaken(Exception):
    """The idempotency key is already stored: the report was submitted before."""


_Pending = tuple[dict[str, Any], "asyncio.Future[int | None]"]

# How long the pool waits at most between two tries to reconnect after losing a connection.
RECONNECT_EVERY_S = 1.0


class _SteadyAttempt(AttemptWithBackoff):
    """Reconnection tries at most ``RECONNECT_EVERY_S`` apart. psycopg_pool doubles the wait
    after each failure without a ceiling, so after a 40 s outage its next try came up to 23 s
    after the database was back, and every report in between was answered 503."""

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_EVERY_S)


class _CityPool(AsyncConnectionPool):
    async def _add_connection(
        self, attempt: AttemptWithBackoff | None, growing: bool = False
    ) -> None:
        # psycopg_pool 3.2-3.3 passes the attempt along each retry: the first one made here
        # keeps its ceiling for the whole reconnection.
        await super()._add_connection(
            attempt or _SteadyAttempt(timeout=self.reconnect_timeout), growing
        )


@dataclass
class FastStore:
    pool: AsyncConnectionPool
    writers: int = 4
    _queue: asyncio.Queue[_Pending] = field(default_factory=asyncio.Queue)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    batches: int = 0  # transactions written, for the benchmark's figures
    stored: int = 0

    @classmethod
    def for_url(cls, url: str, size: int, writers: int = 4) -> FastStore:
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        pool = _CityPool(
            conninfo,
            min_size=size,
            max_size=size,
            kwargs={"autocommit": True, **PG_CONNECT_ARGS},
            open=False,
            name="urbangrid-intake",
            # No connection within this: PoolTimeout, which the API answers with a 503.
            timeout=POOL_TIMEOUT_S,
            # Each connection is tested as it is handed out: after an outage the pool's dead
            # connections are replaced instead of failing the first reports.
            check=AsyncConnectionPool.check_connection,
        )
        return cls(pool, writers=max(1, min(writers, size)))

    async def open(self) -> None:
        await self.pool.open()
        self._tasks = [
            asyncio.create_task(self._write_loop(), name=f"urbangrid-intake-writer-{n}")
            for n in range(self.writers)
        ]

    async def close(self) -> None:
        """Store what is waiting, then stop the writers and close the pool."""
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.pool.close()

    async def insert(self, values: dict[str, Any]) -> int | None:
        """The new case's id, or None when an open case of the category is nearby.

        ``values`` holds the case's and the event's columns by name, the idempotency key
        (``key_scope``, ``key``, ``fingerprint``) and the box and window to look in. Raises
        :class:`KeyTaken` when the idempotency key is already stored.
        """
        if not self._tasks:
            raise RuntimeError("the intake store is not open")
        done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((values, done))
        # Shielded: a resident who hangs up does not take the report out of a batch half sent.
        try:
            return await within_deadline(asyncio.shield(done))
        except OperationalError:
            # Withdrawn unless a writer has sent it already: the writers skip it. One already
            # sent may still be stored when the database answers, and the resident's retry with
            # the same Idempotency-Key then gets that case, not a second one.
            done.cancel()
            raise

    async def candidates(self, values: dict[str, Any]) -> list[tuple[int, float, float]]:
        """Open cases of the category in the box: (id, lat, lon) for the exact measure."""

        async def read() -> list[tuple[int, float, float]]:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(_CANDIDATES, values)
                return [(int(r[0]), float(r[1]), float(r[2])) for r in await cursor.fetchall()]

        return await within_deadline(read())

    # -- the writers ----------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            taken = [await self._queue.get()]
            while len(taken) < MAX_BATCH and not self._queue.empty():
                taken.append(self._queue.get_nowait())
            # Reports whose resident was already told 503 (the database hung) are not sent.
            batch = [pending for pending in taken if not pending[1].done()]
            try:
                if not batch:
                    continue
                if len(batch) == 1:
                    await self._write_one(*batch[0])
                else:
                    await self._write_batch(batch)
            except Exception:  # never lose a writer: the futures carry each report's error
                log.exception("intake writer failed on a batch of %s", len(batch))
                for _, done in batch:
                    if not done.done():
                        done.set_exception(RuntimeError("the report could not be stored"))
            finally:
                for _ in taken:
                    self._queue.task_done()

    async def _write_one(self, values: dict[str, Any], done: asyncio.Future[int | None]) -> None:
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(_STATEMENT, values)
                row = await cursor.fetchone()
        except errors.UniqueViolation as exc:
            _fail(done, KeyTaken() if exc.diag.table_name == "idempotency_key" else exc)
            return
        except Exception as exc:
            _fail(done, exc)
            return
        self.batches += 1
        self.stored += 1
        _succeed(done, None if row is None else int(row[0]))

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            async with self.pool.connection() as conn, conn.transaction():
                async with conn.pipeline():
                    cursors = [await conn.execute(_STATEMENT, values) for values, _ in batch]
                rows = [await cursor.fetchone() for cursor in cursors]
        except errors.Error:
            # Nothing of the batch was stored: each alone, so that only the one at fault fails.
            for values, done in batch:
                await self._write_one(values, done)
            return
        self.batches += 1
        self.stored += len(batch)
        for (_, done), row in zip(batch, rows, strict=True):
            _succeed(done, None if row is None else int(row[0]))


def _succeed(done: asyncio.Future[int | None], value: int | None) -> None:
    if not done.done():
        done.set_result(value)


def _fail(done: asyncio.Future[int | None], exc: BaseException) -> None:
    if not done.done():
        done.set_exception(exc)
