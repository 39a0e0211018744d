"""Email addresses: whether one can be sent to, and the form it is stored and sent in.

Format only, no DNS lookup (RFC 5321 §4.5.3.1 lengths; GOV.UK Notify's stricter-than-RFC rules:
no quoted local parts, no IP literals, no display names, an ASCII local part). The domain is
lower-cased and written as IDNA A-labels (RFC 5890), so the address goes over any SMTP relay
without SMTPUTF8. Pure: no I/O.
"""

from __future__ import annotations

import functools

from email_validator import EmailNotValidError, validate_email

from notifier.recipients.invalid import InvalidDetail

# Longer input is refused before parsing: no address that long can be valid (RFC 5321 caps the
# path at 256 octets), and the bound keeps a pasted document from being parsed at all.
MAX_LENGTH = 320
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
INVALID_EMAIL = "invalid-email"
MESSAGE = "Enter an email address in the correct format, like name@example.com"
# Characters people paste without seeing them; removed wherever they are.
_INVISIBLE = dict.fromkeys(map(ord, "\u180e\u200b\u200c\u200d\u2060\ufeff"))


class InvalidEmail(InvalidDetail):
    """An address no email can be sent to."""

    def __init__(self) -> None:
        super().__init__(INVALID_EMAIL, MESSAGE)


# The plan checks each detail and the adapter that sends it checks it again: the second is a
# look-up. Only valid details are kept (an exception is not cached), in this process only.
@functools.lru_cache(maxsize=4096)
def normalise_email(raw: str) -> str:
    """``raw`` as stored and sent (domain lower case, in A-labels), or InvalidEmail."""
    address = raw.translate(_INVISIBLE).strip()
    if not address or len(address) > MAX_LENGTH:
        raise InvalidEmail()
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        # The library's own messages may quote parts of the address.
        raise InvalidEmail() from None
    if len(checked.local_part) > MAX_LOCAL_PART:
        raise InvalidEmail()
    return checked.ascii_email or checked.normalized
