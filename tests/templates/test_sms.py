"""Text-message content rules of sms.md §2-4: sanitising, encoding and fragment counting."""

from __future__ import annotations

import dataclasses

import pytest

from notifier.templates.sms import (
    GSM_BASIC,
    GSM_EXTENSION,
    WELSH,
    SmsText,
    downgrade,
    encoding,
    fragment_count,
    prepare,
    sanitise,
)

WELSH_NON_GSM = sorted(WELSH - GSM_BASIC)
WELSH_GSM = sorted(WELSH & GSM_BASIC)
ZERO_WIDTH = ["\u180e", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u2028", "\u2029"]

WHITESPACE_ROWS = [
    ("space before comma and full stop", "Hello , world .", "Hello, world."),
    ("tabs and runs before punctuation", "a \t ,b\t.", "a,b."),
    ("space before other punctuation kept", "Why ? Now !", "Why ? Now !"),
    ("CRLF becomes LF", "a\r\nb", "a\nb"),
    ("lone CR becomes LF", "a\rb", "a\nb"),
    ("NBSP inside a line is a space", "a\u00a0b", "a b"),
    ("narrow NBSP inside a line is a space", "a\u202fb", "a b"),
    ("NBSP runs collapse with spaces", "a \u00a0 \u202f b", "a b"),
    ("lines are stripped", "  a  \n\tb\t", "a\nb"),
    ("inner runs of spaces and tabs collapse", "a   \t  b", "a b"),
    ("two newlines stay", "a\n\nb", "a\n\nb"),
    ("three newlines become two", "a\n\n\nb", "a\n\nb"),
    ("many newlines become two", "a\n\n\n\n\n\nb", "a\n\nb"),
    ("whitespace-only lines are blank", "a\n \n\t\n\u200b\nb", "a\n\nb"),
    ("CR runs count as newlines", "a\r\r\r\rb", "a\n\nb"),
    ("whole text stripped", "\n\n  a  \n\n", "a"),
    ("U+2028 is deleted, not a line break", "a\u2028b", "ab"),
    ("U+2029 is deleted, not a line break", "a\u2029b", "ab"),
    ("vertical tab is not a line break", "a\x0bb", "a?b"),
]

DOWNGRADE_ROWS = [
    ("lower-case c cedilla loses its cedilla", "ç", "c"),
    ("capital C cedilla is GSM", "Ç", "Ç"),
    ("n acute", "ń", "n"),
    ("o macron", "ō", "o"),
    ("a ogonek", "ą", "a"),
    ("s caron", "š", "s"),
    ("n tilde is GSM", "ñ", "ñ"),
    ("double diacritic keeps its allowed first part", "ǘ", "ü"),
    ("angstrom sign decomposes to A ring", "\u212b", "Å"),
    ("ohm sign decomposes to Greek omega", "\u2126", "Ω"),
    ("Greek question mark decomposes to semicolon", "\u037e", ";"),
    ("non-breaking hyphen", "\u2011", "-"),
    ("en dash", "\u2013", "-"),
    ("em dash", "\u2014", "-"),
    ("minus sign", "\u2212", "-"),
    ("ellipsis is three full stops", "\u2026", "..."),
    ("left single quote", "\u2018", "'"),
    ("right single quote", "\u2019", "'"),
    ("low single quote", "\u201a", "'"),
    ("left double quote", "\u201c", '"'),
    ("right double quote", "\u201d", '"'),
    ("low double quote", "\u201e", '"'),
    ("NBSP", "\u00a0", " "),
    ("narrow NBSP", "\u202f", " "),
    ("tab", "\t", " "),
    ("L stroke", "Ł", "L"),
    ("l stroke", "ł", "l"),
    ("emoji", "😀", "?"),
    ("CJK", "中", "?"),
    ("Cyrillic", "Ж", "?"),
    ("Arabic", "ع", "?"),
    ("trade mark", "™", "?"),
    ("copyright", "©", "?"),
    ("fraction with a compatibility decomposition", "\u2189", "?"),
    ("variation selector", "\ufe0f", "?"),
    ("backtick is not GSM", "`", "?"),
    ("form feed is not allowed", "\x0c", "?"),
    ("combining accent on its own", "\u0301", "?"),
    ("decomposition to a non-allowed base", "\u1e53", "?"),
] + [(f"zero width U+{ord(c):04X} is removed", c, "") for c in ZERO_WIDTH]

SANITISE_ROWS = [
    ("curly quotes and dashes", "It’s “done” – see…", 'It\'s "done" - see...'),
    ("emoji in text", "Bins out 🗑️ today", "Bins out ?? today"),
    ("ZWJ emoji sequence", "a 👩\u200d💻 b", "a ?? b"),
    ("Polish place name", "Łódź", "Lódz"),
    ("Welsh kept", "Siŵr o'r ŷd", "Siŵr o'r ŷd"),
    ("extension characters kept", "a^{}\\[]~|€", "a^{}\\[]~|€"),
    ("downgrade happens after whitespace rules", "a\u00a0\u00a0b", "a b"),
    ("em space inside a line is not whitespace", "a\u2003b", "a?b"),
    ("decomposed e acute is composed, not downgraded", "Cafe\u0301", "Café"),
    ("decomposed w circumflex is composed to Welsh", "Siw\u0302r", "Siŵr"),
    ("decomposed c cedilla composes, then loses its cedilla", "garc\u0327on", "garcon"),
]


@pytest.mark.parametrize(("rule", "text", "expected"), WHITESPACE_ROWS, ids=lambda v: v)
def test_whitespace_rule(rule: str, text: str, expected: str) -> None:
    """Each §2 step 3 whitespace rule produces the reference text."""
    assert sanitise(text) == expected


@pytest.mark.parametrize("char", ZERO_WIDTH, ids=lambda c: f"U+{ord(c):04X}")
def test_zero_width_characters_are_deleted_inside_a_line(char: str) -> None:
    """Zero-width characters disappear without leaving a space."""
    assert sanitise(f"ab{char}cd") == "abcd"


@pytest.mark.parametrize(("rule", "char", "expected"), DOWNGRADE_ROWS, ids=lambda v: v)
def test_character_downgrade(rule: str, char: str, expected: str) -> None:
    """Each §2 step 4 downgrade rule maps the character to the reference replacement."""
    assert downgrade(char) == expected


@pytest.mark.parametrize(("rule", "text", "expected"), SANITISE_ROWS, ids=lambda v: v)
def test_sanitise_examples(rule: str, text: str, expected: str) -> None:
    """Whole messages come out as the reference would send them."""
    assert sanitise(text) == expected


def test_every_gsm_character_is_kept() -> None:
    """Every printable character of the GSM basic and extension tables is sent unchanged."""
    printable = "".join(sorted((GSM_BASIC | GSM_EXTENSION) - {"\r", "\n", " "}))
    assert sanitise(printable) == printable


def test_every_welsh_character_is_kept() -> None:
    """All 56 Welsh letters with diacritics survive sanitising."""
    welsh = "".join(sorted(WELSH))
    assert len(welsh) == 56
    assert sanitise(welsh) == welsh


def test_carriage_return_never_survives() -> None:
    """CR is in the GSM table but always becomes a line feed."""
    assert "\r" not in sanitise("a\r\nb\rc")


def test_sanitised_english_is_gsm7() -> None:
    """Plain English with GSM accents and extension characters stays GSM-7."""
    assert encoding("Café £5 – no: café £5 {ok} €") == "UCS-2"
    assert encoding(sanitise("Café £5 – no: café £5 {ok} €")) == "GSM-7"


@pytest.mark.parametrize("char", WELSH_NON_GSM)
def test_welsh_non_gsm_letter_forces_ucs2(char: str) -> None:
    """Any of the 43 Welsh non-GSM letters makes the whole message UCS-2."""
    assert len(WELSH_NON_GSM) == 43
    assert encoding(f"Diolch {char}") == "UCS-2"


@pytest.mark.parametrize("char", WELSH_GSM)
def test_welsh_gsm_letter_stays_gsm7(char: str) -> None:
    """The 13 Welsh letters that are in GSM do not force UCS-2."""
    assert len(WELSH_GSM) == 13
    assert encoding(f"Diolch {char}") == "GSM-7"


def test_emoji_never_forces_ucs2_after_sanitising() -> None:
    """An emoji becomes ``?``, so a sanitised message with one is still GSM-7."""
    assert encoding("hi 😀") == "UCS-2"
    assert encoding(sanitise("hi 😀")) == "GSM-7"


FRAGMENT_ROWS = [
    ("GSM single at 160", "a" * 160, 1),
    ("GSM two at 161", "a" * 161, 2),
    ("GSM two at 306", "a" * 306, 2),
    ("GSM three at 307", "a" * 307, 3),
    ("GSM three at 459", "a" * 459, 3),
    ("GSM four at 460", "a" * 460, 4),
    ("GSM six at 918", "a" * 918, 6),
    ("GSM seven at 919", "a" * 919, 7),
    ("extension char ending at 160", "a" * 158 + "€", 1),
    ("extension char crossing 160", "a" * 159 + "€", 2),
    ("extension char ending at 306", "a" * 304 + "^", 2),
    ("extension char crossing 306", "a" * 305 + "^", 3),
    ("UCS-2 single at 70 with a w circumflex", "ŵ" + "a" * 69, 1),
    ("UCS-2 two at 71 with a w circumflex", "ŵ" + "a" * 70, 2),
    ("UCS-2 two at 134", "ŵ" + "a" * 133, 2),
    ("UCS-2 three at 135", "ŵ" + "a" * 134, 3),
    ("UCS-2 three at 201", "ŵ" + "a" * 200, 3),
    ("UCS-2 four at 202", "ŵ" + "a" * 201, 4),
    ("UCS-2 extension char counts once", "ŵ€" + "a" * 68, 1),
    ("astral character counts two code units", "ŵ😀" + "a" * 67, 1),
    ("astral character crossing 70", "ŵ😀" + "a" * 68, 2),
    ("single character", "a", 1),
]


@pytest.mark.parametrize(("rule", "text", "expected"), FRAGMENT_ROWS, ids=lambda v: v)
def test_fragment_count(rule: str, text: str, expected: int) -> None:
    """Fragment counts follow §4: 160/153 in GSM-7 and 70/67 in UCS-2."""
    assert fragment_count(text) == expected


def test_prepare_sanitises_then_counts() -> None:
    """Curly quotes are downgraded before counting, so 160 of them cost one GSM-7 fragment."""
    assert prepare("\u2019" * 160) == SmsText(body="'" * 160, encoding="GSM-7", fragments=1)


def test_prepare_counts_welsh_as_ucs2() -> None:
    """A Welsh ŵ costs the UCS-2 rate for the whole message."""
    text = prepare("Mae eich cais wedi dod i law. Diolch yn fawr, bydd y cyngor yn ateb ŵ " * 2)
    assert text.encoding == "UCS-2"
    assert text.fragments == 3


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t", "\u200b\u2060\ufeff"])
def test_prepare_rejects_empty_message(text: str) -> None:
    """Nothing left after sanitising is rejected with the reference wording."""
    with pytest.raises(ValueError, match=r"^Your message is empty\.$"):
        prepare(text)


def test_sms_text_is_frozen() -> None:
    """A prepared text cannot be changed after counting."""
    text = prepare("hello")
    with pytest.raises(dataclasses.FrozenInstanceError):
        text.body = "changed"  # type: ignore[misc]
