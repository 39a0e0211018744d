"""Sentences, words, the syllable heuristic and the Flesch scores (plain-language.md §5)."""

from __future__ import annotations

import pytest

from notifier.templates.readability import grade_level, measure, sentences, syllables, words

# Common words of council messages with their dictionary syllable counts.
SYLLABLES = {
    "the": 1, "you": 1, "we": 1, "your": 1, "bin": 1, "tax": 1, "bill": 1, "phone": 1,
    "waste": 1, "make": 1, "there": 1, "one": 1, "free": 1, "please": 1, "whole": 1,
    "times": 1, "missed": 1, "booked": 1, "played": 1, "year": 1, "day": 1, "don't": 1,
    "council": 2, "district": 2, "planning": 2, "repair": 2, "licence": 2, "complaint": 2,
    "response": 2, "payment": 2, "garden": 2, "bulky": 2, "resolved": 2, "contact": 2,
    "website": 2, "before": 2, "minutes": 2, "amount": 2, "balance": 2, "address": 2,
    "received": 2, "question": 2, "neighbours": 2, "table": 2, "simple": 2, "people": 2,
    "value": 2, "issue": 2, "believe": 2, "changes": 2, "started": 2, "needed": 2,
    "issued": 2, "renewed": 2, "paying": 2, "going": 2, "being": 2, "statement": 2,
    "safely": 2, "useful": 2, "union": 2, "client": 2, "quiet": 2, "isn't": 2, "doesn't": 2,
    "monday": 2, "wednesday": 2, "friday": 2, "april": 2, "july": 2, "august": 2,
    "someone": 2, "business": 2, "language": 2, "beyond": 2, "review": 2, "appeal": 2,
    "decision": 3, "reference": 3, "collection": 3, "evidence": 3, "appointment": 3,
    "benefit": 3, "renewal": 3, "decided": 3, "engineer": 3, "reminder": 3, "completed": 3,
    "telephone": 3, "continue": 3, "services": 3, "notices": 3, "earlier": 3, "easier": 3,
    "media": 3, "period": 3, "previous": 3, "usual": 3, "actual": 3, "area": 3, "idea": 3,
    "anything": 3, "family": 3, "employer": 3, "saturday": 3, "september": 3,
    "october": 3, "november": 3, "december": 3, "recycling": 3, "tenancy": 3, "premises": 3,
    "ombudsman": 3, "agreement": 3, "opinion": 3,
    "application": 4, "information": 4, "statutory": 4, "consultation": 4, "validated": 4,
    "january": 4, "february": 4, "situation": 4, "material": 4, "inspectorate": 4,
}  # fmt: skip


@pytest.mark.parametrize(("word", "expected"), sorted(SYLLABLES.items()))
def test_syllables_of_common_words(word: str, expected: int) -> None:
    """The heuristic gives the dictionary syllable count for common words of council messages."""
    assert syllables(word) == expected


@pytest.mark.parametrize("word", ["Council", "COUNCIL", "council,", "council."])
def test_syllables_ignore_case_and_punctuation(word: str) -> None:
    """Capitals and surrounding punctuation do not change a word's syllable count."""
    assert syllables(word) == 2


@pytest.mark.parametrize(
    "token", ["£2,184.36", "24/01234/FUL", "CV37", "01789", "https://www.stratford.gov.uk",
              "www.warwickdc.gov.uk", "customer.services@stratford.gov.uk", "7am"],
)  # fmt: skip
def test_numbers_references_and_addresses_count_one_syllable(token: str) -> None:
    """Figures, case references and web or email addresses count as one syllable."""
    assert syllables(token) == 1


def test_hyphenated_words_count_each_part() -> None:
    """A hyphenated word counts the syllables of each of its parts."""
    assert syllables("Stratford-upon-Avon") == 6
    assert syllables("Stratford-on-Avon") == 5


def test_every_word_has_at_least_one_syllable() -> None:
    """Words without vowels, and tokens without letters, still count one syllable."""
    assert syllables("hmm") == 1
    assert syllables("rhythms") >= 1
    assert syllables("'") == 1


def test_sentences_end_at_terminal_punctuation_and_line_breaks() -> None:
    """Full stops, question and exclamation marks and line breaks end a sentence."""
    text = "We have your claim. Is it right? Yes!\nWhat happens next\nWe will call you"
    assert sentences(text) == [
        "We have your claim.",
        "Is it right?",
        "Yes!",
        "What happens next",
        "We will call you",
    ]


def test_full_stops_inside_money_and_web_addresses_do_not_end_a_sentence() -> None:
    """Decimal points and dots in web addresses are not sentence ends."""
    text = "Pay £75.50 at https://www.stratford.gov.uk today. Thank you."
    assert sentences(text) == ["Pay £75.50 at https://www.stratford.gov.uk today.", "Thank you."]


def test_lines_without_words_are_not_sentences() -> None:
    """Heading underlines, bullets and blank lines are not counted as sentences."""
    assert sentences("Title\n=====\n\n*\n- \n* Item one") == ["Title", "* Item one"]


def test_words_strip_punctuation_and_skip_symbols() -> None:
    """Words lose surrounding punctuation; tokens with no letter or digit are not words."""
    assert words("* Call us - now, (please) on 01789 267575.") == [
        "Call", "us", "now", "please", "on", "01789", "267575",
    ]  # fmt: skip


def test_measure_counts_words_sentences_syllables_and_longest_sentence() -> None:
    """measure() returns the counts the formulas use and the longest sentence in words."""
    result = measure("We have your claim. We will call you on Monday.")
    assert (result.sentences, result.words, result.syllables) == (2, 10, 11)
    assert result.longest_sentence == 6


def test_grade_and_reading_ease_follow_the_flesch_formulas() -> None:
    """FKGL = 0.39 W/S + 11.8 Y/W - 15.59 and FRE = 206.835 - 1.015 W/S - 84.6 Y/W."""
    result = measure("We have your claim. We will call you on Monday.")
    assert result.grade == pytest.approx(0.39 * 10 / 2 + 11.8 * 11 / 10 - 15.59)
    assert result.reading_ease == pytest.approx(206.835 - 1.015 * 10 / 2 - 84.6 * 11 / 10)
    assert grade_level("We have your claim. We will call you on Monday.") == result.grade


def test_text_without_words_scores_as_easy() -> None:
    """An empty text has grade 0 and reading ease 100 rather than dividing by zero."""
    result = measure("  \n* \n")
    assert (result.words, result.grade, result.reading_ease) == (0, 0.0, 100.0)


def test_plain_message_scores_far_below_bureaucratic_one() -> None:
    """Plain bin-day wording scores a low grade; the same news in officialese scores high."""
    plain = "We will empty your bins on Tuesday this week. Put them out by 7am. Thank you."
    official = (
        "Residents are hereby advised that, owing to operational considerations associated "
        "with the forthcoming bank holiday, refuse collection arrangements applicable to your "
        "property will be temporarily rescheduled to the subsequent working day."
    )
    assert grade_level(plain) < 3
    assert grade_level(official) > 18
