"""Residents' replies to text messages: the keywords that opt a number out of texts or back in,
the same whichever provider (Twilio, GOV.UK Notify) passed the reply on: Twilio's default opt-out
and opt-in keywords, plus REVOKE and OPTOUT from its Advanced Opt-Out
(https://help.twilio.com/articles/223134027), since Twilio blocks the number for those too."""

from __future__ import annotations

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
