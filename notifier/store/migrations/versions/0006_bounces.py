"""bounces: the event kept with an email notification until its bounce window has passed

Revision ID: 0006_bounces
Revises: 0005_send_intent
Create Date: 2026-12-01 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_bounces"
down_revision = "0005_send_intent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kept_event", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("kept_event")
