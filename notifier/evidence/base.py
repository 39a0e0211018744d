"""What every evidence store shares: the manifest, the ``EvidenceStore`` protocol, and the court
bundle, written once over ``find``.

Each notification's evidence is two files (objects) under ``<council>/<notification id>/``::

    content.<eml|json|pdf>    the exact bytes handed to the provider
    manifest.json             an ``Evidence`` record: SHA-256, template version, channel, ...

The content is written first and the manifest last, each exactly once: a manifest is there only
once its content is. Keeping the same evidence again (a replayed event) changes nothing; different
bytes for a kept notification raise ``EvidenceConflict`` and nothing is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from notifier.errors import EvidenceConflict
from notifier.model import Channel

SUFFIX = {Channel.EMAIL: "eml", Channel.SMS: "json", Channel.LETTER: "pdf"}
MEDIA_TYPE = {"eml": "message/rfc822", "json": "application/json", "pdf": "application/pdf"}
MANIFEST = "manifest.json"


@dataclasses.dataclass(frozen=True, slots=True)
class Evidence:
    """What is recorded beside the bytes: enough for a court bundle to cite."""

    notification_id: str
    council: str
    case_reference: str | None
    event_source: str
    event_id: str
    event_type: str
    template: str | None
    template_version: str | None
    channel: str
    provider_ref: str | None
    status: str
    sent_at: datetime
    keep_until: datetime
    sha256: str = ""
    content_file: str = ""

    def manifest(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["sent_at"] = self.sent_at.isoformat()
        values["keep_until"] = self.keep_until.isoformat()
        return values


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """One notification's evidence as kept: the manifest (parsed, and its file's exact bytes)
    and the content's bytes."""

    manifest: dict[str, Any]
    manifest_file: bytes
    content: bytes


def sealed(evidence: Evidence, content: bytes) -> Evidence:
    """``evidence`` with the SHA-256 of ``content`` and the name its content file is kept by."""
    return dataclasses.replace(
        evidence,
        sha256=hashlib.sha256(content).hexdigest(),
        content_file=f"content.{SUFFIX[Channel(evidence.channel)]}",
    )


def manifest_file(kept: Evidence) -> bytes:
    """The manifest as it is written, the same in every store."""
    return json.dumps(kept.manifest(), indent=2).encode()


def parse_manifest(data: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def check_same(kept: Evidence, sha256: str) -> None:
    """EvidenceConflict unless what is already kept has the SHA-256 of the bytes to keep."""
    if sha256 != kept.sha256:
        raise EvidenceConflict(f"evidence for {kept.notification_id} differs")


class EvidenceStore(Protocol):
    """Where evidence of service is kept, written once: ``FolderEvidence`` or ``S3Evidence``.
    A store subclasses this for ``bundle``; it writes ``keep`` and ``find``."""

    async def keep(self, evidence: Evidence, content: bytes) -> Evidence:
        """Keep ``content`` with its manifest; the manifest as kept. The same bytes again
        change nothing; other bytes raise EvidenceConflict."""
        ...

    async def find(self, council: str, notification_id: str) -> Found | None:
        """One notification's evidence, or None when it left none."""
        ...

    async def bundle(self, council: str, current: Mapping[str, str]) -> bytes | None:
        """A zip of the evidence of these notifications (id -> current status): ``index.json``
        (each manifest with the status the notification has now) and a folder per notification
        with its files as kept. None when none of them has evidence."""
        found = []
        for notification_id, status in sorted(current.items()):
            kept = await self.find(council, notification_id)
            if kept is not None:
                found.append((notification_id, status, kept))
        if not found:
            return None
        return await asyncio.to_thread(_zip, found)


def _zip(found: Sequence[tuple[str, str, Found]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for notification_id, _, kept in found:
            archive.writestr(f"{notification_id}/{kept.manifest['content_file']}", kept.content)
            archive.writestr(f"{notification_id}/{MANIFEST}", kept.manifest_file)
        entries = [{**kept.manifest, "current_status": status} for _, status, kept in found]
        archive.writestr("index.json", json.dumps(entries, indent=2))
    return buffer.getvalue()
