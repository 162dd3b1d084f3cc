"""A counter of changes to the reference data, so workers cache it and still see every change.

Triggers on the categories, routing rules, departments and calendar tables move
``reference_version.version`` by one per statement that changes them, whoever writes them (the
rules loader, the calendar command, the staff API, a hand-written SQL fix).

Revision ID: 0013_reference_version
Revises: 0012_staff_loop
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_reference_version"
down_revision = "0012_staff_loop"
branch_labels = None
depends_on = None

WATCHED = ("category", "routing_rule", "department", "calendar_day", "calendar_year")
OPS = ("insert", "update", "delete")

PG_FUNCTION = """
CREATE FUNCTION urbangrid_reference_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reference_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END $$
"""


def _name(table: str, verb: str) -> str:
    return f"reference_changed_{table}_{verb}"


def upgrade() -> None:
    op.create_table(
        "reference_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.execute("INSERT INTO reference_version (id, version) VALUES (1, 0)")
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(PG_FUNCTION)
    for table in WATCHED:
        for verb in OPS:
            if postgres:
                op.execute(
                    f"CREATE TRIGGER {_name(table, verb)} AFTER {verb.upper()} ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION urbangrid_reference_changed()"
                )
            else:
                op.execute(
                    f"CREATE TRIGGER {_name(table, verb)} AFTER {verb.upper()} ON {table} "
                    "BEGIN UPDATE reference_version SET version = version + 1 WHERE id = 1; END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        for verb in OPS:
            op.execute(
                f"DROP TRIGGER IF EXISTS {_name(table, verb)}"
                + (f" ON {table}" if postgres else "")
            )
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS urbangrid_reference_changed()")
    op.drop_table("reference_version")
