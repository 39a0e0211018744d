"""The residents' pages in headless Chromium: axe-core finds no WCAG 2.2 AA violations on any
state of them, and they work without JavaScript."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, Page
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.model import Channel
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.store import migrate
from notifier.store.database import create_engine
from notifier.web.tokens import Links
from tests.web.browser import axe_violations, chromium, serving, summary
from tests.web.conftest import BASE

pytestmark = pytest.mark.browser

RESIDENT = Preferences(
    council="sdc",
    customer_id="SDC-000123",
    name="Alex Smith",
    email="alex@example.org",
    mobile="+447700900123",
    address=("Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"),
    channel_order=(Channel.SMS, Channel.EMAIL, Channel.LETTER),
)


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """SQLite only: the pages, not the database, are under test here."""
    engine = create_engine(sqlite_url)
    await migrate.upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


async def open_page(browser: Browser, url: str, *, javascript: bool = True) -> Page:
    # bypass_csp lets axe-core be injected; the pages themselves send a strict CSP.
    context = await browser.new_context(java_script_enabled=javascript, bypass_csp=True)
    page = await context.new_page()
    await page.goto(url)
    return page


async def assert_accessible(page: Page, shots: Path, name: str) -> None:
    await page.screenshot(path=shots / f"{name}.png", full_page=True)
    violations = await axe_violations(page)
    assert violations == [], summary(violations)


async def test_every_state_of_the_preferences_page_has_no_axe_violations(
    app: FastAPI, engine: AsyncEngine, links: Links, browser: Browser, tmp_path: Path
) -> None:
    """The page as first shown, with the error summary, and with the confirmation panel, each
    pass axe-core's WCAG 2.2 AA rules in Chromium."""
    await PreferenceStore(engine).put(RESIDENT, actor="test")
    token = links.preferences_token(RESIDENT)
    async with serving(app) as base:
        page = await open_page(browser, f"{base}/preferences/{token}")
        assert await page.title() == "How we contact you – Stratford-on-Avon District Council"
        await assert_accessible(page, tmp_path, "shown")

        await page.evaluate(
            "document.querySelectorAll('[name=first-channel]').forEach(r => r.checked = false)"
        )
        await page.get_by_role("button", name="Save changes").click()
        assert (await page.title()).startswith("Error: ")
        await assert_accessible(page, tmp_path, "error")

        await page.get_by_role("radio", name="Email", exact=True).check()
        await page.get_by_label("Bins, recycling and waste collections").check()
        await page.get_by_role("button", name="Save changes").click()
        assert await page.get_by_role("heading", level=1).inner_text() == "Your changes are saved"
        await assert_accessible(page, tmp_path, "saved")


async def test_unsubscribe_and_broken_link_pages_have_no_axe_violations(
    app: FastAPI, engine: AsyncEngine, links: Links, browser: Browser, tmp_path: Path
) -> None:
    """The unsubscribe confirmation, its result and the broken-link page pass axe-core."""
    await PreferenceStore(engine).put(RESIDENT, actor="test")
    url = links.unsubscribe_link(dataclasses.replace(RESIDENT, stored=True), "waste")
    assert url is not None
    async with serving(app) as base:
        page = await open_page(browser, url.replace(BASE, base))
        await assert_accessible(page, tmp_path, "unsubscribe")
        await page.get_by_role("button", name="Stop these messages").click()
        await assert_accessible(page, tmp_path, "unsubscribed")
        page = await open_page(browser, f"{base}/preferences/not-a-real-link")
        await assert_accessible(page, tmp_path, "broken")


async def test_page_works_without_javascript(
    app: FastAPI, engine: AsyncEngine, links: Links, browser: Browser
) -> None:
    """With JavaScript off, choosing letters first and large print saves and says so."""
    await PreferenceStore(engine).put(RESIDENT, actor="test")
    token = links.preferences_token(RESIDENT)
    async with serving(app) as base:
        page = await open_page(browser, f"{base}/preferences/{token}", javascript=False)
        await page.get_by_role("radio", name="Letter", exact=True).check()
        await page.get_by_label("Send my letters in large print").check()
        await page.get_by_role("button", name="Save changes").click()
        changed = await page.locator("#what-changed").inner_text()
    assert "We will contact you first by letter instead of by text message." in changed
    assert "We will send your letters in large print." in changed
    stored = await PreferenceStore(engine).get("sdc", "SDC-000123")
    assert stored is not None and stored.channel_order[0] is Channel.LETTER and stored.large_print


async def test_axe_harness_reports_a_known_violation(browser: Browser) -> None:
    """The check can fail: a page with an unlabelled field and no language is reported."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.set_content("<html><title>t</title><body><input type=text></body></html>")
    rules = {v["id"] for v in await axe_violations(page)}
    assert {"label", "html-has-lang"} <= rules
