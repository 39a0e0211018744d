"""The pure plan: event details in, drafts, unusable channels, order and suppression out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from notifier import events
from notifier.councils import load_councils
from notifier.errors import PermanentFailure
from notifier.messages import EmailMessage, LetterMessage, SmsMessage
from notifier.model import Channel
from notifier.planning import Plan, plan
from notifier.preferences.model import Preferences
from notifier.templates.source import Catalogue
from tests.events import body, make_event

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CATALOGUE = Catalogue.load()
COUNCILS = load_councils()
ADDRESS = ["Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"]
EMAIL, SMS, LETTER = Channel.EMAIL, Channel.SMS, Channel.LETTER


def planned(recipient: dict[str, Any], stored: Preferences | None = None, **options: Any) -> Plan:
    event = events.parse(body(make_event(recipient=recipient)), "application/cloudevents+json")
    return plan(event, stored, catalogue=CATALOGUE, councils=COUNCILS, now=NOON, **options)


def failures(decided: Plan) -> dict[Channel, tuple[str, str]]:
    return {c: (f.code, f.detail) for c, f in decided.unusable.items()}


# (case, recipient details, drafts' contacts, unusable channels with code and rule)
TABLE: list[tuple[str, dict[str, Any], dict[Channel, str], dict[Channel, tuple[str, str]]]] = [
    (
        "every detail good and normalised",
        {"email": " Alex@Example.ORG ", "mobile": "07723 456789", "address": ADDRESS},
        {EMAIL: "Alex@example.org", SMS: "+447723456789", LETTER: "\n".join(ADDRESS)},
        {},
    ),
    (
        "mobile with a letter in it",
        {"mobile": "07890x32109", "address": ADDRESS},
        {LETTER: "\n".join(ADDRESS)},
        {SMS: ("invalid-mobile", "unknown-character")},
    ),
    (
        "London landline",
        {"mobile": "020 7946 0991", "address": ADDRESS},
        {LETTER: "\n".join(ADDRESS)},
        {SMS: ("invalid-mobile", "not-a-uk-mobile")},
    ),
    (
        "Bristol landline",
        {"mobile": "0117 496 0860", "address": ADDRESS},
        {LETTER: "\n".join(ADDRESS)},
        {SMS: ("invalid-mobile", "not-a-uk-mobile")},
    ),
    (
        "short freephone number",
        {"mobile": "0800 11 12", "address": ADDRESS},
        {LETTER: "\n".join(ADDRESS)},
        {SMS: ("invalid-mobile", "not-a-uk-mobile")},
    ),
    (
        "mobile a digit short",
        {"mobile": "0772345678", "address": ADDRESS},
        {LETTER: "\n".join(ADDRESS)},
        {SMS: ("invalid-mobile", "too-short")},
    ),
    (
        "bad email, landline and an address: the letter is posted",
        {"email": "alex@", "mobile": "020 7946 0991", "address": ADDRESS},
        {LETTER: "\n".join(ADDRESS)},
        {EMAIL: ("invalid-email", "invalid-email"), SMS: ("invalid-mobile", "not-a-uk-mobile")},
    ),
    (
        "address without a postcode",
        {"email": "alex@example.org", "address": ["10 High Street", "Stratford-upon-Avon"]},
        {EMAIL: "alex@example.org"},
        {LETTER: ("invalid-address", "not-a-real-uk-postcode-or-country")},
    ),
    (
        "a one-line address is too short even with the name",
        {"email": "alex@example.org", "address": ["CV37 6AA"]},
        {EMAIL: "alex@example.org"},
        {LETTER: ("invalid-address", "not-enough-address-lines")},
    ),
    (
        "name makes the eighth line of a seven-line address",
        {
            "address": [
                "Flat 2",
                "Mill House",
                "10 High St",
                "Old Town",
                "Shottery",
                "Stratford",
                "CV37 6AA",
            ]
        },
        {},
        {LETTER: ("invalid-address", "too-many-address-lines")},
    ),
    (
        "name makes a two-line address three",
        {"address": ["10 High Street", "CV37 6AA"]},
        {LETTER: "10 High Street\nCV37 6AA"},
        {},
    ),
    (
        "drama-range mobile without the flag",
        {"mobile": "07700 900123"},
        {},
        {SMS: ("invalid-mobile", "invalid-number")},
    ),
]


@pytest.mark.parametrize(
    ("recipient", "contacts", "unusable"), [row[1:] for row in TABLE], ids=[r[0] for r in TABLE]
)
def test_details_become_drafts_or_unusable_channels(
    recipient: dict[str, Any],
    contacts: dict[Channel, str],
    unusable: dict[Channel, tuple[str, str]],
) -> None:
    """Each event detail goes through its rule: usable ones become normalised drafts, others a
    recorded reason; the order keeps every channel with a detail, in the customer's order."""
    decided = planned({"customer_id": "SDC-9", "name": "Alex Smith", **recipient})
    assert decided.suppression is None
    assert {c: d.contact for c, d in decided.drafts.items()} == contacts
    assert failures(decided) == unusable
    assert decided.order == tuple(c for c in (EMAIL, SMS, LETTER) if c in contacts | unusable)


