"""Departments' English names: what the dashboard and the API show when the language is English.

A database seeded before this held the city departments as "城管执法 City management
enforcement"; they are split into the two names here, and the demo's street offices and district
bureaus get the English names a fresh seed gives them. Any other department keeps its name and
has no English one: English readers see the Chinese name.

Revision ID: 0015_department_name_en
Revises: 0014_photo_blur
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_department_name_en"
down_revision = "0014_photo_blur"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): SQLite keeps the table's triggers that way.
    op.add_column("department", sa.Column("name_en", sa.String(200), nullable=True))
    from urbangrid.cases.seed import english_office_name
    from urbangrid.domain.taxonomy import load_taxonomy

    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT code, name, kind FROM department")).all()
    kinds = load_taxonomy().department_kinds
    changes: list[dict[str, str]] = []
    for code, name, kind in rows:
        names = kinds.get(code)
        english = ""
        if names and name == f"{names['zh']} {names['en']}":
            name, english = names["zh"], names["en"]
        elif code.startswith("so-") and name.endswith("办事处"):
            english = english_office_name(name.removesuffix("办事处"), "Office")
        elif kind == "sanitation" and name.endswith("绿化市容局"):
            english = english_office_name(
                name.removesuffix("绿化市容局"), "Landscaping and City Appearance Bureau"
            )
        if english:
            changes.append({"code": code, "name": name, "name_en": english})
    if changes:
        connection.execute(
            sa.text("UPDATE department SET name = :name, name_en = :name_en WHERE code = :code"),
            changes,
        )


def downgrade() -> None:
    op.drop_column("department", "name_en")
