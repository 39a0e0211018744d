"""Letter PDFs read back with pdfplumber: placement, sizes, fonts, pages (letters.md §1-3, §10)."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pdfplumber
import pytest
from pdfminer.pdftypes import resolve1
from pdfminer.psparser import PSLiteral
from PIL import Image

from notifier.councils import load_councils
from notifier.errors import ConfigurationError
from notifier.letters import LetterError, LetterTooLong, page_count, render_letter
from notifier.letters.fonts import BOLD
from notifier.letters.layout import layout_letter
from notifier.letters.letterhead import format_date
from notifier.messages import Block, Heading, LetterMessage, ListBlock, Paragraph
from notifier.model import Council
from notifier.recipients.address import InvalidAddress

MM = 72 / 25.4
COUNCILS = load_councils()
ADDRESS = ("Flat 2", "10 High Street", "Stratford-upon-Avon", "cv37 6aa")
PRINTED_ADDRESS = ["ALEX SMITH", "FLAT 2", "10 HIGH STREET", "STRATFORD-UPON-AVON", "CV37 6AA"]
BLOCKS: tuple[Block, ...] = (
    Paragraph("Your reference is 24/01234/FUL."),
    Paragraph("We have your planning application for 10 High Street, Stratford-upon-Avon."),
    Heading(2, "What happens next"),
    ListBlock(("We will check your plans.", "We will ask your neighbours what they think.")),
    ListBlock(("Call us.", "Write to us."), ordered=True),
    Paragraph("You do not need to do anything now. We will contact you when we have decided."),
)
FILLER = Paragraph(
    "We will publish your application on our website and put up a notice near the site so "
    "that anyone affected can comment on it within 21 days of the notice going up."
)
VARIANTS = [("sdc", False), ("sdc", True), ("wdc", False), ("wdc", True)]
VARIANT_IDS = ["sdc-standard", "sdc-large", "wdc-standard", "wdc-large"]


@dataclasses.dataclass(frozen=True)
class Area:
    """A rectangle in millimetres from the page's top-left corner."""

    left: float
    top: float
    right: float
    bottom: float

    def holds(self, char: dict[str, Any]) -> bool:
        eps = 0.01
        return bool(
            char["x0"] >= self.left * MM - eps
            and char["x1"] <= self.right * MM + eps
            and char["top"] >= self.top * MM - eps
            and char["bottom"] <= self.bottom * MM + eps
        )

    def touches(self, char: dict[str, Any]) -> bool:
        eps = 0.01
        return bool(
            char["x1"] > self.left * MM + eps
            and char["x0"] < self.right * MM - eps
            and char["bottom"] > self.top * MM + eps
            and char["top"] < self.bottom * MM - eps
        )

    def grown(self, by: float) -> Area:
        return Area(self.left - by, self.top - by, self.right + by, self.bottom + by)


WINDOW = Area(24.6, 39.5, 120.0, 66.3)
PRINTABLE = Area(15, 5, 195, 292)
LOGO_AREA = Area(15, 5, 125, 30)
CONTACT_AREA = Area(125, 5, 195, 95)


def make_message(council: str | Council = "sdc", **changes: Any) -> LetterMessage:
    message = LetterMessage(
        notification_id="n-1",
        council=COUNCILS[council] if isinstance(council, str) else council,
        event_type="planning.application.received",
        address=ADDRESS,
        name="Alex Smith",
        title="We have your planning application",
        reference="24/01234/FUL",
        blocks=BLOCKS,
        date=date(2027, 1, 4),
    )
    return dataclasses.replace(message, **changes)


def long_message(paragraphs: int, **changes: Any) -> LetterMessage:
    blocks = (*BLOCKS, *(FILLER for _ in range(paragraphs)))
    return make_message(blocks=blocks, **changes)


def pages_of(pdf: bytes) -> Iterator[Any]:
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        yield from document.pages


def text_lines(chars: list[dict[str, Any]]) -> list[str]:
    rows: dict[float, list[dict[str, Any]]] = {}
    for char in chars:
        rows.setdefault(round(char["top"], 1), []).append(char)
    return [
        "".join(c["text"] for c in sorted(row, key=lambda c: c["x0"]))
        for _, row in sorted(rows.items())
    ]


@pytest.mark.parametrize(("council", "large_print"), VARIANTS, ids=VARIANT_IDS)
def test_address_is_inside_the_window_and_alone_there(council: str, large_print: bool) -> None:
    """The window (and 3 mm around it) holds exactly the capitalised address, name first."""
    letter = render_letter(make_message(council, large_print=large_print))
    first = next(pages_of(letter.pdf))
    near_window = [c for c in first.chars if WINDOW.grown(3).touches(c)]
    assert text_lines(near_window) == PRINTED_ADDRESS
    assert all(WINDOW.holds(c) for c in near_window)


