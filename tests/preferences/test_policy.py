"""The contact policy, table-driven: suppression, opt-outs, statutory notices, fallback order,
SMS STOP, urgency and quiet hours across midnight and the clock changes (Europe/London)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time
from typing import Any

import pytest

from notifier.model import Channel
from notifier.preferences.model import Preferences
from notifier.preferences.policy import ChannelPlan, Suppression, plan_channels, quiet_hours_end

E, S, L = Channel.EMAIL, Channel.SMS, Channel.LETTER
NOON = datetime(2027, 1, 12, 12, 0, tzinfo=UTC)
EVERYONE = Preferences(
    council="sdc",
    customer_id="SDC-1",
    email="a@example.org",
    mobile="+447700900123",
    address=("1 High Street", "Stratford-upon-Avon", "CV37 6AA"),
    channel_order=(S, E, L),
    stored=True,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (name, changes to EVERYONE, topic, statutory, urgent, now, expected channels or reason)
Expected = tuple[Channel, ...] | str
DECISIONS: list[tuple[str, dict[str, Any], str, bool, bool, datetime, Expected]] = [
    ("chosen order", {}, "waste", False, False, NOON, (S, E, L)),
    ("deceased suppresses all", {"deceased": True}, "waste", False, False, NOON, "deceased"),
    (
        "deceased even for statutory, urgent",
        {"deceased": True},
        "planning",
        True,
        True,
        NOON,
        "deceased",
    ),
    (
        "deceased before do-not-contact",
        {"deceased": True, "do_not_contact": True},
        "waste",
        False,
        False,
        NOON,
        "deceased",
    ),
    (
        "do-not-contact suppresses all",
        {"do_not_contact": True},
        "waste",
        False,
        False,
        NOON,
        "do-not-contact",
    ),
    (
        "do-not-contact even for statutory, urgent",
        {"do_not_contact": True},
        "council-tax",
        True,
        True,
        NOON,
        "do-not-contact",
    ),
    (
        "topic opt-out suppresses",
        {"topic_opt_outs": frozenset({"waste"})},
        "waste",
        False,
        False,
        NOON,
        "opted-out",
    ),
    (
        "urgent does not override opt-out",
        {"topic_opt_outs": frozenset({"waste"})},
        "waste",
        False,
        True,
        NOON,
        "opted-out",
    ),
    (
        "other topics unaffected",
        {"topic_opt_outs": frozenset({"waste"})},
        "planning",
        False,
        False,
        NOON,
        (S, E, L),
    ),
    (
        "statutory ignores topic opt-out",
        {"topic_opt_outs": frozenset({"planning"})},
        "planning",
        True,
        False,
        NOON,
        (S, E, L),
    ),
    (
        "topic off one channel: next channel",
        {"topic_opt_outs": frozenset({"waste:sms"})},
        "waste",
        False,
        False,
        NOON,
        (E, L),
    ),
    (
        "topic off every channel",
        {"topic_opt_outs": frozenset({"waste:sms", "waste:email", "waste:letter"})},
        "waste",
        False,
        False,
        NOON,
        "opted-out",
    ),
    (
        "statutory routed off one channel",
        {"topic_opt_outs": frozenset({"council-tax:sms"})},
        "council-tax",
        True,
        False,
        NOON,
        (E, L),
    ),
    (
        "statutory routed off every channel still goes",
        {
            "topic_opt_outs": frozenset(
                {"council-tax:sms", "council-tax:email", "council-tax:letter"}
            )
        },
        "council-tax",
        True,
        False,
        NOON,
        (S, E, L),
    ),
    (
        "fallback skips a channel without details",
        {"mobile": None},
        "waste",
        False,
        False,
        NOON,
        (E, L),
    ),
    ("sms STOP removes texts", {"sms_opted_out": True}, "waste", False, False, NOON, (E, L)),
    (
        "sms STOP holds for statutory too",
        {"sms_opted_out": True},
        "planning",
        True,
        True,
        NOON,
        (E, L),
    ),
    (
        "order without letter never writes",
        {"channel_order": (E, S)},
        "waste",
        False,
        False,
        NOON,
        (E, S),
    ),
    (
        "a repeated channel counts once",
        {"channel_order": (E, E, S)},
        "waste",
        False,
        False,
        NOON,
        (E, S),
    ),
    (
        "no contact details",
        {"email": None, "mobile": None, "address": None},
        "waste",
        False,
        False,
        NOON,
        "no-usable-channel",
    ),
    (
        "only a stopped mobile",
        {"email": None, "address": None, "sms_opted_out": True},
        "waste",
        False,
        False,
        NOON,
        "no-usable-channel",
    ),
]


@pytest.mark.parametrize(
    ("changes", "topic", "statutory", "urgent", "now", "expected"),
    [case[1:] for case in DECISIONS],
    ids=[case[0] for case in DECISIONS],
)
def test_plan_channels_decides_by_preferences(
    changes: dict[str, Any],
    topic: str,
    statutory: bool,
    urgent: bool,
    now: datetime,
    expected: Expected,
) -> None:
    """Each row: the channels in order, or the suppression reason."""
    decision = plan_channels(
        dataclasses.replace(EVERYONE, **changes),
        topic=topic,
        statutory=statutory,
        urgent=urgent,
        now=now,
    )
    if isinstance(expected, str):
        assert decision == Suppression(expected)
    else:
        assert isinstance(decision, ChannelPlan) and decision.channels == expected


# (name, now in UTC, quiet hours, when the window opens in UTC or None if outside it)
WINDOWS: list[tuple[str, datetime, tuple[time, time], datetime | None]] = [
    (
        "winter evening, inside",
        utc("2027-01-12T22:00"),
        (time(21), time(8)),
        utc("2027-01-13T08:00"),
    ),
    (
        "winter after midnight, inside",
        utc("2027-01-13T03:00"),
        (time(21), time(8)),
        utc("2027-01-13T08:00"),
    ),
    (
        "starts at 21:00 sharp",
        utc("2027-01-12T21:00"),
        (time(21), time(8)),
        utc("2027-01-13T08:00"),
    ),
    ("ends at 08:00 sharp", utc("2027-01-13T08:00"), (time(21), time(8)), None),
    (
        "one minute before the end",
        utc("2027-01-13T07:59"),
        (time(21), time(8)),
        utc("2027-01-13T08:00"),
    ),
    ("winter afternoon, outside", utc("2027-01-12T15:00"), (time(21), time(8)), None),
    (
        "summer 21:30 BST is inside (20:30 UTC)",
        utc("2027-07-12T20:30"),
        (time(21), time(8)),
        utc("2027-07-13T07:00"),
    ),
    ("summer 08:30 BST is outside (07:30 UTC)", utc("2027-07-13T07:30"), (time(21), time(8)), None),
    (
        "summer 07:30 BST is inside (06:30 UTC)",
        utc("2027-07-13T06:30"),
        (time(21), time(8)),
        utc("2027-07-13T07:00"),
    ),
    (
        "night the clocks go forward",
        utc("2027-03-27T22:00"),
        (time(21), time(8)),
        utc("2027-03-28T07:00"),
    ),
    (
        "night the clocks go back",
        utc("2027-10-30T21:30"),
        (time(21), time(8)),
        utc("2027-10-31T08:00"),
    ),
    (
        "daytime window, inside",
        utc("2027-01-12T13:30"),
        (time(13), time(14)),
        utc("2027-01-12T14:00"),
    ),
    ("daytime window, outside", utc("2027-01-12T22:00"), (time(13), time(14)), None),
    (
        "end in the spring-forward gap opens after it",
        utc("2027-03-28T00:30"),
        (time(0), time(1, 30)),
        utc("2027-03-28T01:30"),
    ),
]


@pytest.mark.parametrize(
    ("now", "window", "opens"), [case[1:] for case in WINDOWS], ids=[c[0] for c in WINDOWS]
)
def test_quiet_hours_follow_london_wall_clock(
    now: datetime, window: tuple[time, time], opens: datetime | None
) -> None:
    """Each row: when the quiet window holding ``now`` opens (UTC), or None outside it."""
    assert quiet_hours_end(now, *window) == opens


def test_text_in_quiet_hours_waits_until_the_window_opens() -> None:
    """At night only SMS is held back, until 08:00 London; email and letters are not."""
    decision = plan_channels(
        EVERYONE, topic="waste", statutory=False, urgent=False, now=utc("2027-01-12T22:00")
    )
    assert decision == ChannelPlan((S, E, L), {S: utc("2027-01-13T08:00")})


def test_urgent_text_skips_quiet_hours() -> None:
    """An urgent event is texted at night."""
    decision = plan_channels(
        EVERYONE, topic="waste", statutory=False, urgent=True, now=utc("2027-01-12T22:00")
    )
    assert decision == ChannelPlan((S, E, L), {})


def test_no_quiet_hours_means_no_wait() -> None:
    """A customer with quiet hours turned off is texted at night."""
    decision = plan_channels(
        dataclasses.replace(EVERYONE, quiet_hours=None),
        topic="waste",
        statutory=False,
        urgent=False,
        now=utc("2027-01-12T22:00"),
    )
    assert decision == ChannelPlan((S, E, L), {})


def test_opening_time_subtracts_correctly_from_a_london_clock() -> None:
    """The opening is UTC, so the delay is right even when ``now`` is given in London time."""
    from zoneinfo import ZoneInfo

    now = datetime(2027, 10, 31, 0, 30, tzinfo=ZoneInfo("Europe/London"))  # BST, before change
    opens = quiet_hours_end(now, time(21), time(8))
    assert opens is not None and (opens - now).total_seconds() == 8.5 * 3600
