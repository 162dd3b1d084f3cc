"""Many rows in one statement: how a batch of routed cases or swept clocks is written.

On PostgreSQL the rows are streamed with ``COPY … FROM STDIN`` on the session's own connection
(inside its transaction): psycopg formats them in C, where ``executemany`` sends a statement per
row (a third of a batch's routing time went there) and an ``unnest`` of arrays spends as long
again dumping the arrays in Python. Other databases (the embedded SQLite) take the driver's
``executemany``, which is already a loop in C there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, column names of ``table``) at once.

    Values go to the driver as they are: instants must be aware, as every column here takes.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), list(rows))
        return
    names = tuple(rows[0])
    unknown = [name for name in names if name not in table.c]
    if unknown:
        raise KeyError(f"{table.name} has no column {unknown[0]!r}")
    quoted = ", ".join(f'"{name}"' for name in names)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    statement = f'COPY "{table.name}" ({quoted}) FROM STDIN'
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])
