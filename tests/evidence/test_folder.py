"""Evidence of service in the folder store: a statutory notice's exact bytes are kept write-once
with a manifest, for its council's years, outside the retention purge and erasure; other messages
leave none; the API and the CLI export it for a court bundle."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.cli import main
from notifier.evidence import Evidence, EvidenceConflict, EvidenceStore, FolderEvidence
from notifier.messages import Message
from notifier.model import Receipt, Status
from notifier.processing import Ack, Delivery
from notifier.web import api
from notifier.web.auth import KeyStore
from tests.events import body, make_event
from tests.test_processing import CATALOGUE, COUNCILS, Rig

STATUTORY = "council-tax.bill.issued"
SENT = b"From: council\r\nSubject: Your council tax bill\r\n\r\nexact bytes\r\n"


def statutory_event(case: str = "CT-0001", **changes: object) -> dict[str, object]:
    sample = CATALOGUE.get("sdc", STATUTORY).sample
    return make_event(
        type=STATUTORY, subject=case, personalisation=dict(sample.personalisation), **changes
    )


async def exact(message: Message) -> Receipt:
    return Receipt(Status.SENT, provider_ref=f"ref-{message.notification_id}", content=SENT)


def rig_with_evidence(engine: AsyncEngine, root: Path) -> tuple[Rig, FolderEvidence]:
    rig = Rig(engine, email=exact)
    store = FolderEvidence(root)
    rig.processor.evidence = store
    return rig, store


async def kept_for(rig: Rig, store: EvidenceStore, event: dict[str, object]) -> dict[str, object]:
    """The manifest kept for the event's one notification."""
    [row] = await rig.notifications.for_event(str(event["source"]), str(event["id"]))
    found = await store.find(row.council, row.id)
    assert found is not None
    return found.manifest


async def test_statutory_notice_leaves_its_exact_bytes_and_a_manifest(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The bytes the channel handed over are kept read-only with their SHA-256, the template
    version, channel, provider reference and keep-until date; the record follows."""
    rig, store = rig_with_evidence(engine, tmp_path)
    event = statutory_event()
    assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    [row] = await rig.notifications.for_event(str(event["source"]), str(event["id"]))
    found = await store.find("sdc", row.id)
    assert found is not None
    manifest = found.manifest
    assert found.content == SENT
    assert manifest["sha256"] == hashlib.sha256(SENT).hexdigest()
    assert (manifest["template"], manifest["template_version"]) == (STATUTORY, row.template_version)
    assert (manifest["channel"], manifest["provider_ref"]) == ("email", f"ref-{row.id}")
    assert manifest["keep_until"].startswith("2032-11-30")  # six years after NOON
    for name in ("content.eml", "manifest.json"):
        path = tmp_path / "sdc" / row.id / name
        assert oct(path.stat().st_mode & 0o777) == "0o444"
    assert (tmp_path / "sdc" / row.id / "manifest.json").read_bytes() == found.manifest_file


async def test_a_council_with_its_own_evidence_years_keeps_for_them(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """sdc's evidence_years = 10 in the councils file sets its keep_until ten years on; wdc,
    without one, keeps for NOTIFIER_EVIDENCE_YEARS (the processor's six)."""
    rig, store = rig_with_evidence(engine, tmp_path)
    rig.processor.councils = {
        **COUNCILS,
        "sdc": dataclasses.replace(COUNCILS["sdc"], evidence_years=10),
    }
    assert COUNCILS["wdc"].evidence_years is None
    at_sdc = statutory_event("CT-0010")
    at_wdc = statutory_event("CT-0011", council="wdc", source="/councils/wdc/revenues")
    for event in (at_sdc, at_wdc):
        assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    assert (await kept_for(rig, store, at_sdc))["keep_until"] == "2036-11-30T12:00:00+00:00"
    assert (await kept_for(rig, store, at_wdc))["keep_until"] == "2032-11-30T12:00:00+00:00"


async def test_other_messages_leave_no_evidence(engine: AsyncEngine, tmp_path: Path) -> None:
    """A planning acknowledgement (not statutory) keeps nothing."""
    rig, _ = rig_with_evidence(engine, tmp_path / "evidence")
    assert await rig.processor.handle(Delivery(body(make_event()))) == Ack("sent")
    assert not (tmp_path / "evidence").exists()


async def test_evidence_outlives_the_retention_purge_and_erasure(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Purging contact details and erasing the customer leave the evidence as it was."""
    rig, store = rig_with_evidence(engine, tmp_path)
    event = statutory_event()
    await rig.processor.handle(Delivery(body(event)))
    [row] = await rig.notifications.for_event(str(event["source"]), str(event["id"]))
    await rig.notifications.purge_personal_data(datetime(2100, 1, 1, tzinfo=UTC))
    await rig.preferences.erase("sdc", "SDC-000123", actor="test")
    found = await store.find("sdc", row.id)
    assert found is not None and found.content == SENT


def test_keeping_again_is_a_no_op_and_different_bytes_are_refused(tmp_path: Path) -> None:
    """A replay keeps nothing new; other bytes for the same notification are never written."""
    store = FolderEvidence(tmp_path)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    record = Evidence("n-1", "sdc", "CT-1", "/s", "e-1", STATUTORY, STATUTORY, "v1", "sms", None,
                      "sending", now, now)  # fmt: skip
    first = store._keep(record, b'{"body": "a"}')
    assert store._keep(record, b'{"body": "a"}') == first
    with pytest.raises(EvidenceConflict):
        store._keep(record, b'{"body": "b"}')
    assert (tmp_path / "sdc/n-1/content.json").read_bytes() == b'{"body": "a"}'


async def test_api_exports_the_bundle(engine: AsyncEngine, tmp_path: Path) -> None:
    """GET .../notifications/{id}/evidence answers a zip with the index (current status) and
    the exact bytes; another council's key gets 404."""
    rig, store = rig_with_evidence(engine, tmp_path / "evidence")
    event = statutory_event("CT-0042")
    await rig.processor.handle(Delivery(body(event)))
    [row] = await rig.notifications.for_event(str(event["source"]), str(event["id"]))
    keys = KeyStore(engine)
    _, sdc = await keys.create("sdc", "test")
    _, wdc = await keys.create("wdc", "test")
    from notifier.http import create_app

    app = create_app(
        routers=[
            api.router(
                preferences=rig.preferences,
                notifications=rig.notifications,
                lifecycle=rig.processor.lifecycle,
                keys=keys,
                topics=frozenset({"council-tax"}),
                evidence=store,
            )
        ]
    )
    path = f"/api/v1/councils/sdc/notifications/{row.id}/evidence"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get(path, headers={"Authorization": f"Bearer {sdc}"})
        foreign = await client.get(path, headers={"Authorization": f"Bearer {wdc}"})
    assert answer.status_code == 200 and foreign.status_code == 404
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    [entry] = json.loads(archive.read("index.json"))
    assert (entry["notification_id"], entry["current_status"]) == (row.id, "sent")
    assert archive.read(f"{row.id}/content.eml") == SENT


def test_cli_export_of_a_case_without_evidence_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing statutory was sent about the case: the command says so and exits 1."""
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    monkeypatch.setenv("NOTIFIER_EVIDENCE_DIR", str(tmp_path / "evidence"))
    result = CliRunner().invoke(
        main,
        [
            "evidence",
            "export",
            "--case",
            "NONE",
            "--council",
            "sdc",
            "--out",
            str(tmp_path / "e.zip"),
        ],
    )
    assert result.exit_code == 1
    assert "no evidence for case 'NONE'" in result.output
    assert not (tmp_path / "e.zip").exists()
