"""Where things go on an A4 letter for a window envelope (GOV.UK Notify's letter specification),
in points measured from the top-left corner of the page, as pdfplumber measures them.
"""

from __future__ import annotations

import dataclasses

MM = 72 / 25.4
PAGE_WIDTH = 210 * MM
PAGE_HEIGHT = 297 * MM
MAX_PAGES = 10


@dataclasses.dataclass(frozen=True, slots=True)
class Box:
    """A rectangle: left and top edges, width and height, in points from the top-left."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @classmethod
    def mm(cls, left: float, top: float, width: float, height: float) -> Box:
        return cls(left * MM, top * MM, width * MM, height * MM)


# Nothing may be printed outside this, on any page.
PRINTABLE = Box.mm(15, 5, 180, 287)
# Shows through the envelope window; the address and nothing else goes in it.
ADDRESS_WINDOW = Box.mm(24.6, 39.5, 95.4, 26.8)
# Address text keeps this far inside the window, so it survives print and insert movement.
ADDRESS_INSET_X = 1 * MM
ADDRESS_INSET_Y = 1.4
# The reference allows 110 x 25 mm (15-125, 5-30 mm); the logo is drawn 70 x 18 mm inside it.
LOGO = Box.mm(15, 8, 70, 18)
# Sender details, reference and date; the validator's area is 125-195 x 5-95 mm.
CONTACT = Box.mm(125, 10, 65, 85)
# The letter text starts at 95 mm on page 1 and 20 mm on the pages after.
BODY_LEFT = 20 * MM
BODY_WIDTH = 150 * MM
BODY_TOP_FIRST = 95 * MM
BODY_TOP_OTHER = 20 * MM
# The footer's last baseline; its descenders stay clear of the 292 mm printable edge.
FOOTER_BASELINE = 287 * MM
FOOTER_RIGHT = 190 * MM
FOOTER_GAP = 6 * MM
