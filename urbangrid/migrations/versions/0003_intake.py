"""Intake: photos, API keys, idempotency keys, notices, major classes, and the report's channel.

Revision ID: 0003_intake
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from urbangrid.core.columns import UTCDateTime

revision = "0003_intake"
down_revision = "0001"
branch_labels = None
depends_on = None

_CASE_COLUMNS = ("channel", "client_id", "contact", "address", "media_url", "duplicate_of")

# Open cases that are not themselves duplicates: what a new report may join. Frozen here as it
# was when this revision was written; urbangrid.core.tables.cases.OPEN_NOT_DUPLICATE must say the
# same (a test checks), or a new revision must rebuild the index.
OPEN_NOT_DUPLICATE = (
    "duplicate_of IS NULL AND state IN ('CHECKED', 'DISPATCHED', 'FILED', 'HANDLED', "
    "'IN_PROGRESS', 'REPORTED', 'RETURNED', 'SUSPENDED', 'VERIFYING')"
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Plain ADD COLUMN on SQLite too: a batch rebuild of ``cases`` would drop the table, and with
    # foreign keys on that cascades to every event.
    op.add_column(
        "cases", sa.Column("channel", sa.String(16), nullable=False, server_default="api")
    )
    op.add_column("cases", sa.Column("client_id", sa.String(100)))
    op.add_column("cases", sa.Column("contact", sa.String(200)))
    op.add_column("cases", sa.Column("address", sa.String(500)))
    op.add_column("cases", sa.Column("media_url", sa.String(1000)))
    # SQLite cannot add a constraint to an existing table; there the application keeps the link.
    link = [] if sqlite else [sa.ForeignKey("cases.id", name="fk_cases_duplicate_of")]
    op.add_column("cases", sa.Column("duplicate_of", sa.Integer, *link))
    joined = sa.text("duplicate_of IS NOT NULL")
    op.create_index(
        "ix_cases_duplicate_of",
        "cases",
        ["duplicate_of"],
        postgresql_where=joined,
        sqlite_where=joined,
    )
    op.create_index(
        "ix_cases_open_nearby",
        "cases",
        ["category_code", "lat"],
        postgresql_where=sa.text(OPEN_NOT_DUPLICATE),
        sqlite_where=sa.text(OPEN_NOT_DUPLICATE),
    )
    # Notices and Open311's servicerequestupdates read recent events by time.
    op.create_index("ix_case_events_at", "case_events", ["at"])
    op.add_column(
        "category", sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true())
    )

    op.create_table(
        "major_class",
        sa.Column("family", sa.String(16), primary_key=True),
        sa.Column("major", sa.String(2), primary_key=True),
        sa.Column("name_zh", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
    )

    op.create_table(
        "photo",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("case_events.id")),
        sa.Column("kind", sa.String(8), nullable=False, server_default="before"),
        sa.Column("state", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("raw_key", sa.String(200)),
        sa.Column("raw_sha256", sa.String(64), nullable=False),
        sa.Column("raw_format", sa.String(8), nullable=False),
        sa.Column("raw_bytes", sa.Integer, nullable=False),
        sa.Column("gps_lat", sa.Float),
        sa.Column("gps_lon", sa.Float),
        sa.Column("digest", sa.String(64)),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("error", sa.String(500), nullable=False, server_default=""),
        sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime()),
        sa.Column("processed_at", UTCDateTime()),
    )
    op.create_index("ix_photo_case", "photo", ["case_id", "id"])
    op.create_index("ix_photo_digest", "photo", ["digest"])
    op.create_index("ix_photo_pending", "photo", ["state", "published_at"])

    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime()),
    )

    op.create_table(
        "idempotency_key",
        sa.Column("client_id", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column(
            "case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"])

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "event_id",
            sa.Integer,
            sa.ForeignKey("case_events.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "followed_case_id",
            sa.Integer,
            sa.ForeignKey("cases.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(8), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
        sa.UniqueConstraint("event_id", "case_id", name="uq_notification_event_case"),
    )
    op.create_index("ix_notification_due", "notification", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in ("notification", "idempotency_key", "api_key", "photo", "major_class"):
        op.drop_table(table)
    op.drop_index("ix_case_events_at", table_name="case_events")
    op.drop_index("ix_cases_open_nearby", table_name="cases")
    op.drop_index("ix_cases_duplicate_of", table_name="cases")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_cases_duplicate_of", "cases", type_="foreignkey")
    for column in _CASE_COLUMNS:
        op.drop_column("cases", column)
    op.drop_column("category", "active")
