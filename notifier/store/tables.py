"""The database schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("council", String(40), primary_key=True),
    Column("customer_id", String(100), primary_key=True),
    Column("name", String(200)),
    Column("email", String(320)),
    Column("email_verified", Boolean, nullable=False, default=False),
    Column("mobile", String(20)),
    Column("mobile_verified", Boolean, nullable=False, default=False),
    Column("address", JSON),
    Column("address_verified", Boolean, nullable=False, default=False),
    Column("channel_order", JSON, nullable=False),
    Column("topic_opt_outs", JSON, nullable=False, default=list),
    Column("sms_opted_out", Boolean, nullable=False, default=False),
    Column("quiet_hours_start", String(5)),
    Column("quiet_hours_end", String(5)),
    Column("language", String(10), nullable=False, default="en"),
    Column("accessible_format", String(20), nullable=False, default="standard"),
    Column("do_not_contact", Boolean, nullable=False, default=False),
    Column("deceased", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_customers_mobile", customers.c.mobile)

customer_audit = Table(
    "customer_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("council", String(40), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(20), nullable=False),
    Column("fields", JSON, nullable=False),
)
Index("ix_customer_audit_customer", customer_audit.c.council, customer_audit.c.customer_id)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("council", String(40), nullable=False),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("name", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("event_source", String(500), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("council", String(40), nullable=False),
    Column("customer_id", String(100)),
    Column("case_reference", String(100)),
    # "none" when the event was suppressed before any channel could be chosen.
    Column("channel", String(10), nullable=False),
    Column("template", String(200)),
    Column("template_version", String(20)),
    Column("status", String(20), nullable=False),
    Column("reason", String(100)),
    Column("provider_ref", String(200)),
    Column("fragments", Integer),
    Column("pages", Integer),
    Column("postage", String(10)),
    Column("attempts", Integer, nullable=False, default=0),
    # When a notification waits for a later send time (data.send_after), the time it waits for.
    Column("waits_until", DateTime(timezone=True)),
    # When the first send whose outcome is not yet recorded began (the intent, written before the
    # provider call): a replay asks the provider what happened since then (docs/events.md).
    Column("attempt_started_at", DateTime(timezone=True)),
    # Personal data: purged after the retention period, the rest stays.
    Column("recipient", Text),
    # The event as received, kept with an email notification so that a bounce can continue it
    # on the next channel (notifier/bounces/intake.py); purged after the bounce window.
    Column("kept_event", Text),
    Column("purged_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_source", "event_id", "channel", name="uq_notifications_event_channel"),
)
Index("ix_notifications_provider_ref", notifications.c.provider_ref)
Index("ix_notifications_customer", notifications.c.council, notifications.c.customer_id)
Index("ix_notifications_case", notifications.c.council, notifications.c.case_reference)
Index("ix_notifications_status", notifications.c.status, notifications.c.channel)
Index("ix_notifications_created_at", notifications.c.created_at)

status_history = Table(
    "status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "notification_id",
        String(36),
        ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("status", String(20), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("source", String(40), nullable=False),
    Column("reason", String(100)),
    # False when a late or out-of-order report was recorded without changing the status.
    Column("applied", Boolean, nullable=False, default=True),
)
Index("ix_status_history_notification", status_history.c.notification_id)

# Printed letters: each batch handed to the print provider, recorded before it is uploaded.
letter_batches = Table(
    "letter_batches",
    metadata,
    Column("id", String(36), primary_key=True),
    # The file name at the provider: the same letters always go under the same name.
    Column("name", String(200), nullable=False, unique=True),
    # claimed -> built -> uploaded -> handed-over (see notifier/printhouse/dispatch.py)
    Column("state", String(20), nullable=False),
    Column("letters", Integer, nullable=False),
    Column("size", BigInteger),
    Column("sha256", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("uploaded_at", DateTime(timezone=True)),
    Column("handed_over_at", DateTime(timezone=True)),
)
Index("ix_letter_batches_state", letter_batches.c.state)

# Letters rendered and waiting in the spool; ``batch_id`` is set once, when a batch claims it.
letter_spool = Table(
    "letter_spool",
    metadata,
    Column(
        "notification_id",
        String(36),
        ForeignKey("notifications.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("council", String(40), nullable=False),
    Column("postage", String(20), nullable=False),
    Column("pages", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("spooled_at", DateTime(timezone=True), nullable=False),
    Column("batch_id", String(36), ForeignKey("letter_batches.id")),
)
Index("ix_letter_spool_batch", letter_spool.c.batch_id)


# Events whose send time is further off than the broker should hold a message: kept here (the
# event as published: personal data) until the release job puts them back on the work queue.
scheduled_events = Table(
    "scheduled_events",
    metadata,
    Column("event_source", String(500), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("council", String(40), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("content_type", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_scheduled_events_due_at", scheduled_events.c.due_at)