def test_drafts_are_addressed_with_the_notification_id_and_normalised_recipient() -> None:
    """A draft builds its message only when given its id; the text goes to the E.164 number."""
    decided = planned({"email": "alex@example.org", "mobile": "07723 456789", "address": ADDRESS})
    sms = decided.drafts[SMS].addressed("n-2")
    email = decided.drafts[EMAIL].addressed("n-1")
    letter = decided.drafts[LETTER].addressed("n-3")
    assert isinstance(sms, SmsMessage) and (sms.notification_id, sms.to) == ("n-2", "+447723456789")
    assert isinstance(email, EmailMessage) and email.notification_id == "n-1"
    assert isinstance(letter, LetterMessage) and letter.address == tuple(ADDRESS)


def test_stored_details_go_through_the_same_rules() -> None:
    """A stored customer's details are checked too: a stored landline is unusable."""
    stored = Preferences(
        council="sdc",
        customer_id="SDC-1",
        mobile="020 7946 0991",
        email="alex@example.org",
        channel_order=(SMS, EMAIL),
        stored=True,
    )
    decided = planned({"customer_id": "SDC-1"}, stored)
    assert decided.order == (SMS, EMAIL)
    assert failures(decided) == {SMS: ("invalid-mobile", "not-a-uk-mobile")}
    assert list(decided.drafts) == [EMAIL]


def test_drama_range_is_a_mobile_when_the_plan_allows_it() -> None:
    """With allow_fiction_range, Ofcom's drama range is a usable mobile in E.164."""
    decided = planned({"mobile": "07700 900123"}, allow_fiction_range=True)
    assert decided.unusable == {}
    assert decided.drafts[SMS].contact == "+447700900123"


def test_no_detail_at_all_is_still_no_usable_channel() -> None:
    """Without any contact detail the event is suppressed as before, with no drafts."""
    decided = planned({"customer_id": "SDC-9", "name": "Alex Smith"})
    assert decided.suppression is not None and decided.suppression.reason == "no-usable-channel"
    assert (decided.drafts, decided.order, decided.unusable) == ({}, (), {})


def test_every_detail_unusable_keeps_every_channel_in_order_with_its_reason() -> None:
    """Details that all break their rules are not a suppression: each channel is recorded."""
    decided = planned({"email": "alex@", "mobile": "0800 11 12"})
    assert decided.suppression is None and decided.drafts == {}
    assert decided.order == (EMAIL, SMS)
    assert all(isinstance(f, PermanentFailure) for f in decided.unusable.values())
    assert sorted(f.code for f in decided.unusable.values()) == ["invalid-email", "invalid-mobile"]


def test_quiet_hours_do_not_hold_an_unusable_text() -> None:
    """An unusable SMS channel has no send time: it is recorded at once and fallen past."""
    night = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    event = events.parse(
        body(make_event(recipient={"mobile": "020 7946 0991", "address": ADDRESS})), None
    )
    decided = plan(event, None, catalogue=CATALOGUE, councils=COUNCILS, now=night)
    assert decided.not_before == {}
    assert list(decided.unusable) == [SMS]


def test_unusable_reasons_never_hold_the_detail() -> None:
    """The reasons name the rule, never the address, number or email that broke it."""
    decided = planned({"email": "zebedee@", "mobile": "020 7946 0991", "address": ["Zebedee"]})
    text = " ".join(f"{f} {f.code} {f.detail}" for f in decided.unusable.values())
    assert len(decided.unusable) == 3
    for secret in ("zebedee", "Zebedee", "7946", "0991"):
        assert secret not in text
