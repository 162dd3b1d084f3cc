"""Rollups of the evaluation: per-case facts, events, department-day sums, and dirty cases.

Triggers append a case's id to ``metric_dirty_cases`` whenever a case is written in a column the
measures read, or one of its counted events (dispatch, re-dispatch, return, rating) is added, on
every path alike: the API, the workers, history imports and COPY. The refresher folds those
cases into the facts; readers overlay the ones not yet folded, so no figure waits for it. The
facts start empty: run ``urbangrid metrics refresh --full`` (or let the scheduler's first refresh
build them); until then the evaluation counts from ``cases`` as before.

A later migration that rebuilds ``cases`` or ``case_events`` on SQLite (``batch_alter_table``
copies the table and drops its triggers) must create these triggers again, or the figures of
cases written afterwards would wait for a full refresh.

Revision ID: 0007_rollups
Revises: 0006_merge
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from urbangrid.core.columns import UTCDateTime

revision = "0007_rollups"
down_revision = "0006_merge"
branch_labels = None
depends_on = None

# The columns of ``cases`` the measures read; a write to any other column changes no figure.
WATCHED = (
    "state, created_at, filed_at, dispatched_at, handled_at, closed_at, deadline_at, "
    "case_deadline_at, department_code, l1_code, l2_code, l3_code, l4_code, category_code, "
    "extension_count, rework_count, reopen_count"
)
COUNTED_ACTIONS = "('dispatch', 'redispatch', 'return', 'rate')"

PG_TRIGGERS = [
    """
    CREATE FUNCTION urbangrid_dirty_new_cases() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO metric_dirty_cases (case_id) SELECT id FROM new_cases;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION urbangrid_dirty_case() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO metric_dirty_cases (case_id) VALUES (OLD.id);
        ELSE
            INSERT INTO metric_dirty_cases (case_id) VALUES (NEW.id);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION urbangrid_dirty_new_events() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO metric_dirty_cases (case_id)
        SELECT DISTINCT case_id FROM new_events WHERE action IN """
    + COUNTED_ACTIONS
    + """;
        RETURN NULL;
    END $$
    """,
    # Per statement for inserts, so a COPY of a million cases adds one INSERT ... SELECT.
    "CREATE TRIGGER metric_dirty_cases_insert AFTER INSERT ON cases "
    "REFERENCING NEW TABLE AS new_cases FOR EACH STATEMENT "
    "EXECUTE FUNCTION urbangrid_dirty_new_cases()",
    f"CREATE TRIGGER metric_dirty_cases_update AFTER UPDATE OF {WATCHED} ON cases "
    "FOR EACH ROW EXECUTE FUNCTION urbangrid_dirty_case()",
    "CREATE TRIGGER metric_dirty_cases_delete AFTER DELETE ON cases "
    "FOR EACH ROW EXECUTE FUNCTION urbangrid_dirty_case()",
    "CREATE TRIGGER metric_dirty_events_insert AFTER INSERT ON case_events "
    "REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT "
    "EXECUTE FUNCTION urbangrid_dirty_new_events()",
]

SQLITE_TRIGGERS = [
    "CREATE TRIGGER metric_dirty_cases_insert AFTER INSERT ON cases "
    "BEGIN INSERT INTO metric_dirty_cases (case_id) VALUES (NEW.id); END",
    f"CREATE TRIGGER metric_dirty_cases_update AFTER UPDATE OF {WATCHED} ON cases "
    "BEGIN INSERT INTO metric_dirty_cases (case_id) VALUES (NEW.id); END",
    "CREATE TRIGGER metric_dirty_cases_delete AFTER DELETE ON cases "
    "BEGIN INSERT INTO metric_dirty_cases (case_id) VALUES (OLD.id); END",
    "CREATE TRIGGER metric_dirty_events_insert AFTER INSERT ON case_events "
    f"WHEN NEW.action IN {COUNTED_ACTIONS} "
    "BEGIN INSERT INTO metric_dirty_cases (case_id) VALUES (NEW.case_id); END",
]

TRIGGERS = {
    "metric_dirty_cases_insert": "cases",
    "metric_dirty_cases_update": "cases",
    "metric_dirty_cases_delete": "cases",
    "metric_dirty_events_insert": "case_events",
}
PG_FUNCTIONS = ("urbangrid_dirty_new_cases", "urbangrid_dirty_case", "urbangrid_dirty_new_events")

FACT_DAYS = (
    "created_day",
    "filed_day",
    "deadline_day",
    "closed_day",
    "handling_deadline_day",
    "handled_day",
)


def codes() -> list[sa.Column[str]]:
    return [
        sa.Column("l1_code", sa.String(32)),
        sa.Column("l2_code", sa.String(32)),
        sa.Column("l3_code", sa.String(32)),
        sa.Column("l4_code", sa.String(32)),
        sa.Column("category_code", sa.String(32)),
    ]


def upgrade() -> None:
    op.create_table(
        "metric_case_facts",
        sa.Column("case_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("department_code", sa.String(64)),
        *codes(),
        sa.Column("created_day", sa.Integer, nullable=False),
        sa.Column("filed_day", sa.Integer),
        sa.Column("extended", sa.Integer, nullable=False),
        sa.Column("deadline_day", sa.Integer),
        sa.Column("deadline_at", UTCDateTime()),
        sa.Column("closed_day", sa.Integer),
        sa.Column("closed_on_time", sa.Integer, nullable=False),
        sa.Column("reopened", sa.Integer, nullable=False),
        sa.Column("handling_deadline_day", sa.Integer),
        sa.Column("handled_day", sa.Integer),
        sa.Column("handled_on_time", sa.Integer, nullable=False),
        sa.Column("reworked", sa.Integer, nullable=False),
        sa.Column("handling_seconds", sa.Float),
    )
    for day in FACT_DAYS:
        op.create_index(f"ix_metric_case_facts_{day}", "metric_case_facts", [day])
    op.create_table(
        "metric_event_facts",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.Integer, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("department_code", sa.String(64)),
        sa.Column("score", sa.Float),
        *codes(),
    )
    op.create_index("ix_metric_event_facts_day", "metric_event_facts", ["day"])
    op.create_index("ix_metric_event_facts_case", "metric_event_facts", ["case_id"])
    op.create_table(
        "metric_rollups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("department_code", sa.String(64), nullable=False),
        sa.Column("kind", sa.Integer, nullable=False),
        sa.Column("day1", sa.Integer, nullable=False),
        sa.Column("day2", sa.Integer, nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )
    op.create_index(
        "ux_metric_rollups_key",
        "metric_rollups",
        ["department_code", "kind", "day1", "day2", "flags", "score"],
        unique=True,
    )
    op.create_index("ix_metric_rollups_day1", "metric_rollups", ["day1"])
    op.create_index("ix_metric_rollups_day2", "metric_rollups", ["day2"])
    op.create_table(
        "metric_dirty_cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "metric_rollup_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("timezone", sa.String(64)),
        sa.Column("built_at", UTCDateTime()),
        sa.Column("refreshed_at", UTCDateTime()),
    )
    statements = PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for name, table in TRIGGERS.items():
        op.execute(
            f"DROP TRIGGER IF EXISTS {name}"
            + (f" ON {table}" if op.get_bind().dialect.name == "postgresql" else "")
        )
    if op.get_bind().dialect.name == "postgresql":
        for function in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    for table in (
        "metric_rollup_state",
        "metric_dirty_cases",
        "metric_rollups",
        "metric_event_facts",
        "metric_case_facts",
    ):
        op.drop_table(table)
