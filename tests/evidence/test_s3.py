"""Evidence of service in an S3 bucket: the store against a real S3 server on loopback (moto's,
over HTTP, boto3 on both sides). Written once by conditional PutObject (If-None-Match), under
COMPLIANCE retention until keep_until when the bucket has Object Lock; found, bundled, served by
the API and exported by the CLI as the folder store's evidence is; and, end to end, the bytes
the SMTP relay received are the bytes kept."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from botocore.exceptions import ClientError
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.app import Service
from notifier.cli import main
from notifier.errors import ConfigurationError
from notifier.evidence import (
    Evidence,
    EvidenceConflict,
    EvidenceUnavailable,
    open_evidence,
)
from notifier.evidence.s3 import S3Evidence
from notifier.model import Channel, Status
from notifier.preferences.model import Preferences
from notifier.processing import Ack, Delivery
from notifier.settings import load_settings
from notifier.store.database import create_engine
from notifier.web import api
from notifier.web.auth import KeyStore
from tests.events import body
from tests.evidence.conftest import ACCESS_KEY, SECRET_KEY
from tests.evidence.test_folder import SENT, STATUTORY, exact, kept_for, statutory_event
from tests.fakes.smtp import FakeSmtpServer
from tests.service import ServiceProcess, free_port, publish_raw
from tests.test_processing import Rig
from tests.test_sms_end_to_end import start, store_customers, wait_for, wait_for_status

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
KEEP_UNTIL = datetime(2032, 12, 1, 9, 30, tzinfo=UTC)
TEXT = b'{"To": "+447700900123", "Body": "Your council tax bill", "From": "StratfordDC"}'
PREFIX = "court/evidence"


def record(notification_id: str = "n-1", channel: str = "sms") -> Evidence:
    return Evidence(
        notification_id=notification_id,
        council="sdc",
        case_reference="CT-1",
        event_source="/councils/sdc/revenues",
        event_id="e-1",
        event_type=STATUTORY,
        template=STATUTORY,
        template_version="v1",
        channel=channel,
        provider_ref="SM0001",
        status="sending",
        sent_at=NOW,
        keep_until=KEEP_UNTIL,
    )


def key(name: str, notification_id: str = "n-1") -> str:
    return f"{PREFIX}/sdc/{notification_id}/{name}"


def versions(s3: Any, bucket: str) -> dict[str, int]:
    """Key -> how many versions S3 holds of it."""
    listed = s3.list_object_versions(Bucket=bucket).get("Versions", [])
    counts: dict[str, int] = {}
    for version in listed:
        counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


@pytest.fixture
async def store(s3_endpoint: str, bucket: str, s3: Any) -> S3Evidence:
    """The store on a bucket without Object Lock, versioned so that any overwrite would show."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return await S3Evidence.open(bucket, PREFIX, endpoint=s3_endpoint)


@pytest.fixture
async def locked_store(s3_endpoint: str, locked_bucket: str) -> S3Evidence:
    return await S3Evidence.open(locked_bucket, PREFIX, endpoint=s3_endpoint)


async def test_keep_find_and_bundle_round_trip(store: S3Evidence, s3: Any) -> None:
    """The bytes and the manifest go to <prefix>/<council>/<id>/, each object with the SHA-256
    the manifest names; find gives them back exactly; the bundle holds them and the index."""
    kept = await store.keep(record(), TEXT)
    digest = hashlib.sha256(TEXT).hexdigest()
    assert (kept.sha256, kept.content_file) == (digest, "content.json")
    assert set(versions(s3, store.bucket)) == {key("content.json"), key("manifest.json")}
    head = s3.head_object(Bucket=store.bucket, Key=key("content.json"), ChecksumMode="ENABLED")
    assert head["ContentType"] == "application/json"
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == digest
    found = await store.find("sdc", "n-1")
    assert found is not None
    assert found.content == TEXT and hashlib.sha256(found.content).hexdigest() == digest
    assert found.manifest == kept.manifest()
    stored = s3.get_object(Bucket=store.bucket, Key=key("manifest.json"))["Body"].read()
    assert found.manifest_file == stored
    assert await store.find("sdc", "n-unknown") is None

    bundle = await store.bundle("sdc", {"n-1": "delivered", "n-unknown": "sent"})
    assert bundle is not None
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    assert sorted(archive.namelist()) == ["index.json", "n-1/content.json", "n-1/manifest.json"]
    assert archive.read("n-1/content.json") == TEXT
    assert archive.read("n-1/manifest.json") == stored
    [entry] = json.loads(archive.read("index.json"))
    assert (entry["sha256"], entry["current_status"]) == (digest, "delivered")
    assert await store.bundle("sdc", {"n-unknown": "sent"}) is None


