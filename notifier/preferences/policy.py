"""The contact policy, as a pure function: who gets what, on which channels, and when."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifier.model import Channel
from notifier.preferences.model import Preferences

LONDON = ZoneInfo("Europe/London")


@dataclasses.dataclass(frozen=True, slots=True)
class Suppression:
    """Nothing may be sent; ``reason`` is a short code."""

    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelPlan:
    """Channels to try, in order. ``not_before`` holds SMS back until quiet hours end (UTC)."""

    channels: tuple[Channel, ...]
    not_before: dict[Channel, datetime] = dataclasses.field(default_factory=dict)


def plan_channels(
    preferences: Preferences,
    *,
    topic: str,
    statutory: bool,
    urgent: bool,
    now: datetime,
) -> ChannelPlan | Suppression:
    """The ordered channels for one message, or why none may be used.

    Deceased and do-not-contact suppress everything, statutory notices included. Opting out of
    a topic suppresses it unless the message is a statutory notice; opting out of a topic on one
    channel (``waste:sms``) routes it to the next channel, and a statutory notice routed off every
    channel still goes by the customer's order, since the law says it must be sent. A channel is
    usable when the customer has a contact detail for it and, for SMS, has not replied STOP.
    Urgent messages skip quiet hours; nothing else does.
    """
    if preferences.deceased:
        return Suppression("deceased")
    if preferences.do_not_contact:
        return Suppression("do-not-contact")
    if not statutory and preferences.opted_out_of(topic):
        return Suppression("opted-out")
    usable = tuple(
        channel
        for channel in dict.fromkeys(preferences.channel_order)
        if preferences.contact(channel)
        and not (channel is Channel.SMS and preferences.sms_opted_out)
    )
    if not usable:
        return Suppression("no-usable-channel")
    channels = tuple(c for c in usable if f"{topic}:{c}" not in preferences.topic_opt_outs)
    if not channels:
        if not statutory:
            return Suppression("opted-out")
        channels = usable
    not_before = {}
    if Channel.SMS in channels and preferences.quiet_hours and not urgent:
        opens = quiet_hours_end(now, *preferences.quiet_hours)
        if opens is not None:
            not_before[Channel.SMS] = opens
    return ChannelPlan(channels, not_before)


def quiet_hours_end(now: datetime, start: time, end: time) -> datetime | None:
    """When the quiet window containing ``now`` ends, in UTC, or None if ``now`` is outside it.

    The window is wall-clock time in Europe/London, so it follows the clocks across GMT and BST;
    an end that falls in the spring-forward gap opens at the first moment after it.
    """
    local = now.astimezone(LONDON)
    t = local.time()
    if start == end:
        return None
    crosses_midnight = start > end
    inside = (t >= start or t < end) if crosses_midnight else (start <= t < end)
    if not inside:
        return None
    day = local.date()
    if crosses_midnight and t >= start:
        day += timedelta(days=1)
    # Returned in UTC: arithmetic between two datetimes sharing one ZoneInfo ignores DST.
    return datetime.combine(day, end, tzinfo=LONDON).astimezone(UTC)
