"""Sending later: the time a notification waits for, and the events kept until their send time.

Revision ID: 0004_scheduled
Revises: 0003_case_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_scheduled"
down_revision = "0003_case_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "notifications", sa.Column("waits_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "scheduled_events",
        sa.Column("event_source", sa.String(length=500), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("council", sa.String(length=40), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_source", "event_id", name="pk_scheduled_events"),
    )
    op.create_index("ix_scheduled_events_due_at", "scheduled_events", ["due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_scheduled_events_due_at", table_name="scheduled_events")
    op.drop_table("scheduled_events")
    op.drop_column("notifications", "waits_until")
