"""An intake over a real store, with its outcomes and continued events recorded."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.bounces.intake import Intake, Limits
from notifier.bounces.verp import ReturnPaths
from notifier.councils import load_councils
from notifier.lifecycle import Lifecycle
from notifier.model import Channel, Status
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.store.notifications import NewNotification, Notification, NotificationStore
from tests.fakes.channels import RecordingSink

KEY = b"bounce-key-for-tests-0123456789abcdef"


@dataclasses.dataclass
class Rig:
    intake: Intake
    paths: ReturnPaths
    lifecycle: Lifecycle
    preferences: PreferenceStore
    sink: RecordingSink
    continued: list[bytes]

    @property
    def notifications(self) -> NotificationStore:
        return self.lifecycle.notifications

    async def sent_email(
        self, *, customer_id: str | None = "SDC-B1", council: str = "sdc", channel: str = "email"
    ) -> Notification:
        """An email notification as the worker leaves it after the relay's 250: ``sent``, with
        its event kept."""
        event = json.dumps({"id": str(uuid.uuid4()), "marker": "kept"})
        row = await self.lifecycle.create(
            NewNotification(
                event_source=f"/councils/{council}/planning",
                event_id=str(uuid.uuid4()),
                event_type="planning.application.received",
                council=council,
                channel=channel,
                customer_id=customer_id,
                recipient="rosalind.testperson@example.org",
                kept_event=event,
            )
        )
        assert row is not None
        await self.lifecycle.move(row, Status.SENT, source="email")
        return row

    def return_path(self, row: Notification) -> str:
        return self.paths.address(row.council, row.id)

    async def store_customer(self, customer_id: str = "SDC-B1") -> None:
        await self.preferences.put(
            Preferences(
                council="sdc",
                customer_id=customer_id,
                email="rosalind.testperson@example.org",
                email_verified=True,
                mobile="+447700900123",
                channel_order=(Channel.EMAIL, Channel.SMS),
            ),
            actor="test",
        )


def make_rig(
    engine: AsyncEngine, *, limits: Limits | None = None, now: datetime | None = None
) -> Rig:
    councils = load_councils()
    paths = ReturnPaths(KEY, councils)
    sink = RecordingSink()
    lifecycle = Lifecycle(NotificationStore(engine), sink)
    preferences = PreferenceStore(engine)
    continued: list[bytes] = []

    async def continue_event(body: bytes) -> None:
        continued.append(body)

    intake = Intake(
        return_paths=paths,
        lifecycle=lifecycle,
        preferences=preferences,
        continue_event=continue_event,
        limits=limits or Limits(),
        clock=(lambda: now) if now is not None else (lambda: datetime.now(UTC)),
    )
    return Rig(intake, paths, lifecycle, preferences, sink, continued)
