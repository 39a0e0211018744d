"""Evidence of service for statutory notices: the exact bytes that went to the provider, kept
write-once for the council's evidence period, apart from everything the retention purge forgets.

Why the exception: a council that serves a statutory notice (a council tax reminder before a
liability order, a planning decision) may have to prove in court what it sent, to whom and when,
years later (the Council Tax (Administration and Enforcement) Regulations 1992 and the Limitation
Act 1980 set the horizon; six years is the usual period). The council records this as its lawful
basis (UK GDPR Article 6(1)(c) or (e)); erasure of a customer does not remove it (Article 17(3)(b)
and (e)). Only statutory templates leave evidence.

Layout of the folder store, one directory per notification::

    <root>/<council>/<notification id>/content.<eml|json|pdf>
    <root>/<council>/<notification id>/manifest.json

Both files are created exclusively and made read-only; keeping the same evidence again (a
replayed event) changes nothing, and different bytes for a kept notification are refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from notifier.model import Channel

SUFFIX = {Channel.EMAIL: "eml", Channel.SMS: "json", Channel.LETTER: "pdf"}
MEDIA_TYPE = {"eml": "message/rfc822", "json": "application/json", "pdf": "application/pdf"}
MANIFEST = "manifest.json"


class EvidenceConflict(RuntimeError):
    """Different bytes for a notification whose evidence is already kept (never overwritten)."""


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


class FolderEvidence:
    """Evidence in a folder (``NOTIFIER_EVIDENCE_DIR``), written once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def keep(self, evidence: Evidence, content: bytes) -> Evidence:
        """Keep ``content`` with its manifest; the manifest as kept."""
        return await asyncio.to_thread(self._keep, evidence, content)

    def _keep(self, evidence: Evidence, content: bytes) -> Evidence:
        folder = self.root / evidence.council / evidence.notification_id
        name = f"content.{SUFFIX[Channel(evidence.channel)]}"
        kept = dataclasses.replace(
            evidence, sha256=hashlib.sha256(content).hexdigest(), content_file=name
        )
        folder.mkdir(parents=True, exist_ok=True)
        existing = self._manifest(folder)
        if existing is not None:
            if existing["sha256"] != kept.sha256:
                raise EvidenceConflict(f"evidence for {evidence.notification_id} differs")
            return kept
        path = folder / name
        if not path.exists():
            _write_once(path, content)
        elif hashlib.sha256(path.read_bytes()).hexdigest() != kept.sha256:  # died before manifest
            raise EvidenceConflict(f"evidence for {evidence.notification_id} differs")
        _write_once(folder / MANIFEST, json.dumps(kept.manifest(), indent=2).encode())
        return kept

    def find(self, council: str, notification_id: str) -> tuple[dict[str, Any], Path] | None:
        """The manifest and the content file of one notification's evidence, if kept."""
        folder = self.root / council / notification_id
        manifest = self._manifest(folder)
        if manifest is None:
            return None
        return manifest, folder / str(manifest["content_file"])

    def bundle(self, council: str, current: Mapping[str, str]) -> bytes | None:
        """A zip of the evidence of these notifications (id -> current status): ``index.json``
        (each manifest with the status the notification has now) and each notification's
        folder as kept. None when none of them has evidence."""
        entries = []
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for notification_id, status in sorted(current.items()):
                found = self.find(council, notification_id)
                if found is None:
                    continue
                manifest, content = found
                archive.write(content, f"{notification_id}/{content.name}")
                archive.write(content.parent / MANIFEST, f"{notification_id}/{MANIFEST}")
                entries.append({**manifest, "current_status": status})
            if not entries:
                return None
            archive.writestr("index.json", json.dumps(entries, indent=2))
        return buffer.getvalue()

    @staticmethod
    def _manifest(folder: Path) -> dict[str, Any] | None:
        path = folder / MANIFEST
        if not path.is_file():
            return None
        loaded: dict[str, Any] = json.loads(path.read_bytes())
        return loaded


def _write_once(path: Path, data: bytes) -> None:
    """Create ``path`` exclusively, write, sync, and make it read-only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