def test_address_size_does_not_change_for_large_print() -> None:
    """Large print scales the body but the address keeps its window size."""
    sizes = set()
    for large_print in (False, True):
        first = next(pages_of(render_letter(make_message(large_print=large_print)).pdf))
        sizes |= {round(c["size"], 2) for c in first.chars if WINDOW.touches(c)}
    assert sizes == {10.0}


@pytest.mark.parametrize(
    ("line", "size"),
    [("Warwickshire", 10.0), ("Unit 145, Birmingham Road Industrial Estate North", 9.0)],
    ids=["short", "long"],
)
def test_seven_line_address_fits_the_window(line: str, size: float) -> None:
    """Name plus six lines fit; a long line steps the whole block down a size (capitals still
    at least 2 mm high) rather than being clipped."""
    address = ("Flat 12", line, "Little Compton", "Shipston-on-Stour", "Warwickshire", "CV36 4AA")
    message = make_message(address=address, name="Dr Alexandra Montgomery-Smythe")
    first = next(pages_of(render_letter(message).pdf))
    inside = [c for c in first.chars if WINDOW.grown(3).touches(c)]
    assert len(text_lines(inside)) == 7
    assert all(WINDOW.holds(c) for c in inside)
    assert {round(c["size"], 2) for c in inside} == {size}
    assert size * 0.688 / MM >= 2.0  # Liberation Sans cap height is 0.688 em


def test_address_line_too_wide_for_the_window_is_invalid() -> None:
    """A line that fits at no allowed size is an InvalidAddress, not clipped or wrapped."""
    message = make_message(address=("Flat 2", "W" * 60, "Stratford-upon-Avon", "CV37 6AA"))
    with pytest.raises(InvalidAddress) as caught:
        render_letter(message)
    assert caught.value.code == "address-line-too-long"


def test_name_line_counts_towards_seven_lines() -> None:
    """Six address lines plus a name render; seven plus a name are too many."""
    six = ("1 A Street", "Area", "Village", "Town", "County", "CV37 6AA")
    assert render_letter(make_message(address=six)).address.lines[0] == "ALEX SMITH"
    with pytest.raises(InvalidAddress) as caught:
        render_letter(make_message(address=("Flat 1", *six)))
    assert caught.value.code == "too-many-address-lines"
    assert render_letter(make_message(address=("Flat 1", *six), name=None)).pages == 1


def test_invalid_address_raises_invalid_address_without_personal_data() -> None:
    """An unpostable address raises InvalidAddress whose text names no part of it."""
    message = make_message(name="Zebedee Quuxley", address=("NFA", "Xylophone Row", "CV37 6AA"))
    with pytest.raises(InvalidAddress) as caught:
        render_letter(message)
    assert caught.value.code == "no-fixed-abode-address"
    assert isinstance(caught.value, ValueError)
    assert "zebedee" not in str(caught.value).casefold()
    assert "xylophone" not in str(caught.value).casefold()


def body_chars(pdf: bytes) -> list[dict[str, Any]]:
    """Every character except the letterhead's (logo, contact block) and the address."""
    chars = []
    for number, page in enumerate(pages_of(pdf), 1):
        for char in page.chars:
            letterhead = LOGO_AREA.touches(char) or CONTACT_AREA.touches(char)
            if number > 1 or not (letterhead or WINDOW.touches(char)):
                chars.append(char)
    return chars


@pytest.mark.parametrize("council", ["sdc", "wdc"])
def test_large_print_body_is_at_least_16pt(council: str) -> None:
    """Every body, heading and footer character of a large-print letter is 16 pt or more."""
    letter = render_letter(long_message(12, council=council, large_print=True))
    assert letter.pages > 1
    chars = body_chars(letter.pdf)
    assert chars
    assert min(round(c["size"], 2) for c in chars) >= 16
    assert {c["fontname"].split("+")[-1] for c in chars} <= {
        "LiberationSans",
        "LiberationSans-Bold",
    }


@pytest.mark.parametrize("council", ["sdc", "wdc"])
def test_standard_body_is_at_least_12pt_and_footer_10pt(council: str) -> None:
    """Standard print meets clear-print sizes: body 12 pt, footer 10 pt."""
    chars = body_chars(render_letter(make_message(council)).pdf)
    assert min(round(c["size"], 2) for c in chars) >= 10
    assert min(round(c["size"], 2) for c in chars if c["top"] < 270 * MM) >= 12


def fonts_in(pdf: bytes) -> list[dict[str, Any]]:
    found = []
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for xref in document.doc.xrefs:
            for objid in xref.get_objids():
                obj = resolve1(document.doc.getobj(objid))
                if isinstance(obj, dict) and _name(obj.get("Type")) == "Font":
                    found.append(obj)
    return found


