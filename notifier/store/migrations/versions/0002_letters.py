"""letters: the print spool and the batches handed to the print provider

Revision ID: 0002_letters
Revises: 0001
Create Date: 2026-11-30 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_letters"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("letters", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_batches")),
        sa.UniqueConstraint("name", name=op.f("uq_letter_batches_name")),
    )
    with op.batch_alter_table("letter_batches", schema=None) as batch_op:
        batch_op.create_index("ix_letter_batches_state", ["state"], unique=False)

    op.create_table(
        "letter_spool",
        sa.Column("notification_id", sa.String(length=36), nullable=False),
        sa.Column("council", sa.String(length=40), nullable=False),
        sa.Column("postage", sa.String(length=20), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("spooled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["letter_batches.id"], name=op.f("fk_letter_spool_batch_id")
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_letter_spool_notification_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_letter_spool")),
    )
    with op.batch_alter_table("letter_spool", schema=None) as batch_op:
        batch_op.create_index("ix_letter_spool_batch", ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("letter_spool", schema=None) as batch_op:
        batch_op.drop_index("ix_letter_spool_batch")
    op.drop_table("letter_spool")
    with op.batch_alter_table("letter_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_letter_batches_state")
    op.drop_table("letter_batches")
