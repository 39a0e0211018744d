"""Page 1's fixed parts: the logo text, the council's contact block (with our reference and the
date) and the recipient's address in the envelope window. Pure layout, like ``layout.py``.
"""

from __future__ import annotations

from datetime import date

from notifier.errors import ConfigurationError
from notifier.letters import fonts
from notifier.letters.geometry import (
    ADDRESS_INSET_X,
    ADDRESS_INSET_Y,
    ADDRESS_WINDOW,
    CONTACT,
    LOGO,
    MM,
)
from notifier.letters.layout import Placed, display_url, wrap
from notifier.messages import LetterMessage
from notifier.model import Council
from notifier.recipients.address import InvalidAddress, PostalAddress

# Address type sizes to try, largest first, with 0.5 pt extra leading: 7 lines of 10 pt fit the
# 26.8 mm window. Liberation Sans capitals are 0.688 of the size, so 8.5 pt is still above Royal
# Mail's 2 mm minimum character height.
ADDRESS_SIZES = (10.0, 9.0, 8.5)
# pdfplumber's glyph box runs from 0.79 of the size above the baseline to 0.21 below it (the
# font's descent), so a line whose box top is at y has its baseline at y + 0.79 x size.
_BOX_ASCENT = 0.79
_LOGO_PADDING = 3 * MM
_LOGO_SIZES = (16.0, 15.0, 14.0, 13.0, 12.0, 11.0, 10.0, 9.0, 8.0)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def format_date(day: date) -> str:
    """A date in GOV.UK style: ``Monday 4 January 2027``."""
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def layout_address(address: PostalAddress) -> tuple[Placed, ...]:
    """The address lines inside the window, at the largest size at which every line fits; an
    InvalidAddress when a line fits at none, or has a character the font cannot print."""
    if fonts.undrawable("".join(address.lines)):
        raise InvalidAddress(
            "invalid-char-in-address", "The address has a character the letter font cannot print"
        )
    width = ADDRESS_WINDOW.width - 2 * ADDRESS_INSET_X
    for size in ADDRESS_SIZES:
        if all(fonts.text_width(line, fonts.REGULAR, size) <= width for line in address.lines):
            break
    else:
        raise InvalidAddress(
            "address-line-too-long", "An address line is too wide for the envelope window"
        )
    leading = size + 0.5
    first = ADDRESS_WINDOW.top + ADDRESS_INSET_Y + _BOX_ASCENT * size
    x = ADDRESS_WINDOW.left + ADDRESS_INSET_X
    return tuple(
        Placed(line, fonts.REGULAR, size, x, first + n * leading)
        for n, line in enumerate(address.lines)
    )


def layout_contact(message: LetterMessage) -> tuple[Placed, ...]:
    """The council's name, address, phone and website, then our reference and the date, at
    12 pt for large print when that fits the block and 10 pt otherwise."""
    sizes = ((12.0, 14.5), (10.0, 12.0)) if message.large_print else ((10.0, 12.0),)
    for size, leading in sizes:
        placed = _contact_at(message, size, leading)
        if placed is not None:
            return placed
    raise ConfigurationError(
        f"NOTIFIER_COUNCILS_FILE: council {message.council.code!r}: the contact block "
        "(address, phone, website and reference) does not fit on the letter"
    )


def _contact_at(message: LetterMessage, size: float, leading: float) -> tuple[Placed, ...] | None:
    council = message.council
    entries: list[tuple[str, str] | None] = [
        (council.name, fonts.BOLD),
        *((line, fonts.REGULAR) for line in council.address),
        None,
        (f"Phone: {council.phone}", fonts.REGULAR),
        (display_url(council.website), fonts.REGULAR),
        None,
        (f"Our reference: {message.reference}", fonts.REGULAR),
        (format_date(message.date), fonts.REGULAR),
    ]
    placed: list[Placed] = []
    cursor = CONTACT.top
    for entry in entries:
        if entry is None:
            cursor += leading / 2
            continue
        text, font = entry
        for line in wrap(text, font, size, CONTACT.width):
            placed.append(Placed(line, font, size, CONTACT.left, cursor + _BOX_ASCENT * size))
            cursor += leading
    return tuple(placed) if cursor <= CONTACT.bottom else None


def layout_logo_text(council: Council) -> tuple[Placed, ...]:
    """The council's logo text in white inside the logo box, at the largest size that fits."""
    text = council.logo_text or council.name
    width = LOGO.width - 2 * _LOGO_PADDING
    height = LOGO.height - 2 * _LOGO_PADDING
    for size in _LOGO_SIZES:
        lines = wrap(text, fonts.BOLD, size, width)
        leading = size * 1.15
        if len(lines) * leading <= height:
            # Centre the lines' glyph boxes in the box.
            first = LOGO.top + (LOGO.height - len(lines) * leading + leading - size) / 2
            first += _BOX_ASCENT * size
            x = LOGO.left + _LOGO_PADDING
            return tuple(
                Placed(line, fonts.BOLD, size, x, first + n * leading)
                for n, line in enumerate(lines)
            )
    raise ConfigurationError(
        f"NOTIFIER_COUNCILS_FILE: council {council.code!r}: logo_text does not fit the logo block"
    )
