"""Evidence in a folder (``NOTIFIER_EVIDENCE_DIR``, the default store), one directory per
notification::

    <root>/<council>/<notification id>/content.<eml|json|pdf>
    <root>/<council>/<notification id>/manifest.json

Both files are created exclusively (``O_EXCL``), synced and made read-only.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from notifier.evidence.base import (
    MANIFEST,
    Evidence,
    EvidenceStore,
    Found,
    check_same,
    manifest_file,
    parse_manifest,
    sealed,
)


class FolderEvidence(EvidenceStore):
    """Evidence in a folder, written once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def keep(self, evidence: Evidence, content: bytes) -> Evidence:
        return await asyncio.to_thread(self._keep, evidence, content)

    async def find(self, council: str, notification_id: str) -> Found | None:
        return await asyncio.to_thread(self._find, council, notification_id)

    def _keep(self, evidence: Evidence, content: bytes) -> Evidence:
        kept = sealed(evidence, content)
        folder = self.root / evidence.council / evidence.notification_id
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / MANIFEST).is_file():
            check_same(kept, str(parse_manifest((folder / MANIFEST).read_bytes())["sha256"]))
            return kept
        path = folder / kept.content_file
        if not path.exists():
            _write_once(path, content)
        else:  # died after the content, before the manifest
            check_same(kept, hashlib.sha256(path.read_bytes()).hexdigest())
        _write_once(folder / MANIFEST, manifest_file(kept))
        return kept

    def _find(self, council: str, notification_id: str) -> Found | None:
        folder = self.root / council / notification_id
        path = folder / MANIFEST
        if not path.is_file():
            return None
        data = path.read_bytes()
        manifest = parse_manifest(data)
        content = (folder / str(manifest["content_file"])).read_bytes()
        return Found(manifest=manifest, manifest_file=data, content=content)


def _write_once(path: Path, data: bytes) -> None:
    """Create ``path`` exclusively, write, sync, and make it read-only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
