"""The plain-language gate: render every template for every council with its sample and check it.

Rules (GOV.UK content design guidance, with the limits this project chose):

    missing-sample-variable  the template uses a value its sample or declared personalisation lacks
    render-error             the template cannot be rendered for a channel
    sms-fragments            the text message costs more fragments than its ``sms_fragment_limit``
    sentence-length          a sentence of the email body or text message is over 25 words
    reading-grade            Flesch-Kincaid grade above 6 (email body without footer; SMS)
    words-to-avoid           a GOV.UK word or phrase to avoid: whole word, any case, inflected
                             (``commenced``), unless part of an allowed phrase (``key safe``)
    subject-length           the email subject is over 70 characters
    letter-pages             the letter is longer than its ``letter_page_limit``

Pure apart from the renderers it calls. Letters are paginated by ``notifier.letters.render`` when
that module is installed; without it the letter rule is skipped and its column shows ``-``.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import partial
from typing import Any, Protocol

from jinja2 import TemplateSyntaxError, meta

from notifier.errors import InvalidEvent, NotifierError
from notifier.messages import LetterMessage
from notifier.model import Channel, Council
from notifier.templates import readability
from notifier.templates.blocks import plain_text
from notifier.templates.environment import markdown_env, plain_env
from notifier.templates.render import context, render_email, render_letter, render_sms_text
from notifier.templates.sms import prepare
from notifier.templates.source import Catalogue, Template

MISSING_VARIABLE = "missing-sample-variable"
RENDER_ERROR = "render-error"
UNKNOWN_WITHDRAWAL = "unknown-withdrawing-event-type"
SMS_FRAGMENTS = "sms-fragments"
SENTENCE_LENGTH = "sentence-length"
READING_GRADE = "reading-grade"
WORDS_TO_AVOID = "words-to-avoid"
SUBJECT_LENGTH = "subject-length"
LETTER_PAGES = "letter-pages"

MAX_SENTENCE_WORDS = 25
MAX_GRADE = 6.0
MAX_SUBJECT_CHARACTERS = 70
# Values every template sees without declaring them (render.context adds them).
ALWAYS_AVAILABLE = frozenset({"council", "reference", "name"})
SAMPLE_ADDRESS = ("10 High Street", "Stratford-upon-Avon", "CV37 6AA")
SAMPLE_LETTER_DATE = date(2027, 1, 4)  # fixed, so a check never depends on the day it runs
TEMPLATE = "template"  # the channel named in findings about the source rather than one channel

# GOV.UK's words to avoid, the project's additions and the banned abbreviations
# (GOV.UK style guide, "Words to avoid").
AVOID = (
    "agenda", "advancing", "collaborate", "combat", "commit", "pledge", "countering", "deliver",
    "deploy", "dialogue", "disincentivise", "incentivise", "empower", "facilitate", "focusing",
    "foster", "impact", "initiate", "key", "land", "leverage", "liaise", "overarching",
    "progress", "promote", "robust", "slimming down", "streamline", "strengthening", "tackling",
    "transforming", "utilise", "drive", "drive out", "going forward", "in order to",
    "one-stop shop", "ring fencing", "residual waste", "dwelling", "commence", "in receipt of",
    "with effect from", "forthwith", "hereby", "aforementioned", "prior to", "in respect of",
    "furthermore", "thereafter", "please note", "kindly", "we regret to inform you",
    "click here", "eg", "e.g.", "ie", "i.e.", "etc",
)  # fmt: skip
# Legitimate uses of a listed word (GOV.UK style guide).
ALLOWED_PHRASES = ("key safe", "land registry", "deliver a parcel")


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule in one template, for one council and channel."""

    council: str
    event_type: str
    channel: str
    rule: str
    detail: str


@dataclasses.dataclass(frozen=True, slots=True)
class TemplateReport:
    """What checking one template for one council measured and found (``None``: not measured)."""

    event_type: str
    council: str
    sms_limit: int
    letter_limit: int
    sms_fragments: int | None = None
    email_grade: float | None = None
    sms_grade: float | None = None
    email_longest_sentence: int | None = None
    sms_longest_sentence: int | None = None
    subject_length: int | None = None
    letter_pages: int | None = None
    large_print_pages: int | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def longest_sentence(self) -> int | None:
        """Words in the longest sentence of the email body or the text message."""
        lengths = [n for n in (self.email_longest_sentence, self.sms_longest_sentence) if n]
        return max(lengths, default=None)

    @property
    def status(self) -> str:
        """``OK``, or the names of the rules that failed."""
        return ", ".join(sorted({f.rule for f in self.findings})) or "OK"