def _name(value: Any) -> str | None:
    value = resolve1(value)
    return str(value.name) if isinstance(value, PSLiteral) else None


@pytest.mark.parametrize(("council", "large_print"), VARIANTS, ids=VARIANT_IDS)
def test_every_font_is_embedded_truetype(council: str, large_print: bool) -> None:
    """Each font carries its TrueType program (FontFile2); no Type 3, no unembedded font."""
    message = make_message(council, large_print=large_print, name="Siân Ŵyn")
    found = fonts_in(render_letter(message).pdf)
    assert found
    for font in found:
        subtype = _name(font.get("Subtype"))
        assert subtype != "Type3"
        if subtype == "Type0":
            font = resolve1(resolve1(font["DescendantFonts"])[0])
        descriptor = resolve1(font.get("FontDescriptor"))
        assert isinstance(descriptor, dict), font.get("BaseFont")
        assert "FontFile2" in descriptor


@pytest.mark.parametrize("large_print", [False, True], ids=["standard", "large"])
def test_reported_page_count_matches_the_pdf(large_print: bool) -> None:
    """pages, page_count() and the PDF agree, and every page says "Page n of m"."""
    message = long_message(20, large_print=large_print)
    letter = render_letter(message)
    pages = list(pages_of(letter.pdf))
    assert letter.pages == len(pages) == page_count(message) > 1
    assert letter.sheets == (len(pages) + 1) // 2
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in page.extract_text()


def test_more_than_ten_pages_is_letter_too_long() -> None:
    """A body that needs 11 or more pages raises LetterTooLong, a ValueError."""
    message = long_message(120, large_print=True)
    assert page_count(message) > 10
    with pytest.raises(LetterTooLong) as caught:
        render_letter(message)
    assert caught.value.code == "letter-too-long"
    assert isinstance(caught.value, ValueError)


def test_ten_pages_is_allowed() -> None:
    """A letter of exactly ten pages renders."""
    count = next(n for n in range(200) if page_count(long_message(n)) == 10)
    assert render_letter(long_message(count)).pages == 10


@pytest.mark.parametrize(("council", "large_print"), VARIANTS, ids=VARIANT_IDS)
def test_all_text_is_printable_and_the_body_starts_at_95mm(council: str, large_print: bool) -> None:
    """No character leaves the printable area; on page 1 the body keeps below 95 mm."""
    url = "https://www.example.gov.uk/preferences/" + "a1b2c3d4" * 12
    message = long_message(8, council=council, large_print=large_print, preferences_url=url)
    for number, page in enumerate(pages_of(render_letter(message).pdf), 1):
        assert all(PRINTABLE.holds(c) for c in page.chars)
        if number == 1:
            letterhead = (LOGO_AREA, CONTACT_AREA, WINDOW)
            rest = [c for c in page.chars if not any(a.holds(c) for a in letterhead)]
            assert rest
            assert min(c["top"] for c in rest) >= 95 * MM


def test_page_is_a4_portrait_unrotated_and_small() -> None:
    """A4 portrait (within 2 mm), no rotation, well under 2 MB."""
    letter = render_letter(long_message(20))
    assert len(letter.pdf) < 2 * 1024 * 1024
    for page in pages_of(letter.pdf):
        x0, y0, x1, y1 = page.mediabox
        assert abs((x1 - x0) - 595.28) <= 2 * MM
        assert abs((y1 - y0) - 841.89) <= 2 * MM
        assert page.rotation == 0


def test_letterhead_has_council_reference_and_date() -> None:
    """Page 1 shows the council's details, our reference and the date in GOV.UK style."""
    first = next(pages_of(render_letter(make_message("wdc")).pdf))
    contact = text_lines([c for c in first.chars if CONTACT_AREA.holds(c)])
    assert contact[:5] == ["Warwick District Council", "Town Hall", "Parade",
                           "Royal Leamington Spa", "CV32 4AT"]  # fmt: skip
    assert "Phone: 01926 450000" in contact
    assert "www.warwickdc.gov.uk" in contact
    assert "Our reference: 24/01234/FUL" in contact
    assert "Monday 4 January 2027" in contact
    logo = text_lines([c for c in first.chars if LOGO_AREA.holds(c)])
    assert " ".join(logo) == "Warwick District Council"


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2027, 1, 4), "Monday 4 January 2027"),
        (date(2028, 2, 29), "Tuesday 29 February 2028"),
        (date(2026, 12, 31), "Thursday 31 December 2026"),
    ],
)
def test_dates_are_in_govuk_style(day: date, text: str) -> None:
    """Dates read weekday, day without a leading zero, month name, year."""
    assert format_date(day) == text


