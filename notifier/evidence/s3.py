"""Evidence in an S3 bucket, on AWS or any S3-compatible service, with boto3: the only module
that imports boto3 or botocore (``NOTIFIER_EVIDENCE_URL=s3://bucket/prefix``;
``NOTIFIER_EVIDENCE_S3_ENDPOINT`` for a service that is not AWS). The keys have the folder
store's shape::

    <prefix>/<council>/<notification id>/content.<eml|json|pdf>
    <prefix>/<council>/<notification id>/manifest.json

Written once, in two layers:

- Every PutObject is conditional, ``If-None-Match: *`` (RFC 9110 §13.1.2; Amazon S3 User Guide,
  "How to prevent object overwrites with conditional writes"): S3 refuses to write a key that
  exists, with 412 Precondition Failed. A keep that finds a key taken reads what is there and
  compares SHA-256s, exactly as the folder store does.
- On a bucket with S3 Object Lock (checked once, at start-up, with GetObjectLockConfiguration),
  each object is written with COMPLIANCE retention until the manifest's ``keep_until``
  (Amazon S3 User Guide, "Locking objects with Object Lock", retention modes): no user, the
  account's root user included, can overwrite or delete that object version before then. Without
  Object Lock the service still starts, and says so once (``evidence.object_lock_off``).

Each object also carries its SHA-256 (``x-amz-checksum-sha256``, Amazon S3 User Guide, "Checking
object integrity"): S3 checks the bytes it received against it and keeps it with the object; the
checksum header also meets Object Lock's rule that a PutObject with retention carries a checksum.

boto3's client is synchronous and safe to share between threads (boto3 documentation,
"Multithreading or multiprocessing with clients"); every call runs in a thread
(``asyncio.to_thread``). Credentials and the region come from boto3's own chain (environment,
shared config and credentials files, container and instance roles; boto3 documentation,
"Credentials"). Nothing here logs or raises a credential: errors name the operation and S3's
error code only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from notifier.errors import ConfigurationError, EvidenceUnavailable
from notifier.evidence.base import (
    MANIFEST,
    MEDIA_TYPE,
    Evidence,
    EvidenceStore,
    Found,
    check_same,
    manifest_file,
    parse_manifest,
    sealed,
)

log = structlog.get_logger("notifier.evidence")

# The key is there already (412), or another conditional write of it is under way (409).
_TAKEN = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_MISSING = frozenset({"NoSuchKey", "404"})
# GetObjectLockConfiguration on a bucket without Object Lock, or a service without it.
_NO_LOCK = frozenset({"ObjectLockConfigurationNotFoundError", "NotImplemented"})
# HeadBucket answers with a status and no body, so its "code" is the status.
_HEAD_BUCKET = {
    "404": "no such bucket",
    "NoSuchBucket": "no such bucket",
    "403": "access denied (the service needs s3:ListBucket on it)",
    "AccessDenied": "access denied (the service needs s3:ListBucket on it)",
    "301": "the bucket is in another region (set AWS_REGION to its region)",
}


def client(endpoint: str | None) -> Any:
    """An S3 client from boto3's credential and region chain; ``endpoint``: a service that is
    not AWS (None: AWS)."""
    config = Config(connect_timeout=10, read_timeout=60, user_agent_extra="notifier-evidence")
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


class S3Evidence(EvidenceStore):
    """Evidence in a bucket, written once; ``locked``: the bucket has Object Lock, so each
    object gets COMPLIANCE retention until its ``keep_until``."""

    def __init__(self, s3: Any, bucket: str, prefix: str = "", *, locked: bool = False) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.locked = locked

    @classmethod
    async def open(
        cls, bucket: str, prefix: str = "", *, endpoint: str | None = None
    ) -> S3Evidence:
        """The store, once the bucket is known to be there and whether it has Object Lock;
        a ConfigurationError naming the bucket when it is not there or cannot be reached."""
        s3 = client(endpoint)
        where = f"bucket {bucket!r}" + (f" at {endpoint}" if endpoint else "")
        locked = await asyncio.to_thread(_check, s3, bucket, where)
        log.info("evidence.store_opened", store="s3", bucket=bucket, object_lock=locked)
        if not locked:
            log.warning(
                "evidence.object_lock_off",
                bucket=bucket,
                detail="objects are written once, but the bucket does not stop anyone deleting "
                "or replacing them: enable S3 Object Lock on it (docs/operations.md)",
            )
        return cls(s3, bucket, prefix, locked=locked)

    async def keep(self, evidence: Evidence, content: bytes) -> Evidence:
        return await asyncio.to_thread(self._keep, evidence, content)

    async def find(self, council: str, notification_id: str) -> Found | None:
        return await asyncio.to_thread(self._find, council, notification_id)

    def _keep(self, evidence: Evidence, content: bytes) -> Evidence:
        kept = sealed(evidence, content)
        folder = self._folder(evidence.council, evidence.notification_id)
        with _unavailable("keep"):
            existing = self._get(folder + MANIFEST)
            if existing is not None:
                check_same(kept, str(parse_manifest(existing)["sha256"]))
                return kept
            content_type = MEDIA_TYPE[kept.content_file.rpartition(".")[2]]
            if not self._put_once(folder + kept.content_file, content, content_type, kept):
                # Died after the content, before the manifest (or another keep is under way).
                there = self._taken(folder + kept.content_file, kept)
                check_same(kept, hashlib.sha256(there).hexdigest())
            if not self._put_once(folder + MANIFEST, manifest_file(kept), "application/json", kept):
                there = self._taken(folder + MANIFEST, kept)
                check_same(kept, str(parse_manifest(there)["sha256"]))
        return kept

    def _find(self, council: str, notification_id: str) -> Found | None:
        folder = self._folder(council, notification_id)
        with _unavailable("find"):
            data = self._get(folder + MANIFEST)
            if data is None:
                return None
            manifest = parse_manifest(data)
            content = self._get(folder + str(manifest["content_file"]))
        if content is None:
            raise EvidenceUnavailable(f"evidence for {notification_id}: manifest without content")
        return Found(manifest=manifest, manifest_file=data, content=content)

    def _folder(self, council: str, notification_id: str) -> str:
        return "/".join(part for part in (self.prefix, council, notification_id) if part) + "/"

    def _put_once(self, key: str, data: bytes, content_type: str, kept: Evidence) -> bool:
        """Write ``key`` unless it exists; whether it was written."""
        retention: dict[str, Any] = {}
        if self.locked:
            retention = {
                "ObjectLockMode": "COMPLIANCE",
                "ObjectLockRetainUntilDate": _whole_second(kept.keep_until),
            }
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                IfNoneMatch="*",
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode(),
                **retention,
            )
        except ClientError as exc:
            if _code(exc) in _TAKEN:
                return False
            raise
        return True

    def _get(self, key: str) -> bytes | None:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        with contextlib.closing(answer["Body"]) as body:
            data: bytes = body.read()
        return data

    def _taken(self, key: str, kept: Evidence) -> bytes:
        """What a conditional write found there; unavailable while another write is under way."""
        data = self._get(key)
        if data is None:
            raise EvidenceUnavailable(f"evidence for {kept.notification_id}: a write under way")
        return data


def _check(s3: Any, bucket: str, where: str) -> bool:
    """Whether the bucket has Object Lock on; ConfigurationError when it cannot be used."""
    variable = "NOTIFIER_EVIDENCE_URL"
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = _code(exc)
        raise ConfigurationError(f"{variable}: {where}: {_HEAD_BUCKET.get(code, code)}") from None
    except NoCredentialsError:
        raise ConfigurationError(
            f"{variable}: no AWS credentials for {where} (boto3 reads AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the container's or instance's role)"
        ) from None
    except BotoCoreError as exc:
        raise ConfigurationError(
            f"{variable}: {where} cannot be reached ({type(exc).__name__})"
        ) from None
    try:
        answer = s3.get_object_lock_configuration(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in _NO_LOCK:
            return False
        raise ConfigurationError(
            f"{variable}: {where}: its Object Lock configuration cannot be read ({_code(exc)}; "
            "the service needs s3:GetBucketObjectLockConfiguration)"
        ) from None
    except BotoCoreError as exc:
        raise ConfigurationError(
            f"{variable}: {where} cannot be reached ({type(exc).__name__})"
        ) from None
    enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
    return bool(enabled == "Enabled")


def _whole_second(moment: datetime) -> datetime:
    """``moment``, or the next whole second after it: retention never ends before keep_until,
    whatever precision the service keeps dates in."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


@contextlib.contextmanager
def _unavailable(operation: str) -> Iterator[None]:
    """S3's refusals and connection failures as EvidenceUnavailable (the operation and S3's
    code, nothing else); EvidenceConflict passes through."""
    try:
        yield
    except ClientError as exc:
        raise EvidenceUnavailable(f"evidence {operation}: S3 refused ({_code(exc)})") from None
    except BotoCoreError as exc:
        raise EvidenceUnavailable(f"evidence {operation}: {type(exc).__name__}") from None
