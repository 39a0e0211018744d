"""Tracing notifications for operations: ``notifier notifications show ID`` and ``find``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from notifier.cli import common

if TYPE_CHECKING:
    from notifier.store.notifications import Notification
    from notifier.store.trace import Trace


@click.group()
def notifications() -> None:
    """What happened to a resident's message: one notification, or those of an event, a case or
    a customer. Contact details are never shown unless asked for."""


@notifications.command("show")
@click.argument("notification_id")
@click.option(
    "--with-contact",
    is_flag=True,
    help="Also show the address or number it went to (only within NOTIFIER_RETENTION_DAYS).",
)
def show(notification_id: str, with_contact: bool) -> None:
    """One notification: its event, channel, template and version, provider reference, status
    history with reasons, and the other channels tried for the same event."""
    from notifier.store.notifications import NotificationStore
    from notifier.store.trace import contact, trace

    settings = common.load()

    async def read() -> tuple[Trace | None, str | None]:
        engine = await common.migrated_engine(settings.store)
        try:
            found = await trace(NotificationStore(engine), notification_id)
            detail = None
            if found is not None and with_contact:
                detail = await contact(
                    engine,
                    notification_id,
                    retention_days=settings.store.retention_days,
                    now=datetime.now(UTC),
                )
            return found, detail
        finally:
            await engine.dispose()

    found, detail = common.run(read())
    if found is None:
        raise click.ClickException(f"no notification with id {notification_id}")
    click.echo(render_trace(found, contact=detail, with_contact=with_contact))


@notifications.command("find")
@click.option("--event-id", help="The event's id (the CloudEvent `id`).")
@click.option("--case", "case_reference", help="A case reference (the event's `subject`).")
@click.option("--customer", "customer_id", help="A customer id.")
@click.option("--council", help="The council (required with --case).")
def find_command(
    event_id: str | None, case_reference: str | None, customer_id: str | None, council: str | None
) -> None:
    """Notifications of an event, a case or a customer, oldest first, as a table."""
    from notifier.councils import load_councils
    from notifier.store.trace import FIND_LIMIT, find

    if not (event_id or case_reference or customer_id):
        raise click.UsageError("give --event-id, --case with --council, or --customer")
    if case_reference and not council:
        raise click.UsageError("--case needs --council: case references are per council")
    settings = common.load()
    if council is not None:
        known = load_councils(settings.files.councils_file)
        if council not in known:
            raise click.BadParameter(
                f"unknown council {council!r}; known: {', '.join(sorted(known))}",
                param_hint="--council",
            )

    async def read() -> list[Notification]:
        engine = await common.migrated_engine(settings.store)
        try:
            return await find(
                engine,
                event_id=event_id,
                council=council,
                case_reference=case_reference,
                customer_id=customer_id,
            )
        finally:
            await engine.dispose()

    rows = common.run(read())
    if rows:
        click.echo(notification_table(rows))
    more = " (the first shown; narrow the search)" if len(rows) == FIND_LIMIT else ""
    click.echo(f"{len(rows)} notification(s){more}", err=True)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def notification_table(rows: Sequence[Notification]) -> str:
    header = ("id", "created (UTC)", "council", "event type", "case", "channel", "status", "reason")
    return table(
        header,
        [
            (
                r.id,
                when(r.created_at),
                r.council,
                r.event_type,
                r.case_reference or "-",
                r.channel,
                str(r.status),
                r.reason or "-",
            )
            for r in rows
        ],
    )


def render_trace(found: Trace, *, contact: str | None, with_contact: bool) -> str:
    """The ``show`` page: the record, its history, and the event's other channels."""
    n = found.notification
    template = f"{n.template} v{n.template_version}" if n.template else "-"
    fields = [
        ("notification", n.id),
        ("event", f"{n.event_id} from {n.event_source} ({n.event_type})"),
        ("council", n.council),
        ("case", n.case_reference or "-"),
        ("customer", n.customer_id or "-"),
        ("channel", n.channel),
        ("template", template),
        ("status", str(n.status)),
        ("reason", n.reason or "-"),
        ("provider ref", n.provider_ref or "-"),
        ("retries", str(n.attempts)),
        ("created", when(n.created_at)),
        ("updated", when(n.updated_at)),
    ]
    for label, value in (
        ("postage", found.postage),
        ("fragments", found.fragments),
        ("pages", found.pages),
    ):
        if value is not None:
            fields.append((label, str(value)))
    if with_contact:
        fields.append(("contact", contact or "(not kept: past the retention period or purged)"))
    width = max(len(label) for label, _ in fields)
    parts = ["\n".join(f"{label.ljust(width)}  {value}" for label, value in fields)]
    history = [
        (when(h.at), str(h.status), h.source, h.reason or "-", "yes" if h.applied else "no")
        for h in found.history
    ]
    parts.append(
        "history\n" + table(("at (UTC)", "status", "source", "reason", "applied"), history)
    )
    if found.siblings:
        parts.append("other channels for this event\n" + notification_table(found.siblings))
    return "\n\n".join(parts)
