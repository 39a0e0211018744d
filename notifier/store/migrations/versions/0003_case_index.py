"""An index on (council, case_reference): withdrawals and a case's history look notifications up
by case.

Revision ID: 0003_case_index
Revises: 0002_letters
"""

from __future__ import annotations

from alembic import op

revision = "0003_case_index"
down_revision = "0002_letters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_case", "notifications", ["council", "case_reference"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_case", table_name="notifications")