class PagedLetter(Protocol):
    @property
    def pages(self) -> int: ...


LetterRenderer = Callable[[LetterMessage], PagedLetter]


def check_template(
    template: Template, council: Council, *, letters: LetterRenderer | None = None
) -> list[Finding]:
    """Every rule ``template`` breaks when rendered for ``council`` with its sample."""
    return list(report_template(template, council, letters=letters).findings)


def check_catalogue(catalogue: Catalogue, councils: Mapping[str, Council]) -> list[Finding]:
    """Every rule broken by any template of the catalogue, for each council."""
    return [f for report in report_catalogue(catalogue, councils) for f in report.findings]


def run_checks(catalogue: Catalogue, councils: Mapping[str, Council]) -> tuple[str, list[Finding]]:
    """The table ``notifier templates check`` prints, and the findings that fail it."""
    reports = report_catalogue(catalogue, councils)
    return format_table(reports), [f for report in reports for f in report.findings]


def report_catalogue(
    catalogue: Catalogue,
    councils: Mapping[str, Council],
    *,
    letters: LetterRenderer | None = None,
) -> list[TemplateReport]:
    """A report per event type and council, using each council's own template where it has one."""
    letters = letters or default_letter_renderer()
    event_types = sorted({template.event_type for template in catalogue})
    known = frozenset(event_types)
    return [
        _with_withdrawals(report_template(template, council, letters=letters), template, known)
        for event_type in event_types
        for council in councils.values()
        if (template := _template_for(catalogue, council, event_type))
    ]


def _with_withdrawals(
    report: TemplateReport, template: Template, known: frozenset[str]
) -> TemplateReport:
    """A withdrawing event type the catalogue does not know could never withdraw anything."""
    unknown = [
        Finding(report.council, template.event_type, TEMPLATE, UNKNOWN_WITHDRAWAL, by)
        for by in template.withdrawn_by
        if by not in known
    ]
    if not unknown:
        return report
    return dataclasses.replace(report, findings=(*report.findings, *unknown))


def _template_for(catalogue: Catalogue, council: Council, event_type: str) -> Template | None:
    try:
        return catalogue.get(council.code, event_type)
    except InvalidEvent:  # a type only another council has a template for
        return None


def report_template(
    template: Template, council: Council, *, letters: LetterRenderer | None = None
) -> TemplateReport:
    """Render ``template`` for ``council`` with its sample on every channel and measure it."""
    report = TemplateReport(
        event_type=template.event_type,
        council=council.code,
        sms_limit=template.sms_fragment_limit,
        letter_limit=template.letter_page_limit,
    )
    finding = _finder(template, council)
    try:
        found, renderable = _check_variables(template, finding)
    except TemplateSyntaxError as exc:
        error = finding(TEMPLATE, RENDER_ERROR, f"line {exc.lineno}: {exc.message}")
        return dataclasses.replace(report, findings=(error,))
    if not renderable:  # rendering would only fail on the same hole
        return dataclasses.replace(report, findings=tuple(found))
    sample = template.sample
    values = context(
        template, council, sample.personalisation, reference=sample.reference, name=sample.name
    )
    channel_checks: tuple[tuple[Channel, ChannelCheck], ...] = (
        (Channel.EMAIL, _check_email),
        (Channel.SMS, _check_sms),
        (Channel.LETTER, partial(_check_letter, letters=letters or default_letter_renderer())),
    )
    measured: dict[str, Any] = {}
    for channel, check in channel_checks:
        try:
            measured.update(check(template, values, finding, found))
        except (NotifierError, ValueError) as exc:
            found.append(finding(channel, RENDER_ERROR, str(exc)))
    return dataclasses.replace(report, findings=tuple(found), **measured)


Finder = Callable[[str, str, str], Finding]
# A channel's checks: append findings, return the figures measured (TemplateReport fields).
ChannelCheck = Callable[[Template, Mapping[str, Any], Finder, list[Finding]], dict[str, Any]]


