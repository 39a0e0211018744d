"""Text-message content rules: sanitising, encoding choice and fragment counting (3GPP TS
23.038; Twilio's segment rules).

Pure functions, no I/O. ``prepare`` is the one entry point a renderer needs: it sanitises the text
exactly as it will be sent and counts the fragments the resident's phone (and the bill) will see.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Literal, TypeAlias

Encoding: TypeAlias = Literal["GSM-7", "UCS-2"]

# GSM 03.38 basic table (3GPP TS 23.038 §6.2.1), row by row; LF and CR are in it, ESC is not
# printable.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The nine printable characters of the extension table; each costs two septets in GSM-7.
GSM_EXTENSION = frozenset("^{}\\[]~|€")
GSM = GSM_BASIC | GSM_EXTENSION
# Grave, acute, diaeresis and circumflex on a e i o u w y, both cases: the accents Welsh uses.
WELSH = frozenset("àèìòùẁỳÀÈÌÒÙẀỲáéíóúẃýÁÉÍÓÚẂÝäëïöüẅÿÄËÏÖÜẄŸâêîôûŵŷÂÊÎÔÛŴŶ")
ALLOWED = GSM | WELSH

# Step 4.3: replacements for characters with no usable canonical decomposition.
_REPLACEMENTS: dict[str, str] = {
    "\u2011": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00a0": " ",
    "\u202f": " ",
    "\t": " ",
    "Ł": "L",
    "ł": "l",
}
_ZERO_WIDTH = "\u180e\u200b\u200c\u200d\u2060\ufeff\u2028\u2029"
_REPLACEMENTS.update(dict.fromkeys(_ZERO_WIDTH, ""))

_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+(?=[,.])")
_LINE_BREAK = re.compile(r"\r\n|\r")
_INNER_WHITESPACE = re.compile(r"[ \t]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_DELETE_ZERO_WIDTH = str.maketrans(dict.fromkeys(_ZERO_WIDTH))
_NO_BREAK_TO_SPACE = str.maketrans({"\u00a0": " ", "\u202f": " "})

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
EMPTY_MESSAGE = "Your message is empty."


@dataclasses.dataclass(frozen=True, slots=True)
class SmsText:
    """A message body as it will be sent, with the encoding and fragment count it will cost."""

    body: str
    encoding: Encoding
    fragments: int


def prepare(text: str) -> SmsText:
    """Sanitise ``text`` and count it; ValueError("Your message is empty.") when nothing is left."""
    body = sanitise(text)
    if not body:
        raise ValueError(EMPTY_MESSAGE)
    return SmsText(body=body, encoding=encoding(body), fragments=fragment_count(body))


def sanitise(text: str) -> str:
    """Normalise whitespace, then downgrade each character outside the allowed set (§2.3-4)."""
    # NFC first: the downgrade works one code point at a time, so a decomposed "e" + U+0301 would
    # otherwise become "e?" instead of the "é" the writer meant.
    composed = unicodedata.normalize("NFC", normalise_whitespace(text))
    return "".join(downgrade(char) for char in composed)


def normalise_whitespace(text: str) -> str:
    """Apply §2 step 3: punctuation spacing, line breaks, per-line whitespace, blank-line runs."""
    text = _SPACE_BEFORE_PUNCTUATION.sub("", text)
    # Only CR, LF and CRLF break lines: str.splitlines() would also split on U+2028/U+2029 and
    # other separators, which the rules delete instead.
    lines = _LINE_BREAK.sub("\n", text).split("\n")
    text = "\n".join(_normalise_line(line) for line in lines)
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def _normalise_line(line: str) -> str:
    line = line.translate(_NO_BREAK_TO_SPACE).translate(_DELETE_ZERO_WIDTH)
    return _INNER_WHITESPACE.sub(" ", line.strip())


def downgrade(char: str) -> str:
    """One character as it may be sent: itself, its canonical base, a fixed stand-in or ``?``."""
    if char in ALLOWED:
        return char
    decomposition = unicodedata.decomposition(char)
    if decomposition and not decomposition.startswith("<"):
        base = chr(int(decomposition.split()[0], 16))
        if base in ALLOWED:
            return base
    return _REPLACEMENTS.get(char, "?")


def encoding(text: str) -> Encoding:
    """GSM-7 when every character is in the GSM tables, else UCS-2 for the whole message (§3).

    On sanitised text only a Welsh non-GSM letter can force UCS-2.
    """
    return "GSM-7" if all(char in GSM for char in text) else "UCS-2"


def fragment_count(text: str) -> int:
    """How many SMS fragments ``text`` costs, counted in UTF-16 code units (§4)."""
    units = len(text.encode("utf-16-le")) // 2
    if encoding(text) == "GSM-7":
        units += sum(1 for char in text if char in GSM_EXTENSION)
        single, part = GSM_SINGLE, GSM_PART
    else:
        single, part = UCS2_SINGLE, UCS2_PART
    return 1 if units <= single else -(-units // part)