async def test_keeping_the_same_bytes_again_writes_nothing(store: S3Evidence, s3: Any) -> None:
    """A replay keeps nothing new: one version of each object, on a versioned bucket."""
    first = await store.keep(record(), TEXT)
    assert await store.keep(record(), TEXT) == first
    assert versions(s3, store.bucket) == {key("content.json"): 1, key("manifest.json"): 1}


async def test_different_bytes_are_refused_and_the_object_is_unchanged(
    store: S3Evidence, s3: Any
) -> None:
    """Other bytes for a kept notification raise EvidenceConflict; S3 still holds the first."""
    await store.keep(record(), TEXT)
    with pytest.raises(EvidenceConflict):
        await store.keep(record(), TEXT.replace(b"bill", b"refund"))
    assert versions(s3, store.bucket) == {key("content.json"): 1, key("manifest.json"): 1}
    stored = s3.get_object(Bucket=store.bucket, Key=key("content.json"))["Body"].read()
    assert stored == TEXT


async def test_a_keep_that_died_before_its_manifest_is_finished_by_the_replay(
    store: S3Evidence, s3: Any
) -> None:
    """Content there, no manifest (the process died between the two writes): keeping the same
    bytes writes the manifest and leaves the content alone; other bytes are refused and no
    manifest is written."""
    s3.put_object(Bucket=store.bucket, Key=key("content.json"), Body=TEXT)
    await store.keep(record(), TEXT)
    assert versions(s3, store.bucket) == {key("content.json"): 1, key("manifest.json"): 1}
    assert (await store.find("sdc", "n-1")) is not None

    s3.put_object(Bucket=store.bucket, Key=key("content.json", "n-2"), Body=b'{"other": 1}')
    with pytest.raises(EvidenceConflict):
        await store.keep(record("n-2"), TEXT)
    assert key("manifest.json", "n-2") not in versions(s3, store.bucket)


async def test_s3_itself_refuses_a_conditional_overwrite(store: S3Evidence, s3: Any) -> None:
    """The write-once rule holds at the server: a PutObject with If-None-Match: * on a kept key
    fails 412 PreconditionFailed, and the object stays as it was."""
    await store.keep(record(), TEXT)
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=store.bucket, Key=key("content.json"), Body=b"x", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    stored = s3.get_object(Bucket=store.bucket, Key=key("content.json"))["Body"].read()
    assert stored == TEXT


