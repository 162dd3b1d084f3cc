"""One engine per process, and sessions handed out explicitly.

The embedded default is a SQLite file in WAL mode so the API, the worker and the dashboard can
share it on one machine; ``postgresql+psycopg://`` selects PostgreSQL + PostGIS for production.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from urbangrid.settings import Settings, get_settings

_engines: dict[str, Engine] = {}


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while the worker writes; busy_timeout makes a second writer wait
    # for the lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # The evaluation's day numbers need the city's time zone, which SQLite does not know.
    from urbangrid.portable_sql import SQLITE_LOCAL_DAY, sqlite_local_day

    dbapi_connection.create_function(SQLITE_LOCAL_DAY, 2, sqlite_local_day, deterministic=True)


def make_engine(url: str) -> Engine:
    """A new engine for ``url`` (tests and tools; processes use :func:`get_engine`)."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        # A connection is tested before use and replaced after half an hour, so the first
        # requests after the database comes back do not meet connections it dropped.
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_size=10,
        max_overflow=20,
        # Waiting for a pooled connection, or for a new one, ends in seconds: the request then
        # answers 503 (intake/outages.py) instead of hanging.
        pool_timeout=POOL_TIMEOUT_S,
        connect_args=PG_CONNECT_ARGS,
    )


# How long to wait for a free pooled connection before answering 503.
POOL_TIMEOUT_S = 3.0
# libpq's limits (seconds; tcp_user_timeout in ms): a database that does not answer a connect
# within 3 s, or a link on which sent data stays unacknowledged for 5 s, is away. Keepalives
# notice a silent peer while a query waits.
PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 3,
    "tcp_user_timeout": 5000,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}


def get_engine(settings: Settings | None = None) -> Engine:
    """The process's engine for the configured database, created on first use."""
    url = (settings or get_settings()).effective_database_url
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = make_engine(url)
    return engine


def dispose_engines() -> None:
    """Drop every pooled connection (after fork, and at the end of tests)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
