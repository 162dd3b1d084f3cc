"""The evaluation per role from rollups: clock facts, per-day step sums, and clocks mark cases.

Every write of a stage clock in a column the evaluation reads marks its case dirty, as a write
of the case does, so the refresher folds the clock in and readers overlay it meanwhile. The
facts start empty: the next full refresh builds them (``urbangrid metrics refresh --full``);
until then the evaluation per role counts ``sla_clock`` directly, as before.

Revision ID: 0010_step_rollups
Revises: 0009_summaries
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_step_rollups"
down_revision = "0009_summaries"
branch_labels = None
depends_on = None

WATCHED = "case_id, stage, started_at, stopped_at, stopped_by, stopped_role, deadline_at, paused_at"

PG_TRIGGERS = [
    """
    CREATE FUNCTION urbangrid_dirty_new_clocks() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO metric_dirty_cases (case_id) SELECT DISTINCT case_id FROM new_clocks;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION urbangrid_dirty_clock() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO metric_dirty_cases (case_id) VALUES (OLD.case_id);
        ELSE
            INSERT INTO metric_dirty_cases (case_id) VALUES (NEW.case_id);
        END IF;
        RETURN NULL;
    END $$
    """,
    # Per statement for inserts: a bulk load of clocks adds one INSERT ... SELECT.
    "CREATE TRIGGER metric_dirty_clocks_insert AFTER INSERT ON sla_clock "
    "REFERENCING NEW TABLE AS new_clocks FOR EACH STATEMENT "
    "EXECUTE FUNCTION urbangrid_dirty_new_clocks()",
    f"CREATE TRIGGER metric_dirty_clocks_update AFTER UPDATE OF {WATCHED} ON sla_clock "
    "FOR EACH ROW EXECUTE FUNCTION urbangrid_dirty_clock()",
    "CREATE TRIGGER metric_dirty_clocks_delete AFTER DELETE ON sla_clock "
    "FOR EACH ROW EXECUTE FUNCTION urbangrid_dirty_clock()",
]

SQLITE_TRIGGERS = [
    "CREATE TRIGGER metric_dirty_clocks_insert AFTER INSERT ON sla_clock "
    "BEGIN INSERT INTO metric_dirty_cases (case_id) VALUES (NEW.case_id); END",
    f"CREATE TRIGGER metric_dirty_clocks_update AFTER UPDATE OF {WATCHED} ON sla_clock "
    "BEGIN INSERT INTO metric_dirty_cases (case_id) VALUES (NEW.case_id); END",
    "CREATE TRIGGER metric_dirty_clocks_delete AFTER DELETE ON sla_clock "
    "BEGIN INSERT INTO metric_dirty_cases (case_id) VALUES (OLD.case_id); END",
]

TRIGGERS = (
    "metric_dirty_clocks_insert",
    "metric_dirty_clocks_update",
    "metric_dirty_clocks_delete",
)
PG_FUNCTIONS = ("urbangrid_dirty_new_clocks", "urbangrid_dirty_clock")


def upgrade() -> None:
    op.create_table(
        "metric_clock_facts",
        sa.Column("clock_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("department_code", sa.String(64)),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("stopped_role", sa.String(32)),
        sa.Column("stopped_by", sa.String(100)),
        sa.Column("deadline_day", sa.Integer, nullable=False),
        sa.Column("stopped_day", sa.Integer),
        sa.Column("on_time", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float),
    )
    op.create_index("ix_metric_clock_facts_case", "metric_clock_facts", ["case_id"])
    op.create_table(
        "metric_step_rollups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("department_code", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("stopped_role", sa.String(32), nullable=False),
        sa.Column("stopped_by", sa.String(100), nullable=False),
        sa.Column("day1", sa.Integer, nullable=False),
        sa.Column("day2", sa.Integer, nullable=False),
        sa.Column("on_time", sa.Integer, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )
    op.create_index(
        "ux_metric_step_rollups_key",
        "metric_step_rollups",
        ["department_code", "stage", "stopped_role", "stopped_by", "day1", "day2", "on_time"],
        unique=True,
    )
    op.create_index("ix_metric_step_rollups_day1", "metric_step_rollups", ["day1"])
    op.create_index("ix_metric_step_rollups_day2", "metric_step_rollups", ["day2"])
    statements = PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON sla_clock" if postgres else ""))
    if postgres:
        for function in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_table("metric_step_rollups")
    op.drop_table("metric_clock_facts")
