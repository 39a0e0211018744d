"""The ``notifier`` command: one group, its subcommands in the modules beside this one."""

from __future__ import annotations

import click

from notifier.cli import (
    bounces,
    catalogue,
    common,
    customers,
    evidence,
    letters,
    notifications,
    operations,
)


@click.group(cls=common.Group)
@click.version_option(package_name="notifier")
def main() -> None:
    """notifier: case events from council systems in; email, text messages and letters out.

    Configuration comes from NOTIFIER_* environment variables (docs/configuration.md). With
    none set, it runs on embedded defaults: SQLite under ./var and file outboxes under
    ./var/outbox.
    """


for command in (
    *operations.COMMANDS,
    catalogue.templates,
    customers.keys,
    customers.customers,
    letters.letters,
    evidence.evidence,
    notifications.notifications,
    bounces.bounces,
):
    main.add_command(command)