def footer_text(pdf: bytes) -> str:
    return " ".join(
        " ".join(text_lines([c for c in page.chars if c["top"] > 270 * MM]))
        for page in pages_of(pdf)
    )


def test_footer_gives_the_preferences_url_when_there_is_one() -> None:
    """With a preferences URL the footer points there."""
    url = "https://notify.stratford.gov.uk/p/abc123"
    text = footer_text(render_letter(make_message(preferences_url=url)).pdf)
    assert f"To change how we contact you, go to {url}" in text


def test_footer_gives_phone_and_website_without_a_url() -> None:
    """Without a preferences URL the footer gives the council's phone number and website."""
    text = footer_text(render_letter(make_message("sdc")).pdf)
    assert "call 01789 267575 or go to www.stratford.gov.uk" in text


def test_logo_file_is_drawn_inside_the_logo_area(tmp_path: Path) -> None:
    """A council with a logo file gets the image, kept within 110 x 25 mm at the top left."""
    path = tmp_path / "logo.png"
    Image.new("RGB", (600, 150), (0, 105, 75)).save(path)
    council = dataclasses.replace(COUNCILS["sdc"], logo_file=str(path))
    first = next(pages_of(render_letter(make_message(council=council)).pdf))
    assert len(first.images) == 1
    image = first.images[0]
    assert image["x0"] >= 15 * MM - 0.01 and image["x1"] <= 125 * MM + 0.01
    assert image["top"] >= 5 * MM - 0.01 and image["bottom"] <= 30 * MM + 0.01
    assert not any(LOGO_AREA.touches(c) for c in first.chars)


def test_unreadable_logo_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A logo file that cannot be read is reported as configuration, naming the council."""
    council = dataclasses.replace(COUNCILS["wdc"], logo_file=str(tmp_path / "missing.png"))
    with pytest.raises(ConfigurationError, match="'wdc'"):
        render_letter(make_message(council=council))


def test_welsh_and_accented_characters_are_printed() -> None:
    """Welsh letters (ŵ ŷ â) and diacritics come out as themselves, address and body."""
    message = make_message(
        name="Siân Ŵyn", blocks=(Paragraph("Diolch yn fawr. Gŵyl Dewi, ŷd, Zoë, Łódź."),)
    )
    pages = list(pages_of(render_letter(message).pdf))
    text = pages[0].extract_text()
    assert "SIÂN ŴYN" in text
    assert "Gŵyl Dewi, ŷd, Zoë, Łódź." in text


def test_character_the_font_lacks_is_a_letter_error() -> None:
    """A body character with no glyph fails the letter instead of printing a box."""
    message = make_message(blocks=(Paragraph("Thanks Zebedee \U0001f600"),))
    with pytest.raises(LetterError) as caught:
        render_letter(message)
    assert caught.value.code == "unprintable-character"
    assert "U+1F600" in str(caught.value)
    assert "Zebedee" not in str(caught.value)


def test_same_letter_renders_to_the_same_bytes() -> None:
    """Rendering is deterministic, so a manifest's checksum is stable."""
    assert render_letter(make_message()).pdf == render_letter(make_message()).pdf


@pytest.mark.parametrize("large_print", [False, True], ids=["standard", "large"])
def test_a_heading_never_ends_a_page(large_print: bool) -> None:
    """Whatever the length before it, a heading moves to the next page with its first line."""
    for filler in range(30):
        blocks = (*(FILLER for _ in range(filler)), Heading(2, "What happens next"), FILLER)
        layout = layout_letter(make_message(blocks=blocks, large_print=large_print))
        for page in layout.pages[:-1]:
            assert page[-1].font != BOLD


@pytest.mark.parametrize("large_print", [False, True], ids=["standard", "large"])
def test_a_paragraph_never_leaves_one_line_alone_on_a_page(large_print: bool) -> None:
    """Two- and three-line paragraphs move whole to the next page rather than split."""
    layout = layout_letter(make_message(blocks=(FILLER,) * 40, large_print=large_print))
    first_line = layout.pages[1][0].text
    assert len(layout.pages) > 2
    assert FILLER.text.startswith(first_line)
    for page in layout.pages[1:]:
        assert page[0].text == first_line


def test_international_letter_needs_permission_when_asked() -> None:
    """A foreign address renders by default and is refused when international letters are off."""
    abroad = ("1 Rue de Rivoli", "75001 Paris", "France")
    letter = render_letter(make_message(address=abroad))
    assert letter.address.lines[-1] == "FRANCE"
    assert letter.address.zone == "europe"
    with pytest.raises(InvalidAddress) as caught:
        render_letter(make_message(address=abroad), allow_international=False)
    assert caught.value.code == "cant-send-international-letters"
