"""Sentences, words, syllables and the Flesch scores of a text, computed without a dictionary.

Counting conventions (Kincaid et al., 1975, as GOV.UK's readability tools apply it):

- A *sentence* is a run of text ending in ``.``, ``!`` or ``?`` followed by whitespace or the end,
  plus a final unterminated run. A line break also ends a sentence, because headings and list
  items stand alone. Runs without a word (a heading's underline, a bullet) are not sentences.
- A *word* is a whitespace-separated token containing a letter or digit, punctuation stripped.
- *Syllables* come from spelling rules, not a dictionary, so the counter is deterministic and
  works offline. Tokens with a digit (``£75.50``, ``24/01234/FUL``, ``CV37``), web and email
  addresses count one syllable: they are read as one unit and a writer cannot shorten them.
  Hyphenated words count each part. Every word has at least one syllable.

The syllable rules (``syllables``), in order: a short exception table for common words the rules
get wrong; otherwise count vowel groups (``y`` is a vowel unless it starts the word or comes
before a vowel), then drop a silent final ``e``, ``-es`` and ``-ed``, drop the silent ``e`` of
``-ely``, ``-ement``, ``-eful``, ``-eness``, ``-eless``, and add one for vowel pairs spoken as two
syllables (``media``, ``period``, ``usual``, ``area``, ``going``, ``earlier``, ``isn't``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_HAS_WORD_CHAR = re.compile(r"[^\W_]")
_EDGE_PUNCTUATION = re.compile(r"^[^\w£$€]+|[^\w%]+$")
_IDENTIFIER = re.compile(r"\d|@|://|^www\.|\w\.\w")
_VOWEL_GROUPS = re.compile(r"[aeiouY]+")
_SILENT_SUFFIX_E = re.compile(r"[aeiouy][^aeiouy]e(?:ly|ment|ments|ful|ness|less)$")

# Common words the rules miscount (compounds with a silent ``e`` inside, and a few others).
_EXCEPTIONS = {
    "anyone": 3,
    "business": 2,
    "create": 2,
    "created": 3,
    "element": 3,
    "elements": 3,
    "everyone": 3,
    "lived": 1,
    "maybe": 2,
    "science": 2,
    "someone": 2,
    "something": 2,
    "sometimes": 2,
    "somewhere": 2,
    "wednesday": 2,
    "whenever": 3,
    "wherever": 3,
}


@dataclass(frozen=True, slots=True)
class Readability:
    """The counts of a text and the scores computed from them."""

    sentences: int
    words: int
    syllables: int
    longest_sentence: int

    @property
    def grade(self) -> float:
        """Flesch-Kincaid grade level; 0 for a text without words."""
        if not self.words:
            return 0.0
        return 0.39 * (self.words / self.sentences) + 11.8 * (self.syllables / self.words) - 15.59

    @property
    def reading_ease(self) -> float:
        """Flesch reading ease; 100 for a text without words."""
        if not self.words:
            return 100.0
        return (
            206.835 - 1.015 * (self.words / self.sentences) - 84.6 * (self.syllables / self.words)
        )


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, each stripped, in order."""
    found: list[str] = []
    for line in text.splitlines():
        for part in _SENTENCE_END.split(line):
            part = part.strip()
            if _HAS_WORD_CHAR.search(part):
                found.append(part)
    return found


def words(text: str) -> list[str]:
    """The words of ``text`` with surrounding punctuation stripped."""
    found: list[str] = []
    for token in text.split():
        if _HAS_WORD_CHAR.search(token):
            found.append(_EDGE_PUNCTUATION.sub("", token) or token)
    return found


def syllables(word: str) -> int:
    """Estimated syllables in one word (at least 1); see the module docstring for the rules."""
    if _IDENTIFIER.search(word):
        return 1
    parts = [part for part in re.split(r"[-‐]", word) if _HAS_WORD_CHAR.search(part)]
    if len(parts) > 1:
        return sum(syllables(part) for part in parts)
    return _syllables_of_part(word)


def _syllables_of_part(word: str) -> int:
    contraction = re.search(r"[^aeiou\W]n['’]t$", word.lower()) is not None
    letters = re.sub(r"[^a-z]", "", word.lower())
    if not letters:
        return 1
    if letters in _EXCEPTIONS:
        return _EXCEPTIONS[letters]
    if len(letters) <= 3:
        return 1
    count = len(_VOWEL_GROUPS.findall(_mark_vowel_y(letters)))
    count -= _silent_endings(letters)
    count += _split_vowel_pairs(letters)
    count += contraction
    return max(count, 1)


def _mark_vowel_y(letters: str) -> str:
    """Upper-case each ``y`` that sounds as a vowel (not first, not before another vowel)."""
    marked = []
    for index, char in enumerate(letters):
        following = letters[index + 1 : index + 2]
        if char == "y" and index > 0 and following not in tuple("aeiou"):
            char = "Y"
        marked.append(char)
    return "".join(marked)


def _silent_endings(letters: str) -> int:
    if letters.endswith("e") and letters[-2] not in "aeiouy":
        # A final "e" is silent (make, there) except in consonant + "le" (table, simple).
        le_syllable = letters.endswith("le") and letters[-3] not in "aeiouy"
        return 0 if le_syllable else 1
    if letters.endswith("es") and letters[-3] not in "aeiouy":
        # "-es" is silent (times) except after a hissing sound (boxes, changes, services)
        # and in consonant + "les" (tables).
        hissing = letters.endswith(("ses", "xes", "zes", "ches", "shes", "ces", "ges"))
        le_syllable = letters.endswith("les") and letters[-4] not in "aeiouy"
        return 0 if hissing or le_syllable else 1
    if letters.endswith("ed") and letters[-3] not in "aeioutd":
        return 1  # booked, missed, played; but started, needed, issued keep it
    return 1 if _SILENT_SUFFIX_E.search(letters) else 0


def _split_vowel_pairs(letters: str) -> int:
    extra = len(re.findall(r"[^cts]ia", letters))  # media, but special, initial
    extra += len(re.findall(r"[^tscxg]io(?!ns?$)", letters))  # period; not nation, million
    extra += len(re.findall(r"[^qg]ua", letters))  # usual, actual; but equal, guard
    extra += letters.endswith("ea")  # area, idea
    extra += re.search(r"(?:qu|[^aeioutcs])ie(?:nts?|ts?)$", letters) is not None  # client, quiet
    extra += re.search(r"[aeiou]ing$", letters) is not None  # going, being, seeing
    extra += len(letters) > 4 and re.search(r"[^aeiou]ier$", letters) is not None  # earlier
    return extra


def measure(text: str) -> Readability:
    """Sentence, word and syllable counts of ``text``, and its longest sentence in words."""
    split = sentences(text)
    lengths = [len(words(sentence)) for sentence in split]
    return Readability(
        sentences=max(len(split), 1),
        words=sum(lengths),
        syllables=sum(syllables(word) for sentence in split for word in words(sentence)),
        longest_sentence=max(lengths, default=0),
    )


def grade_level(text: str) -> float:
    """Flesch-Kincaid grade level of ``text``: 0.39 W/S + 11.8 Y/W - 15.59."""
    return measure(text).grade
