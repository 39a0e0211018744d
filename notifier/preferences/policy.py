"""The contact policy, as a pure function: who gets what, on which channels, and when."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta
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
    """Channels to try, in order. ``not_before`` holds SMS back until quiet hours end."""

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

    Do-not-contact and deceased suppress everything; a topic opt-out suppresses everything unless
    the message is a statutory notice; a channel is usable when the customer has a contact detail
    for it (and for SMS has not replied STOP). Urgent messages skip quiet hours; nothing else.
    """
    if preferences.deceased:
        return Suppression("deceased")
    if preferences.do_not_contact:
        return Suppression("do-not-contact")
    if topic in preferences.topic_opt_outs and not statutory:
        return Suppression("opted-out")
    channels = tuple(
        channel
        for channel in preferences.channel_order
        if preferences.contact(channel)
        and not (channel is Channel.SMS and preferences.sms_opted_out)
    )
    if not channels:
        return Suppression("no-usable-channel")
    not_before = {}
    if Channel.SMS in channels and preferences.quiet_hours and not urgent:
        opens = quiet_hours_end(now, *preferences.quiet_hours)
        if opens is not None:
            not_before[Channel.SMS] = opens
    return ChannelPlan(channels, not_before)


def quiet_hours_end(now: datetime, start: time, end: time) -> datetime | None:
    """When the quiet window containing ``now`` ends (Europe/London), or None if not in one."""
    local = now.astimezone(LONDON)
    t = local.time()
    crosses_midnight = start > end
    inside = (t >= start or t < end) if crosses_midnight else (start <= t < end)
    if not inside:
        return None
    day = local.date()
    if crosses_midnight and t >= start:
        day += timedelta(days=1)
    return datetime.combine(day, end, tzinfo=LONDON)
