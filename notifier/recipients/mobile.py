"""UK mobile numbers and SMS sender ids: validation and normalisation.

Numbers follow Ofcom's National Telephone Numbering Plan and ITU-T E.164; the codes and wording
are GOV.UK Notify's (notifications-utils ``recipient_validation``), sender ids follow Notify's and
Twilio's "Alphanumeric Sender ID" rules. Pure functions, no I/O. Errors carry a code for callers
to branch on and the reference wording for people; neither ever contains the number itself.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

from notifier.recipients.invalid import InvalidDetail

# GOV.UK Notify's error codes, written as the rule codes the API and reasons use.
INVALID_NUMBER = "invalid-number"
TOO_LONG = "too-long"
TOO_SHORT = "too-short"
NOT_A_UK_MOBILE = "not-a-uk-mobile"
UNKNOWN_CHARACTER = "unknown-character"
UNSUPPORTED_COUNTRY_CODE = "unsupported-country-code"

MESSAGES: dict[str, str] = {
    INVALID_NUMBER: "Number is not valid – double check the phone number you entered",
    TOO_LONG: "Mobile number is too long",
    TOO_SHORT: "Mobile number is too short",
    NOT_A_UK_MOBILE: (
        "This does not look like a UK mobile number – double check the mobile number you entered"
    ),
    UNKNOWN_CHARACTER: "Mobile numbers can only include: 0 1 2 3 4 5 6 7 8 9 ( ) + -",
    UNSUPPORTED_COUNTRY_CODE: "Country code not found - double check the mobile number you entered",
}

# Whitespace people paste into number fields, including the invisible kinds.
_INVISIBLE = "\u00a0\u202f\u180e\u200b\u200c\u200d\u2060\ufeff\u2028\u2029"
_PUNCTUATION = "()-"
_ALLOWED = frozenset("0123456789+" + _PUNCTUATION + _INVISIBLE)
_UK_COUNTRY_CODE = "44"
_NSN_LENGTH = 10
# Ofcom's drama range, matched as a whole range of national significant numbers.
_FICTION_RANGE = range(7700900000, 7700901000)

_SENDER_ID = re.compile(r"[A-Za-z0-9 ]{3,11}")
_GENERIC_SENDERS = frozenset({"info", "verify", "alert"})
_MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")


class InvalidMobile(InvalidDetail):
    """A number that cannot receive our text messages; ``code`` is one of the codes above."""

    def __init__(self, code: str) -> None:
        super().__init__(code, MESSAGES[code])


# The plan checks each detail and the adapter that sends it checks it again: the second is a
# look-up. Only valid details are kept (an exception is not cached), in this process only.
@functools.lru_cache(maxsize=4096)
def normalise_uk_mobile(raw: str, *, allow_fiction_range: bool = False) -> str:
    """The E.164 form (``+447700900123``) of a UK mobile number, or InvalidMobile.

    Accepts national, international and spreadsheet-mangled forms. Only numbers in mobile ranges
    pass (so not 070 personal numbers, 076 pagers, landlines or premium rate); Crown dependency
    mobiles (+44 7781…, 07624…) are mobiles on the UK plan and pass. Ofcom's drama range
    07700 900000-900999 passes only with ``allow_fiction_range`` (tests, the dev outbox).
    """
    if any(char not in _ALLOWED and not char.isspace() for char in raw):
        raise InvalidMobile(UNKNOWN_CHARACTER)
    cleaned = "".join(char for char in raw if char in "0123456789+")
    _reject_other_countries(cleaned)
    nsn = _national_number(cleaned.replace("+", ""))
    if not nsn:
        raise InvalidMobile(TOO_SHORT)
    if not nsn.startswith("7"):
        raise InvalidMobile(NOT_A_UK_MOBILE)
    if len(nsn) != _NSN_LENGTH:
        raise InvalidMobile(TOO_LONG if len(nsn) > _NSN_LENGTH else TOO_SHORT)
    if not (allow_fiction_range and int(nsn) in _FICTION_RANGE):
        _check_range(nsn)
    return f"+{_UK_COUNTRY_CODE}{nsn}"


def _reject_other_countries(cleaned: str) -> None:
    """Raise for an explicit international prefix (``+`` or ``00``) with a country code other
    than 44. A ``+`` or ``00`` followed by another 0 is a typo (``+07…``), not a country code."""
    if cleaned.startswith("+"):
        international = cleaned[1:]
    elif cleaned.startswith("00"):
        international = cleaned[2:]
    else:
        return
    international = international.replace("+", "")
    if not international or international.startswith(("0", _UK_COUNTRY_CODE)):
        return
    try:
        phonenumbers.parse(f"+{international}", None)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidMobile(UNSUPPORTED_COUNTRY_CODE) from None
    raise InvalidMobile(NOT_A_UK_MOBILE)


def _national_number(digits: str) -> str:
    """Strip international and trunk prefixes: ``0044 (0)7…``, ``447…`` and ``07…`` all give 7…."""
    digits = digits.lstrip("0")
    if digits.startswith(_UK_COUNTRY_CODE):
        digits = digits[len(_UK_COUNTRY_CODE) :]
        if digits.startswith("0"):
            digits = digits[1:]
    return digits


def _check_range(nsn: str) -> None:
    """Ask the numbering plan whether a 10-digit 7… number is an assigned mobile number."""
    number = phonenumbers.parse(f"+{_UK_COUNTRY_CODE}{nsn}", None)
    if not phonenumbers.is_valid_number(number):
        raise InvalidMobile(INVALID_NUMBER)
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        raise InvalidMobile(NOT_A_UK_MOBILE)


def validate_sender_id(sender: str) -> str:
    """The sender id with surrounding whitespace removed, or ValueError naming the broken rule.

    The safe intersection of Notify's and Twilio's rules: 3-11 letters, digits or spaces, at
    least one letter, not a generic id and not starting ``00``.
    """
    sender = sender.strip()
    if not _SENDER_ID.fullmatch(sender):
        raise ValueError("sender id must be 3 to 11 characters of letters, digits and spaces")
    if not any(char.isalpha() for char in sender):
        raise ValueError("sender id must contain at least one letter")
    if sender.lower() in _GENERIC_SENDERS:
        raise ValueError("sender id must not be a generic id (info, verify, alert)")
    if sender.startswith("00"):
        raise ValueError("sender id must not start with 00")
    return sender


def is_messaging_service_sid(value: str) -> bool:
    """Whether ``value`` is a Twilio Messaging Service SID (``MG`` and 32 hex digits)."""
    return _MESSAGING_SERVICE_SID.fullmatch(value) is not None