def _finder(template: Template, council: Council) -> Finder:
    def finding(channel: str, rule: str, detail: str) -> Finding:
        return Finding(council.code, template.event_type, str(channel), rule, detail)

    return finding


def used_variables(template: Template) -> set[str]:
    """The names the template's subject, text message and body read from their context."""
    used: set[str] = set()
    for env, source in (
        (plain_env, template.subject),
        (plain_env, template.sms),
        (markdown_env, template.body),
    ):
        used |= meta.find_undeclared_variables(env.parse(source))
    return used - ALWAYS_AVAILABLE


def _check_variables(template: Template, finding: Finder) -> tuple[list[Finding], bool]:
    """Findings for values used but not declared or not sampled; whether it can be rendered."""
    used = used_variables(template)
    declared = set(template.personalisation)
    sample = template.sample.personalisation
    sampled = {name for name, value in sample.items() if value not in (None, "")}
    unsampled = sorted((used | declared) - ALWAYS_AVAILABLE - sampled)
    found = [
        finding(TEMPLATE, MISSING_VARIABLE, f"{name}: used but not in personalisation")
        for name in sorted(used - declared)
    ] + [
        finding(TEMPLATE, MISSING_VARIABLE, f"{name}: not in [sample.personalisation]")
        for name in unsampled
    ]
    return found, not unsampled


def _check_email(
    template: Template, values: Mapping[str, Any], finding: Finder, found: list[Finding]
) -> dict[str, Any]:
    subject = render_email(template, values).subject
    body = plain_text(render_letter(template, values).blocks)  # the email text less its footer
    if len(subject) > MAX_SUBJECT_CHARACTERS:
        found.append(
            finding(
                Channel.EMAIL,
                SUBJECT_LENGTH,
                f"{len(subject)} characters > {MAX_SUBJECT_CHARACTERS}: {subject}",
            )
        )
    found += _check_words(f"{subject}\n{body}", Channel.EMAIL, finding)
    measured = _check_text(body, Channel.EMAIL, finding, found)
    return {
        "subject_length": len(subject),
        "email_grade": measured.grade,
        "email_longest_sentence": measured.longest_sentence,
    }


def _check_sms(
    template: Template, values: Mapping[str, Any], finding: Finder, found: list[Finding]
) -> dict[str, Any]:
    sms = prepare(render_sms_text(template, values))
    if sms.fragments > template.sms_fragment_limit:
        found.append(
            finding(
                Channel.SMS,
                SMS_FRAGMENTS,
                f"{sms.fragments} fragments > {template.sms_fragment_limit} "
                f"({len(sms.body)} characters, {sms.encoding})",
            )
        )
    found += _check_words(sms.body, Channel.SMS, finding)
    measured = _check_text(sms.body, Channel.SMS, finding, found)
    return {
        "sms_fragments": sms.fragments,
        "sms_grade": measured.grade,
        "sms_longest_sentence": measured.longest_sentence,
    }


def _check_text(
    text: str, channel: str, finding: Finder, found: list[Finding]
) -> readability.Readability:
    for sentence in readability.sentences(text):
        length = len(readability.words(sentence))
        if length > MAX_SENTENCE_WORDS:
            found.append(
                finding(
                    channel, SENTENCE_LENGTH, f"{length} words > {MAX_SENTENCE_WORDS}: {sentence}"
                )
            )
    measured = readability.measure(text)
    if measured.grade > MAX_GRADE:
        found.append(finding(channel, READING_GRADE, f"grade {measured.grade:.1f} > {MAX_GRADE:g}"))
    return measured


def _check_words(text: str, channel: str, finding: Finder) -> list[Finding]:
    return [finding(channel, WORDS_TO_AVOID, f"{word!r}") for word in words_to_avoid(text)]


def words_to_avoid(text: str, allowed: Iterable[str] = ALLOWED_PHRASES) -> list[str]:
    """The words and phrases to avoid in ``text``, as written there, in order of appearance."""
    for phrase in allowed:
        text = re.sub(_whole(re.escape(phrase).replace(r"\ ", r"[\s-]+")), " ", text, flags=re.I)
    return [match.group(0) for match in _AVOID_PATTERN.finditer(text)]


def _whole(pattern: str) -> str:
    return rf"(?<![\w.]){pattern}(?![\w])"


