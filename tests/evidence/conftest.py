"""A real S3 server on loopback (moto's, over HTTP) for the S3 evidence store, with buckets with
and without Object Lock, and boto3 given throwaway credentials through its own chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "eu-west-2"
# Throwaway credentials moto accepts; they must never show in a message or a log.
ACCESS_KEY = "AKIATESTEVIDENCE0001"
SECRET_KEY = "evidence-test-secret-never-printed-0123456789"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_REGION": REGION,
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, on a port of its own, for the session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """boto3's chain finds the throwaway credentials and region in the environment, and no
    profile or config file of the machine's."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    env = {
        **AWS_ENV,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3(s3_endpoint: str, aws_env: dict[str, str]) -> Iterator[Any]:
    """The test's own boto3 client of the same server, to look behind the store's back."""
    client = boto3.session.Session().client("s3", endpoint_url=s3_endpoint)
    yield client
    client.close()


def _create(s3: Any, *, locked: bool) -> str:
    name = f"evidence-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=locked,
    )
    return name


@pytest.fixture
def bucket(s3: Any) -> str:
    """A bucket without Object Lock."""
    return _create(s3, locked=False)


@pytest.fixture
def locked_bucket(s3: Any) -> str:
    """A bucket with Object Lock on (and so versioning), no default retention."""
    return _create(s3, locked=True)
