"""The preference API and pages mounted on the service's app, in-process, over a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.councils import load_councils
from notifier.http import create_app
from notifier.settings import Settings, load_settings
from notifier.templates.source import Catalogue
from notifier.web.auth import KeyStore
from notifier.web.mount import preference_routers
from notifier.web.tokens import Links
from tests.fakes.channels import RecordingSink

CATALOGUE = Catalogue.load()
COUNCILS = load_councils()
SECRET = "test-secret-that-is-long-enough-to-sign-links"
BASE = "https://notify.example.gov.uk"


@pytest.fixture
def links() -> Links:
    return Links(SECRET, base_url=BASE, lifetime=timedelta(days=90))


def build_app(
    engine: AsyncEngine,
    links: Links,
    settings: Settings | None = None,
    outcomes: RecordingSink | None = None,
) -> FastAPI:
    """The service's app with the preference routers, as ``Service.http_app`` mounts them (on
    the default settings unless given others; outcomes kept in ``outcomes``)."""
    settings = settings or load_settings(secret_key=SECRET, public_url=BASE)
    return create_app(
        routers=preference_routers(
            engine=engine,
            catalogue=CATALOGUE,
            councils=COUNCILS,
            links=links,
            allow_fiction_range=settings.sms.allow_fiction_range,
            outcomes=outcomes or RecordingSink(),
        )
    )


def in_process(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


@pytest.fixture
def app(engine: AsyncEngine, links: Links) -> FastAPI:
    return build_app(engine, links)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(app) as client:
        yield client


@pytest.fixture
async def sdc_key(engine: AsyncEngine) -> str:
    return (await KeyStore(engine).create("sdc", "test"))[1]


@pytest.fixture
async def wdc_key(engine: AsyncEngine) -> str:
    return (await KeyStore(engine).create("wdc", "test"))[1]
