"""The residents' page and one-click unsubscribe, driven over HTTP in-process: what it shows,
the form's flows, errors, CSRF, expired links and the audit trail."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.model import Channel
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.web.tokens import Links
from tests.web.conftest import BASE, SECRET, build_app, in_process

ALEX = Preferences(
    council="sdc",
    customer_id="SDC-000123",
    name="Alex Smith",
    email="alex@example.org",
    mobile="+447700900123",
    address=("Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"),
    channel_order=(Channel.SMS, Channel.EMAIL, Channel.LETTER),
    stored=True,
)


@pytest.fixture
async def store(engine: AsyncEngine) -> PreferenceStore:
    store = PreferenceStore(engine)
    await store.put(ALEX, actor="test")
    return store


def form_token(html: str) -> str:
    found = re.search(r'name="form-token" value="([^"]+)"', html)
    assert found, "no form token on the page"
    return found.group(1)


async def submit(client: httpx.AsyncClient, url: str, **fields: str | list[str]) -> httpx.Response:
    page = await client.get(url)
    data: dict[str, str | list[str]] = {"form-token": form_token(page.text), **fields}
    return await client.post(url, data=data)


async def test_page_shows_current_choices_with_details_masked(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """The page shows the order, the chosen first channel checked, and contact details masked."""
    answer = await client.get(f"/preferences/{links.preferences_token(ALEX)}")
    assert answer.status_code == 200
    html = answer.text
    assert "Text message, then email, then letter" in html
    assert re.search(r'value="sms" checked', html)
    assert "a•••@example.org" in html and "ending 123" in html
    for secret in ("alex@example.org", "+447700900123", "07700", "Alex Smith", "SDC-000123"):
        assert secret not in html


async def test_pages_are_sent_with_protective_headers(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """No referrer leaks the link, nothing is cached, no scripts or framing are allowed."""
    answer = await client.get(f"/preferences/{links.preferences_token(ALEX)}")
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    css = await client.get("/assets/notifier.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    brand = await client.get("/assets/councils/sdc.css")
    assert "#00694b" in brand.text


async def test_saving_changes_says_exactly_what_changed_and_audits_the_resident(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """Email first, waste stopped and large print saved; the confirmation lists each change
    and the audit trail names the resident and the fields."""
    url = f"/preferences/{links.preferences_token(ALEX)}"
    fields: dict[str, str | list[str]] = {
        "first-channel": "email",
        "stop": ["waste"],
        "large-print": "yes",
    }
    answer = await submit(client, url, **fields)
    assert answer.status_code == 200
    changes = re.findall(r"<li>(.*?)</li>", answer.text.split('id="what-changed"')[1])[:3]
    assert changes == [
        "We will contact you first by email instead of by text message.",
        "You will no longer get messages about bins, recycling and waste collections.",
        "We will send your letters in large print.",
    ]
    stored = await store.get("sdc", "SDC-000123")
    assert stored is not None
    assert stored.channel_order == (Channel.EMAIL, Channel.SMS, Channel.LETTER)
    assert stored.topic_opt_outs == {"waste"} and stored.large_print
    last = (await store.audit_trail("sdc", "SDC-000123"))[-1]
    assert (last.actor, last.fields) == (
        "resident",
        ("accessible_format", "channel_order", "topic_opt_outs"),
    )


async def test_saving_nothing_new_says_so(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """Submitting the choices as they are changes nothing and says so."""
    answer = await submit(
        client, f"/preferences/{links.preferences_token(ALEX)}", **{"first-channel": "sms"}
    )
    assert "You did not change anything" in answer.text
    assert len(await store.audit_trail("sdc", "SDC-000123")) == 1


async def test_resuming_messages_and_keeping_channel_specific_opt_outs(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """Unticking a topic resumes it; an opt-out the page does not show (waste by text) stays."""
    await store.put(
        dataclasses.replace(ALEX, topic_opt_outs=frozenset({"planning", "waste:sms"})), actor="test"
    )
    answer = await submit(
        client, f"/preferences/{links.preferences_token(ALEX)}", **{"first-channel": "sms"}
    )
    assert "You will get messages about planning applications again." in answer.text
    stored = await store.get("sdc", "SDC-000123")
    assert stored is not None and stored.topic_opt_outs == {"waste:sms"}
    assert "Bins, recycling and waste collections by text message" in answer.text


async def test_missing_choice_shows_the_error_summary_and_saves_nothing(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """No first channel: 400, 'Error:' in the title, a summary linking to the radios, the
    field's own message, and the resident's other ticks kept; nothing stored."""
    answer = await submit(client, f"/preferences/{links.preferences_token(ALEX)}", stop=["waste"])
    assert answer.status_code == 400
    assert "<title>Error: How we contact you" in answer.text
    assert 'href="#first-channel"' in answer.text and 'id="first-channel-error"' in answer.text
    assert re.search(r'value="waste" checked', answer.text)
    assert (await store.get("sdc", "SDC-000123")) == ALEX


@pytest.mark.parametrize(
    "fields",
    [
        {"first-channel": "fax"},
        {"first-channel": "sms", "stop": "parking"},
    ],
)
async def test_values_not_offered_are_refused(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links, fields: dict[str, str]
) -> None:
    """A channel or topic the page never offered is an error, not a change."""
    answer = await submit(client, f"/preferences/{links.preferences_token(ALEX)}", **fields)
    assert answer.status_code == 400 and "There is a problem" in answer.text
    assert (await store.get("sdc", "SDC-000123")) == ALEX


async def test_a_post_without_the_pages_form_token_is_refused(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """A forged or replayed-from-elsewhere form (no token, or another page's) saves nothing."""
    url = f"/preferences/{links.preferences_token(ALEX)}"
    other = links.form_token(links.preferences_token(dataclasses.replace(ALEX, customer_id="X")))
    for token in ("", other):
        answer = await client.post(url, data={"form-token": token, "first-channel": "letter"})
        assert answer.status_code == 400 and "timed out" in answer.text
    assert (await store.get("sdc", "SDC-000123")) == ALEX


async def test_broken_expired_and_erased_links_do_not_work(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links, engine: AsyncEngine
) -> None:
    """A made-up link is 404, one past its lifetime 410, and one for an erased or deceased
    customer 404; none of them can change anything."""
    assert (await client.get("/preferences/made-up")).status_code == 404
    strict = Links(SECRET, base_url=BASE, lifetime=timedelta(seconds=-1))
    async with in_process(build_app(engine, strict)) as late:
        url = f"/preferences/{strict.preferences_token(ALEX)}"
        expired = await late.get(url)
        assert expired.status_code == 410 and "This link does not work" in expired.text
        assert (await late.post(url, data={"first-channel": "letter"})).status_code == 410
    await store.put(dataclasses.replace(ALEX, deceased=True), actor="crm")
    url = f"/preferences/{links.preferences_token(ALEX)}"
    assert (await client.get(url)).status_code == 404
    await store.erase("sdc", "SDC-000123", actor="crm")
    assert (await client.post(url, data={"first-channel": "sms"})).status_code == 404


async def test_page_escapes_what_it_shows(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """Stored text is escaped, never markup."""
    await store.put(
        dataclasses.replace(ALEX, address=("1 Road", "Town", "<b>CV37 6AA</b>")), actor="test"
    )
    html = (await client.get(f"/preferences/{links.preferences_token(ALEX)}")).text
    assert "<b>CV37" not in html and "&lt;b&gt;CV37 6AA&lt;/b&gt;" in html


async def test_one_click_unsubscribe_answers_an_empty_post_and_is_idempotent(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """RFC 8058: an empty POST (and the List-Unsubscribe=One-Click body) returns 200 and records
    the topic opt-out once; repeating it changes nothing."""
    url = links.unsubscribe_link(ALEX, "waste")
    assert url is not None
    path = url.removeprefix("https://notify.example.gov.uk")
    assert (await client.post(path)).status_code == 200
    again = await client.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert again.status_code == 200
    stored = await store.get("sdc", "SDC-000123")
    assert stored is not None and stored.topic_opt_outs == {"waste"}
    trail = await store.audit_trail("sdc", "SDC-000123")
    assert [(e.actor, e.fields) for e in trail[1:]] == [
        ("resident-unsubscribe", ("topic_opt_outs",))
    ]


async def test_unsubscribe_get_only_asks(
    client: httpx.AsyncClient, store: PreferenceStore, links: Links
) -> None:
    """Opening the link (as mail scanners do) shows a confirmation and changes nothing."""
    url = links.unsubscribe_link(ALEX, "waste")
    assert url is not None
    answer = await client.get(url.removeprefix("https://notify.example.gov.uk"))
    assert answer.status_code == 200 and "Stop these messages" in answer.text
    assert (await store.get("sdc", "SDC-000123")) == ALEX
    assert (await client.post("/unsubscribe/made-up")).status_code == 404
