"""The plain-language gate: each rule, planted in an otherwise clean template, is reported."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from notifier.councils import load_councils
from notifier.messages import LetterMessage
from notifier.model import Council
from notifier.templates.checks import (
    LETTER_PAGES,
    MISSING_VARIABLE,
    READING_GRADE,
    RENDER_ERROR,
    SAMPLE_ADDRESS,
    SENTENCE_LENGTH,
    SMS_FRAGMENTS,
    SUBJECT_LENGTH,
    WORDS_TO_AVOID,
    Finding,
    check_catalogue,
    check_template,
    format_table,
    report_template,
    run_checks,
    words_to_avoid,
)
from notifier.templates.source import Catalogue, Template, parse_template

COUNCILS = load_councils()
SDC = COUNCILS["sdc"]

CLEAN_SMS = "{{ council.name }}: we have your request {{ reference }}. We will call you soon."
CLEAN_BODY = """\
# We have your request

Your reference is {{ reference }}.

We will call you by {{ call_by | date }}. You do not need to do anything now.
"""


def source(
    *,
    subject: str = "We have your request {{ reference }}",
    sms: str = CLEAN_SMS,
    body: str = CLEAN_BODY,
    personalisation: str = '["call_by"]',
    sample: str = 'call_by = "2027-01-27"',
    extra: str = "",
) -> str:
    """The text of a template file, clean unless a part is replaced."""
    return f'''+++
topic = "planning"
statutory = false
personalisation = {personalisation}
subject = """{subject}"""
sms = """{sms}"""
{extra}

[sample]
reference = "24/01234/FUL"
[sample.personalisation]
{sample}
+++
{body}'''


def template(**parts: str) -> Template:
    return parse_template(source(**parts), event_type="test.request.received")


@dataclasses.dataclass(frozen=True)
class FakeLetter:
    pages: int


def fake_renderer(
    pages: int, seen: list[LetterMessage] | None = None
) -> Callable[[LetterMessage], FakeLetter]:
    """A letter renderer that lays every letter out on ``pages`` pages (and records it)."""

    def render(message: LetterMessage) -> FakeLetter:
        if seen is not None:
            seen.append(message)
        return FakeLetter(pages)

    return render


def rules(findings: list[Finding]) -> set[str]:
    return {finding.rule for finding in findings}


def test_clean_template_has_no_findings() -> None:
    """The baseline every planted template differs from passes every rule for both councils."""
    for council in COUNCILS.values():
        assert check_template(template(), council, letters=fake_renderer(1)) == []


def test_variable_used_but_neither_declared_nor_sampled_is_reported() -> None:
    """A body value missing from personalisation and the sample is a missing sample variable."""
    findings = check_template(template(body=CLEAN_BODY + "\nWe will come to {{ street }}.\n"), SDC)
    assert rules(findings) == {MISSING_VARIABLE}
    assert {f.detail for f in findings} == {
        "street: used but not in personalisation",
        "street: not in [sample.personalisation]",
    }
    assert all(f.channel == "template" and f.council == "sdc" for f in findings)


def test_declared_variable_missing_from_sample_is_reported() -> None:
    """A declared value the sample does not give is reported instead of failing to render."""
    findings = check_template(template(personalisation='["call_by", "street"]'), SDC)
    assert [(f.rule, f.detail) for f in findings] == [
        (MISSING_VARIABLE, "street: not in [sample.personalisation]")
    ]


def test_sampled_but_undeclared_variable_is_reported_and_still_rendered() -> None:
    """A value only the sample gives is reported, and the other channels are still measured."""
    bad = template(
        sms=CLEAN_SMS + " Ask for {{ officer }}.", sample='call_by = "2027-01-27"\nofficer = "Sam"'
    )
    report = report_template(bad, SDC, letters=fake_renderer(1))
    assert [(f.rule, f.detail) for f in report.findings] == [
        (MISSING_VARIABLE, "officer: used but not in personalisation")
    ]
    assert report.sms_fragments == 1


def test_variables_set_inside_the_template_are_not_missing() -> None:
    """Loop variables and the context every template gets (council, reference, name) are fine."""
    body = CLEAN_BODY + "\n{% for item in items %}\n- {{ item }}\n{% endfor %}\n{{ name }}\n"
    good = template(
        body=body,
        personalisation='["call_by", "items"]',
        sample='call_by = "2027-01-27"\nitems = ["a sofa", "a fridge", "a bed"]',
    )
    assert check_template(good, SDC, letters=fake_renderer(1)) == []


def test_sms_over_its_fragment_limit_is_reported() -> None:
    """A text message longer than its sms_fragment_limit fails with the fragment count."""
    long_sms = CLEAN_SMS + " Thank you." * 20  # 314 characters with the Stratford name
    findings = check_template(template(sms=long_sms), SDC)
    assert rules(findings) == {SMS_FRAGMENTS}
    assert findings[0].channel == "sms"
    assert findings[0].detail.startswith("3 fragments > 2")


def test_sms_fragment_limit_comes_from_the_template() -> None:
    """The same two-fragment text passes a limit of 2 and fails a limit of 1."""
    two_fragments = CLEAN_SMS + " Thank you." * 7  # 171 characters
    assert check_template(template(sms=two_fragments), SDC, letters=fake_renderer(1)) == []
    strict = template(sms=two_fragments, extra="sms_fragment_limit = 1")
    assert rules(check_template(strict, SDC)) == {SMS_FRAGMENTS}


def test_sms_fragments_count_the_council_name_as_written() -> None:
    """The longer council name can push a text over its limit when the shorter one fits."""
    text = CLEAN_SMS + " We are open on Monday to Friday." + " Thank you." * 4
    bad = template(sms=text, extra="sms_fragment_limit = 1")
    sdc = rules(check_template(bad, SDC, letters=fake_renderer(1)))
    wdc = rules(check_template(bad, COUNCILS["wdc"], letters=fake_renderer(1)))
    assert SMS_FRAGMENTS in sdc and SMS_FRAGMENTS not in wdc


def test_sentence_over_25_words_is_reported() -> None:
    """A 26-word sentence fails the sentence-length rule and the detail quotes it."""
    sentence = "We will " + " ".join(["call"] * 23) + " you."
    findings = check_template(template(body=CLEAN_BODY + f"\n{sentence}\n"), SDC)
    assert rules(findings) == {SENTENCE_LENGTH}
    assert findings[0].channel == "email"
    assert findings[0].detail == f"26 words > 25: {sentence}"


def test_sentence_of_25_words_passes() -> None:
    """Exactly 25 words is within the limit."""
    sentence = "We will " + " ".join(["call"] * 22) + " you."
    body = CLEAN_BODY + f"\n{sentence}\n"
    assert check_template(template(body=body), SDC, letters=fake_renderer(1)) == []


def test_long_sentence_in_sms_is_reported_for_the_sms_channel() -> None:
    """Sentence length is checked in the text message too."""
    sms = CLEAN_SMS + " We will " + " ".join(["call"] * 23) + " you."
    findings = check_template(template(sms=sms), SDC, letters=fake_renderer(1))
    assert {(f.channel, f.rule) for f in findings} == {("sms", SENTENCE_LENGTH)}


def test_reading_grade_above_6_is_reported() -> None:
    """Short sentences of long words still fail the reading grade."""
    body = CLEAN_BODY + (
        "\nAdministrative documentation necessitates organisational consideration. "
        "Comprehensive authorisation is obligatory.\n"
    )
    findings = check_template(template(body=body), SDC, letters=fake_renderer(1))
    assert rules(findings) == {READING_GRADE}
    assert findings[0].channel == "email"
    assert findings[0].detail.startswith("grade ")


def test_reading_grade_of_sms_is_checked() -> None:
    """The text message has its own reading grade."""
    sms = "{{ council.name }}: administrative documentation necessitates consideration."
    findings = check_template(template(sms=sms), SDC, letters=fake_renderer(1))
    assert {(f.channel, f.rule) for f in findings} == {("sms", READING_GRADE)}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("We will liaise with your landlord.", ["liaise"]),
        ("Work will COMMENCE on Monday.", ["COMMENCE"]),
        ("We commenced work and are utilising a van.", ["commenced", "utilising"]),
        ("We will do this Going Forward.", ["Going Forward"]),
        ("Put it out prior to 7am.", ["prior to"]),
        ("Bring eg a payslip.", ["eg"]),
        ("Bring e.g. a payslip.", ["e.g."]),
        ("Click here to pay.", ["Click here"]),
        ("Put your general waste, not residual waste, in the bin.", ["residual waste"]),
    ],
)
def test_words_to_avoid_are_found_whole_word_in_any_case(text: str, found: list[str]) -> None:
    """Listed words and phrases are found case-insensitively, with their inflections."""
    assert words_to_avoid(text) == found


@pytest.mark.parametrize(
    "text",
    ["Use the key safe by the door.", "Check the Land Registry.", "We deliver a parcel.",
     "Use the keyboard.", "The island is large.", "Your progression is good."],
)  # fmt: skip
def test_allowed_phrases_and_longer_words_are_not_flagged(text: str) -> None:
    """Allow-listed phrases and words that merely contain a listed word are not flagged."""
    assert words_to_avoid(text) == []


def test_word_to_avoid_in_body_subject_or_sms_is_reported() -> None:
    """A word to avoid is reported on the channel where it appears."""
    body = template(body=CLEAN_BODY + "\nWe will facilitate your request.\n")
    subject = template(subject="We will progress your request")
    sms = template(sms=CLEAN_SMS + " Please note the date.")
    for bad, channel, word in (
        (body, "email", "'facilitate'"),
        (subject, "email", "'progress'"),
        (sms, "sms", "'Please note'"),
    ):
        findings = check_template(bad, SDC, letters=fake_renderer(1))
        assert [(f.channel, f.rule, f.detail) for f in findings] == [
            (channel, WORDS_TO_AVOID, word)
        ]


def test_subject_over_70_characters_is_reported() -> None:
    """A rendered subject of 71 characters fails; 70 passes."""
    seventy = "We have your request " + "a" * 35 + " {{ reference }}"  # 21 + 35 + 1 + 12 = 69
    ok = template(subject=seventy + "b")
    bad = template(subject=seventy + "bc")
    assert check_template(ok, SDC, letters=fake_renderer(1)) == []
    findings = check_template(bad, SDC, letters=fake_renderer(1))
    assert rules(findings) == {SUBJECT_LENGTH}
    assert findings[0].detail.startswith("71 characters > 70")


def test_letter_over_its_page_limit_is_reported() -> None:
    """A letter the renderer lays out on more pages than letter_page_limit fails."""
    findings = check_template(template(), SDC, letters=fake_renderer(3))
    assert rules(findings) == {LETTER_PAGES}
    assert {f.detail for f in findings} == {
        "standard print: 3 pages > 2",
        "large print: 3 pages > 2",
    }
    assert (
        check_template(template(extra="letter_page_limit = 3"), SDC, letters=fake_renderer(3)) == []
    )


def test_letter_too_long_to_print_still_reports_its_pages() -> None:
    """A renderer error that carries a page count becomes a letter-pages finding."""

    class TooLong(ValueError):
        pages = 12

    def render(message: LetterMessage) -> FakeLetter:
        raise TooLong("letter-too-long")

    findings = check_template(template(), SDC, letters=render)
    assert rules(findings) == {LETTER_PAGES}


def test_letter_is_laid_out_with_the_sample_address_and_template_values() -> None:
    """The letter check builds a LetterMessage from the sample address, reference and postage."""
    seen: list[LetterMessage] = []
    check_template(template(extra='postage = "first"'), SDC, letters=fake_renderer(1, seen))
    standard, large = seen
    assert (
        standard.address == SAMPLE_ADDRESS == ("10 High Street", "Stratford-upon-Avon", "CV37 6AA")
    )
    assert (standard.reference, standard.postage, standard.council) == (
        "24/01234/FUL",
        "first",
        SDC,
    )
    assert standard.title == "We have your request"  # the body's heading, printed once
    assert (standard.large_print, large.large_print) == (False, True)


def test_real_letter_renderer_counts_pages() -> None:
    """With notifier.letters.render installed, a very long body fails its page limit."""
    pytest.importorskip("notifier.letters.render")
    paragraphs = "\n".join(
        "We will call you soon. Thank you for your patience.\n" for _ in range(120)
    )
    findings = check_template(template(body=CLEAN_BODY + "\n" + paragraphs), SDC)
    assert rules(findings) == {LETTER_PAGES}


def test_value_a_filter_cannot_format_is_a_render_error() -> None:
    """A sample value the money filter rejects is reported, not raised."""
    bad = template(
        sms=CLEAN_SMS + " You owe {{ amount | money }}.",
        personalisation='["call_by", "amount"]',
        sample='call_by = "2027-01-27"\namount = "lots"',
    )
    findings = check_template(bad, SDC, letters=fake_renderer(1))
    assert [(f.channel, f.rule) for f in findings] == [("sms", RENDER_ERROR)]


def test_template_syntax_error_is_a_render_error() -> None:
    """A template Jinja cannot parse is reported once, for the template as a whole."""
    findings = check_template(template(body=CLEAN_BODY + "\n{{ oops\n"), SDC)
    assert [(f.channel, f.rule) for f in findings] == [("template", RENDER_ERROR)]


def test_finding_is_frozen() -> None:
    """Findings are immutable values."""
    finding = Finding("sdc", "a.b.c", "sms", SMS_FRAGMENTS, "3 fragments > 2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.rule = "other"  # type: ignore[misc]


def write_catalogue(root: Path, files: dict[str, str]) -> Catalogue:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return Catalogue([root])


def test_check_catalogue_reports_only_the_bad_template_for_every_council(tmp_path: Path) -> None:
    """Each template is checked for each council; a clean one adds nothing."""
    catalogue = write_catalogue(tmp_path, {
        "good.thing.happened.md": source(),
        "bad.thing.happened.md": source(subject="We will liaise with you"),
    })  # fmt: skip
    findings = check_catalogue(catalogue, COUNCILS)
    assert {(f.council, f.event_type, f.rule) for f in findings} == {
        ("sdc", "bad.thing.happened", WORDS_TO_AVOID),
        ("wdc", "bad.thing.happened", WORDS_TO_AVOID),
    }


def test_check_catalogue_uses_a_councils_own_template(tmp_path: Path) -> None:
    """A council's override is checked for that council, the shared template for the others."""
    catalogue = write_catalogue(tmp_path, {
        "a.thing.happened.md": source(),
        "councils/wdc/a.thing.happened.md": source(subject="We will liaise with you"),
    })  # fmt: skip
    findings = check_catalogue(catalogue, COUNCILS)
    assert {(f.council, f.rule) for f in findings} == {("wdc", WORDS_TO_AVOID)}