async def test_object_lock_retains_each_object_until_keep_until(
    locked_store: S3Evidence, s3: Any
) -> None:
    """On a bucket with Object Lock, both objects are under COMPLIANCE retention until the
    manifest's keep_until, and S3 refuses to delete the version."""
    assert locked_store.locked
    await locked_store.keep(record(), TEXT)
    for name in ("content.json", "manifest.json"):
        head = s3.head_object(Bucket=locked_store.bucket, Key=key(name))
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] == KEEP_UNTIL
    version = s3.head_object(Bucket=locked_store.bucket, Key=key("content.json"))["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=locked_store.bucket, Key=key("content.json"), VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


async def test_without_object_lock_no_retention_is_asked_for_and_start_up_says_so(
    s3_endpoint: str, bucket: str, locked_bucket: str, s3: Any
) -> None:
    """A bucket without Object Lock: the store starts, logs evidence.object_lock_off once, and
    writes without retention (S3 would refuse retention on such a bucket); a locked bucket
    logs no such warning."""
    with structlog.testing.capture_logs() as logs:
        plain = await S3Evidence.open(bucket, PREFIX, endpoint=s3_endpoint)
        locked = await S3Evidence.open(locked_bucket, PREFIX, endpoint=s3_endpoint)
    assert (plain.locked, locked.locked) == (False, True)
    warnings = [line for line in logs if line["event"] == "evidence.object_lock_off"]
    assert [(w["log_level"], w["bucket"]) for w in warnings] == [("warning", bucket)]
    opened = [
        (line["bucket"], line["object_lock"])
        for line in logs
        if line["event"] == "evidence.store_opened"
    ]
    assert opened == [(bucket, False), (locked_bucket, True)]
    await plain.keep(record(), TEXT)
    head = s3.head_object(Bucket=bucket, Key=key("content.json"))
    assert "ObjectLockMode" not in head and "ObjectLockRetainUntilDate" not in head


async def test_a_missing_bucket_fails_start_up_naming_it(
    s3_endpoint: str, aws_env: dict[str, str]
) -> None:
    """open_evidence (what the service, the API and the CLI open) refuses a bucket that is not
    there with a ConfigurationError naming the variable and the bucket, never a credential."""
    settings = load_settings(
        evidence_url="s3://no-such-evidence-bucket/court", evidence_s3_endpoint=s3_endpoint
    )
    with pytest.raises(ConfigurationError) as refused:
        await open_evidence(settings.store)
    message = str(refused.value)
    assert "NOTIFIER_EVIDENCE_URL" in message and "'no-such-evidence-bucket'" in message
    assert "no such bucket" in message
    assert ACCESS_KEY not in message and SECRET_KEY not in message


async def test_the_service_does_not_start_without_its_bucket(
    s3_endpoint: str, aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Service.run opens the evidence store first: a missing bucket stops it before anything
    is started."""
    monkeypatch.chdir(tmp_path)  # the development defaults (./var) stay in the test's folder
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}",
        evidence_url="s3://no-such-evidence-bucket",
        evidence_s3_endpoint=s3_endpoint,
    )
    service = Service(settings)
    with pytest.raises(ConfigurationError, match="no-such-evidence-bucket"):
        await service.run()
    await service.engine.dispose()


async def test_an_unreachable_service_fails_start_up_naming_the_bucket(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens at the endpoint: a ConfigurationError that says so, naming the bucket."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigurationError) as refused:
        await S3Evidence.open("evidence-bucket", endpoint=endpoint)
    message = str(refused.value)
    assert f"bucket 'evidence-bucket' at {endpoint} cannot be reached" in message
    assert ACCESS_KEY not in message and SECRET_KEY not in message


async def test_an_outage_after_start_up_is_evidence_unavailable(store: S3Evidence, s3: Any) -> None:
    """The bucket gone after start-up: keep and find raise EvidenceUnavailable (S3's code only),
    which processing counts and logs as evidence.keep_failed and the API answers with 503."""
    s3.delete_bucket(Bucket=store.bucket)
    with pytest.raises(EvidenceUnavailable, match=r"NoSuchBucket"):
        await store.keep(record(), TEXT)
    with pytest.raises(EvidenceUnavailable, match=r"NoSuchBucket"):
        await store.find("sdc", "n-1")


@pytest.fixture
def s3_settings_env(
    monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, bucket: str, aws_env: dict[str, str]
) -> str:
    """NOTIFIER_EVIDENCE_URL and its endpoint in the environment, as an operator sets them."""
    monkeypatch.setenv("NOTIFIER_EVIDENCE_URL", f"s3://{bucket}/{PREFIX}")
    monkeypatch.setenv("NOTIFIER_EVIDENCE_S3_ENDPOINT", s3_endpoint)
    return bucket


async def test_the_api_serves_evidence_from_the_bucket(
    engine: AsyncEngine, s3_settings_env: str
) -> None:
    """A statutory notice processed with the S3 store: GET .../notifications/{id}/evidence
    answers the zip with its exact bytes; the bucket gone answers 503, not 500."""
    store = await open_evidence(load_settings().store)
    assert isinstance(store, S3Evidence) and store.bucket == s3_settings_env
    rig = Rig(engine, email=exact)
    rig.processor.evidence = store
    event = statutory_event("CT-0042")
    assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    [row] = await rig.notifications.for_event(str(event["source"]), str(event["id"]))
    keys = KeyStore(engine)
    _, sdc = await keys.create("sdc", "test")
    from notifier.http import create_app

    router = api.router(
        preferences=rig.preferences,
        notifications=rig.notifications,
        lifecycle=rig.processor.lifecycle,
        keys=keys,
        topics=frozenset({"council-tax"}),
        evidence=store,
    )
    path = f"/api/v1/councils/sdc/notifications/{row.id}/evidence"
    transport = httpx.ASGITransport(app=create_app(routers=[router]))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get(path, headers={"Authorization": f"Bearer {sdc}"})
        assert answer.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(answer.content))
        assert archive.read(f"{row.id}/content.eml") == SENT
        [entry] = json.loads(archive.read("index.json"))
        assert (entry["sha256"], entry["current_status"]) == (
            hashlib.sha256(SENT).hexdigest(),
            "sent",
        )
        listed = store.s3.list_objects_v2(Bucket=store.bucket)["Contents"]
        store.s3.delete_objects(
            Bucket=store.bucket, Delete={"Objects": [{"Key": item["Key"]} for item in listed]}
        )
        store.s3.delete_bucket(Bucket=store.bucket)
        gone = await client.get(path, headers={"Authorization": f"Bearer {sdc}"})
    assert gone.status_code == 503


async def test_cli_export_reads_the_bucket(
    engine: AsyncEngine, database_url: str, s3_settings_env: str, tmp_path: Path
) -> None:
    """notifier evidence export --case, with NOTIFIER_EVIDENCE_URL set, writes the zip of the
    case's evidence from the bucket."""
    rig = Rig(engine, email=exact)
    rig.processor.evidence = await open_evidence(load_settings().store)
    event = statutory_event("CT-0077")
    await rig.processor.handle(Delivery(body(event)))
    manifest = await kept_for(rig, rig.processor.evidence, event)
    out = tmp_path / "bundle.zip"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["evidence", "export", "--case", "CT-0077", "--council", "sdc", "--out", str(out)],
        env={"NOTIFIER_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    archive = zipfile.ZipFile(out)
    [entry] = json.loads(archive.read("index.json"))
    assert entry["notification_id"] == manifest["notification_id"]
    assert archive.read(f"{entry['notification_id']}/content.eml") == SENT


def test_cli_export_with_a_missing_bucket_exits_2_naming_it(
    s3_endpoint: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["evidence", "export", "--case", "CT-1", "--council", "sdc", "--out", str(tmp_path / "z")],
        env={
            "NOTIFIER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'n.db'}",
            "NOTIFIER_EVIDENCE_URL": "s3://no-such-evidence-bucket",
            "NOTIFIER_EVIDENCE_S3_ENDPOINT": s3_endpoint,
        },
    )
    assert result.exit_code == 2
    assert "configuration error: NOTIFIER_EVIDENCE_URL" in result.output
    assert "'no-such-evidence-bucket'" in result.output


@pytest.fixture
async def relay() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer() as server:
        yield server


async def test_end_to_end_the_bucket_holds_what_the_relay_received(
    tmp_path: Path,
    amqp_url: str,
    relay: FakeSmtpServer,
    s3_endpoint: str,
    locked_bucket: str,
    aws_env: dict[str, str],
    s3: Any,
) -> None:
    """``notifier run`` with the SMTP relay and an Object Lock bucket: a statutory email's
    evidence in S3 has the SHA-256 of the bytes the relay received, under COMPLIANCE retention,
    and the service's own API serves it."""
    service = ServiceProcess(
        tmp_path,
        amqp_url,
        NOTIFIER_EMAIL_PROVIDER="smtp",
        NOTIFIER_SMTP_HOST="127.0.0.1",
        NOTIFIER_SMTP_PORT=str(relay.port),
        NOTIFIER_SMTP_TLS="none",
        NOTIFIER_EVIDENCE_URL=f"s3://{locked_bucket}/{PREFIX}",
        NOTIFIER_EVIDENCE_S3_ENDPOINT=s3_endpoint,
        NOTIFIER_EVIDENCE_DIR=str(tmp_path / "no-folder-evidence"),
    )
    resident = Preferences(
        council="sdc",
        customer_id="SDC-EV0001",
        name="Alex Smith",
        email="rosalind.testperson@example.org",
        mobile=None,
        channel_order=(Channel.EMAIL,),
        quiet_hours=None,
    )
    await store_customers(service, resident)
    engine = create_engine(service.database_url)
    try:
        _, council_key = await KeyStore(engine).create("sdc", "test")
    finally:
        await engine.dispose()
    try:
        await start(service, amqp_url)
        assert '"object_lock": true' in service.logs()
        event = statutory_event("CT-E2E-1", recipient={"customer_id": "SDC-EV0001"})
        await publish_raw(amqp_url, [event])
        row = await wait_for_status(service, event, "email", Status.SENT)
        [received] = relay.messages
        folder = f"{PREFIX}/sdc/{row.id}/"

        def kept() -> list[str]:
            listed = s3.list_objects_v2(Bucket=locked_bucket, Prefix=folder).get("Contents", [])
            return sorted(item["Key"] for item in listed)

        assert await wait_for(kept, 10, "the evidence in the bucket") == [
            folder + "content.eml",
            folder + "manifest.json",
        ]
        manifest = json.loads(
            s3.get_object(Bucket=locked_bucket, Key=folder + "manifest.json")["Body"].read()
        )
        assert manifest["sha256"] == hashlib.sha256(received.data).hexdigest()
        content = s3.get_object(Bucket=locked_bucket, Key=folder + "content.eml")
        assert content["Body"].read() == received.data
        assert content["ObjectLockMode"] == "COMPLIANCE"
        retained = content["ObjectLockRetainUntilDate"] - datetime.fromisoformat(
            manifest["keep_until"]
        )
        assert timedelta(0) <= retained < timedelta(seconds=1)  # keep_until, to the next second
        assert not (tmp_path / "no-folder-evidence").exists()
        async with httpx.AsyncClient() as client:
            answer = await client.get(
                f"http://127.0.0.1:{service.port}/api/v1/councils/sdc/notifications/{row.id}/evidence",
                headers={"Authorization": f"Bearer {council_key}"},
            )
        assert answer.status_code == 200
        assert zipfile.ZipFile(io.BytesIO(answer.content)).read(f"{row.id}/content.eml") == (
            received.data
        )
        assert ACCESS_KEY not in service.logs() and SECRET_KEY not in service.logs()
    finally:
        await asyncio.to_thread(service.stop)
        print(service.logs())
