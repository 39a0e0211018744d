"""Residents' replies to text messages: the keywords that opt a number out of texts or back in,
the same whichever provider (Twilio, GOV.UK Notify) passed the reply on: Twilio's default opt-out
and opt-in keywords, plus REVOKE and OPTOUT from its Advanced Opt-Out
(https://help.twilio.com/articles/223134027), since Twilio blocks the number for those too."""

from __future__ import annotations

from notifier.preferences.store import PreferenceStore
from notifier.recipients.mobile import InvalidMobile, normalise_uk_mobile

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})


def keyword_opt_out(body: str) -> bool | None:
    """True for a STOP-family reply, False for START, None for anything else (whole message,
    trimmed, any case)."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return True
    if word in OPT_IN_KEYWORDS:
        return False
    return None


def reply_number(number: str) -> str:
    """A reply's sender in the E.164 form the store keeps: Twilio sends ``+447700900123``,
    Notify ``447700900123``; a number that is not a UK mobile is kept as given."""
    for candidate in (number, "+" + number.lstrip("+")):
        try:
            return normalise_uk_mobile(candidate, allow_fiction_range=True)
        except InvalidMobile:
            continue
    return number.strip()


async def apply_reply(
    preferences: PreferenceStore, body: str, sender: str, *, actor: str
) -> tuple[str, int]:
    """Opt ``sender``'s customers out of texts (or back in) for a keyword reply: the action
    (``opt-out``, ``opt-in`` or ``ignored``) and how many customers it changed."""
    opted_out = keyword_opt_out(body)
    if opted_out is None or not sender:
        return "ignored", 0
    customers = await preferences.opt_out_sms(
        [reply_number(sender)], opted_out=opted_out, actor=actor
    )
    return ("opt-out" if opted_out else "opt-in"), customers
