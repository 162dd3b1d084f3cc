"""How the evaluation's queries are run: PostgreSQL planner settings, the side thread that
reads events while cases are read, and the garbage collector held off while large results are
built. Nothing here changes a figure; everything here changes how long it takes.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.selectable import CompoundSelect
from sqlmodel import Session


def planner_for_metrics(session: Session | Connection) -> None:
    """Tune PostgreSQL's planner for these queries, for the current transaction only.

    JIT compiles the sub-second aggregates for longer than they run; and the default
    random_page_cost (4, for spinning disks) makes the planner scan the whole cases table rather
    than look up the period's events' cases by primary key, twice as slow on cached pages.
    """
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL random_page_cost = 1.1"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


# The events' counts of a table of counts run on a second connection while the cases' counts
# run on the session's: on PostgreSQL each statement is one backend on one core, and a city-wide
# table of base cells spends a third of its time in the events' aggregate.
_BESIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="urbangrid-metrics")


def _new_pool_after_fork() -> None:
    # A forked child (a Celery or web worker) inherits the pool but not its threads.
    global _BESIDE
    _BESIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="urbangrid-metrics")


os.register_at_fork(after_in_child=_new_pool_after_fork)


def _beside(session: Session, query: Select[Any]) -> Callable[[], Sequence[Sequence[Any]]]:
    """Start ``query`` beside the session's next statement; a function that waits for its rows.

    Only on PostgreSQL with a session bound to an engine: it reads what is committed, as a second
    statement of the session's own transaction would (READ COMMITTED). Elsewhere (SQLite: one
    writer, and a test's session may hold rows not yet committed) the query runs in the session
    when its rows are asked for.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or not isinstance(bind, Engine):
        return lambda: count_rows(session.connection(), query)

    def run() -> Sequence[Sequence[Any]]:
        with bind.connect() as connection:
            planner_for_metrics(connection)
            return count_rows(connection, query)

    return _BESIDE.submit(run).result


def count_rows(
    connection: Connection, query: Select[Any] | CompoundSelect[Any]
) -> Sequence[Sequence[Any]]:
    """A table of counts' rows as plain tuples, sent in PostgreSQL's binary format.

    Its columns (a group's text key, integers, a float) need none of SQLAlchemy's conversions,
    and for tens of thousands of base cells, making a Row of each and parsing every count from
    text cost as much as the counting itself. Its parameters (integers, floats, text and aware
    instants) go to psycopg as they are, which is what SQLAlchemy would send.
    """
    if connection.dialect.name == "postgresql":
        compiled = query.compile(dialect=connection.dialect)
        statement = str(compiled)
        if "POSTCOMPILE" not in statement:  # no IN-list to expand, as none of ours has
            driver = connection.connection.driver_connection
            assert driver is not None
            with driver.cursor(binary=True) as cursor:
                cursor.execute(statement, compiled.construct_params())
                return cursor.fetchall()  # type: ignore[no-any-return]
    return connection.execute(query).all()


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause the cycle collector while a table of counts is built: tens of thousands of rows,
    lists and Counts, none in a cycle, would otherwise be walked again and again as they grow
    (a third of the time of a city-wide table of base cells)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