def test_table_has_a_row_per_template_and_council_with_figures_and_status(
    tmp_path: Path,
) -> None:
    """run_checks returns a fixed-width table of every template x council and the findings."""
    catalogue = write_catalogue(tmp_path, {
        "good.thing.happened.md": source(),
        "bad.thing.happened.md": source(subject="We will liaise with you " + "x" * 60),
    })  # fmt: skip
    table, findings = run_checks(catalogue, COUNCILS)
    lines = table.splitlines()
    header = lines[0]
    for column in (
        "template",
        "council",
        "sms",
        "FK email",
        "FK sms",
        "longest",
        "subject",
        "letter",
        "large",
        "status",
    ):
        assert column in header
    rows = [line for line in lines if line.startswith(("good.", "bad."))]
    assert len(rows) == 4
    status_at = header.index("status")
    assert {row[status_at:] for row in rows if row.startswith("good.")} == {"OK"}
    assert {row[status_at:] for row in rows if row.startswith("bad.")} == {
        "subject-length, words-to-avoid"
    }
    assert {row[header.index("sms") :].split()[0] for row in rows} == {"1/2"}
    assert "4 checked, 2 failed" in table
    assert rules(findings) == {SUBJECT_LENGTH, WORDS_TO_AVOID}


def test_table_shows_a_dash_for_figures_not_measured() -> None:
    """A template that could not be rendered shows '-' rather than a made-up figure."""
    report = report_template(template(personalisation='["call_by", "street"]'), SDC)
    row = format_table([report]).splitlines()[2]
    assert row.split()[:4] == ["test.request.received", "sdc", "-/2", "-"]
    assert row.endswith(MISSING_VARIABLE)


def test_council_fixture_is_the_longer_name() -> None:
    """The SMS checks use the longest configured council name (Stratford-on-Avon)."""
    longest: Council = max(COUNCILS.values(), key=lambda c: len(c.name))
    assert longest is SDC


def test_unknown_withdrawing_event_type_fails_the_check(tmp_path: Path) -> None:
    """A template withdrawn by an event type the catalogue does not have fails the check,
    naming that type; a known one passes."""
    shipped = Path(__file__).parents[2] / "notifier/templates/catalogue"
    for name in ("housing.repair-appointment.reminder", "housing.repair-appointment.cancelled"):
        text = (shipped / f"{name}.md").read_text("utf-8")
        (tmp_path / f"{name}.md").write_text(
            text.replace("housing.repair-appointment.rebooked", "housing.repair.teleported")
        )
    findings = check_catalogue(Catalogue([tmp_path]), {"sdc": COUNCILS["sdc"]})
    assert [(f.event_type, f.rule, f.detail) for f in findings] == [
        (
            "housing.repair-appointment.reminder",
            "unknown-withdrawing-event-type",
            "housing.repair.teleported",
        )
    ]
