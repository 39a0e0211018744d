"""Reconciling a send of unknown outcome with Twilio: the fake's Messages list (filters, paging),
an accepted message whose answer was lost, and a list that cannot be read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from notifier.channels.base import reconciler
from notifier.channels.twilio import TwilioChannel
from notifier.errors import TechnicalFailure
from notifier.model import Status
from tests.channels.test_twilio import make_channel, sms
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

TO = "+447700900123"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def channel(fake: FakeTwilio) -> AsyncIterator[TwilioChannel]:
    channel = make_channel(fake)
    yield channel
    await channel.aclose()


async def listed(fake: FakeTwilio, **query: str) -> list[dict[str, object]]:
    """Every Message the fake lists for ``query``, following next_page_uri."""
    found: list[dict[str, object]] = []
    url: str | None = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    params: dict[str, str] | None = query
    async with httpx.AsyncClient(base_url=fake.base_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as c:
        while url is not None:
            page = (await c.get(url, params=params)).json()
            found += page["messages"]
            url, params = page["next_page_uri"], None
    return found


async def test_the_fake_lists_newest_first_filtered_by_to_and_from_in_pages(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """GET Messages.json filters by To and From and pages (PageSize, next_page_uri), newest
    first, like Twilio's list."""
    for n in range(5):
        await channel.send(sms(body=f"message {n}"))
    await channel.send(sms(to="07700 900999", body="another number"))
    mine = await listed(fake, To=TO, PageSize="2")
    assert [m["body"] for m in mine] == [f"message {n}" for n in (4, 3, 2, 1, 0)]
    assert len(fake.lists) == 3  # three pages of two
    assert await listed(fake, To=TO, From="SomeoneElse") == []
    assert len(await listed(fake, From="StratfordDC")) == 6


async def test_the_fake_filters_by_date_sent_which_a_queued_message_lacks(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """DateSent, DateSent< and DateSent> (a date or an ISO time) match date_sent, which stays
    null while the Message is queued, as Twilio's does."""
    receipt = await channel.send(sms())
    today = datetime.now(UTC).date().isoformat()
    assert await listed(fake, To=TO, **{"DateSent>": today}) == []  # queued: not sent yet
    assert receipt.provider_ref is not None
    fake.set_status(receipt.provider_ref, "sent")
    assert len(await listed(fake, To=TO, **{"DateSent>": today})) == 1
    assert len(await listed(fake, To=TO, DateSent=today)) == 1
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await listed(fake, To=TO, **{"DateSent>": tomorrow}) == []
    assert len(await listed(fake, To=TO, **{"DateSent<": tomorrow})) == 1


async def test_an_accepted_message_whose_answer_was_lost_is_found(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """The fake accepts a message and closes the connection: the send fails as retryable, and
    find adopts Twilio's copy (its SID, status sending) without posting it again."""
    started = datetime.now(UTC)
    fake.lose_answer_next()
    with pytest.raises(TechnicalFailure) as failed:
        await channel.send(sms())
    assert failed.value.retryable
    [sid] = fake.messages
    finder = reconciler(channel)
    assert finder is not None
    found = await finder.find(sms(), started)
    assert found is not None
    assert (found.status, found.provider_ref, found.fragments) == (Status.SENDING, sid, 1)
    assert len(fake.messages) == 1


async def test_find_adopts_only_our_body_created_since_the_attempt(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """Another body to the same number is not ours, and a copy created well before the attempt
    started (beyond the clock allowance) belongs to an earlier message: nothing is found."""
    await channel.send(sms(body="a different message"))
    assert await channel.find(sms(), datetime.now(UTC) - timedelta(seconds=5)) is None
    await channel.send(sms())
    assert await channel.find(sms(), datetime.now(UTC) + timedelta(minutes=10)) is None
    assert await channel.find(sms(), datetime.now(UTC) - timedelta(seconds=5)) is not None


async def test_find_pages_through_the_numbers_messages(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """Our copy several pages down the list (newest first, 100 a page) is still found."""
    started = datetime.now(UTC)
    await channel.send(sms())
    for n in range(210):
        await channel.send(sms(body=f"later {n}"))
    found = await channel.find(sms(), started)
    assert found is not None and found.provider_ref == next(iter(fake.messages))
    assert len(fake.lists) == 3


async def test_find_maps_a_delivered_or_failed_copy_by_the_callbacks_table(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """A copy Twilio has since delivered is adopted as delivered; the reason says reconciled."""
    started = datetime.now(UTC)
    receipt = await channel.send(sms())
    assert receipt.provider_ref is not None
    fake.set_status(receipt.provider_ref, "delivered")
    found = await channel.find(sms(), started)
    assert found is not None
    assert (found.status, found.reason) == (Status.DELIVERED, "reconciled")


async def test_find_raises_a_retryable_failure_when_twilio_cannot_be_asked(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """A list answered 503 is a retryable TechnicalFailure, never 'not found'."""
    fake.fail_lists(503)
    with pytest.raises(TechnicalFailure) as failed:
        await channel.find(sms(), datetime.now(UTC))
    assert failed.value.retryable and failed.value.code == "http-503"