def _avoid_pattern(phrase: str) -> str:
    """A phrase as a regex: spaces or hyphens between words, and the regular inflections of
    its last word (``deliver``: delivers, delivered, delivering; ``commence``: commencing)."""
    words = [re.escape(word) for word in re.split(r"[\s-]+", phrase)]
    if "." not in phrase and len(phrase) > 3:
        last = words[-1]
        stem = last[:-1] if last.endswith("e") else last
        words[-1] = rf"(?:{last}(?:s|d)?|{stem}(?:es|ed|ing))"
    return _whole(r"[\s-]+".join(words))


_AVOID_PATTERN = re.compile("|".join(_avoid_pattern(p) for p in AVOID), re.IGNORECASE)


def _check_letter(
    template: Template,
    values: Mapping[str, Any],
    finding: Finder,
    found: list[Finding],
    *,
    letters: LetterRenderer | None,
) -> dict[str, Any]:
    content = render_letter(template, values)
    if letters is None:
        return {}
    message = LetterMessage(
        notification_id="template-check",
        council=values["council"],
        event_type=template.event_type,
        address=SAMPLE_ADDRESS,
        name=template.sample.name,
        title=content.title,
        reference=template.sample.reference,
        blocks=content.blocks,
        date=SAMPLE_LETTER_DATE,
        postage=template.postage,
    )
    measured: dict[str, Any] = {}
    for large_print, key in ((False, "letter_pages"), (True, "large_print_pages")):
        pages = _pages(letters, dataclasses.replace(message, large_print=large_print))
        measured[key] = pages
        if pages > template.letter_page_limit:
            print_size = "large print" if large_print else "standard print"
            found.append(
                finding(
                    Channel.LETTER,
                    LETTER_PAGES,
                    f"{print_size}: {pages} pages > {template.letter_page_limit}",
                )
            )
    return measured


def _pages(letters: LetterRenderer, message: LetterMessage) -> int:
    try:
        return letters(message).pages
    except ValueError as exc:
        # A letter too long to print at all still has a page count worth reporting.
        pages = getattr(exc, "pages", None)
        if isinstance(pages, int):
            return pages
        raise


def default_letter_renderer() -> LetterRenderer | None:
    """``notifier.letters.render.render_letter`` when that module is installed, else ``None``."""
    try:
        module = importlib.import_module("notifier.letters.render")
    except ModuleNotFoundError as exc:
        if exc.name != "notifier.letters.render":
            raise
        return None
    renderer: LetterRenderer = module.render_letter
    return renderer


_COLUMNS = (
    ("template", 36), ("council", 8), ("sms", 6), ("FK email", 9), ("FK sms", 7),
    ("longest", 8), ("subject", 8), ("letter", 7), ("large", 6),
    ("status", 0),
)  # fmt: skip


LEGEND = (
    f"sms: fragments/limit; FK: Flesch-Kincaid grade (limit {MAX_GRADE:g}); longest: words in the "
    f"longest sentence (limit {MAX_SENTENCE_WORDS});\nsubject: characters (limit "
    f"{MAX_SUBJECT_CHARACTERS}); letter, large: pages/limit in standard and large print"
)


def format_table(reports: Iterable[TemplateReport]) -> str:
    """A fixed-width table: one row per template and council, the figures checked and the status."""
    rows = [[name for name, _ in _COLUMNS]]
    for r in reports:
        rows.append([
            r.event_type,
            r.council,
            _ratio(r.sms_fragments, r.sms_limit),
            _number(r.email_grade),
            _number(r.sms_grade),
            _number(r.longest_sentence),
            _number(r.subject_length),
            _ratio(r.letter_pages, r.letter_limit),
            _ratio(r.large_print_pages, r.letter_limit),
            r.status,
        ])  # fmt: skip
    widths = [
        max(width, *(len(row[i]) + 2 for row in rows)) for i, (_, width) in enumerate(_COLUMNS)
    ]
    lines = [
        "".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "-" * len(max(lines, key=len)))
    failed = sum(row[-1] != "OK" for row in rows[1:])
    lines += ["", LEGEND, f"{len(rows) - 1} checked, {failed} failed"]
    return "\n".join(lines) + "\n"


def _number(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _ratio(value: int | None, limit: int) -> str:
    return f"{_number(value)}/{limit}"
