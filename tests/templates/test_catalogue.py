"""The shipped catalogue: every event type has a template and passes the plain-language gate."""

from __future__ import annotations

import dataclasses
import re

import pytest

from notifier.councils import load_councils
from notifier.templates.checks import check_catalogue, check_template
from notifier.templates.render import context, render_email, render_sms_text
from notifier.templates.sms import prepare
from notifier.templates.source import Catalogue, Sample, Template

CATALOGUE = Catalogue.load()
COUNCILS = load_councils()
TEMPLATES = sorted(CATALOGUE, key=lambda t: t.event_type)

EVENT_TYPES = {
    "planning.application.received", "planning.application.validated",
    "planning.consultation.started", "planning.decision.issued",
    "waste.missed-collection.reported", "waste.missed-collection.resolved",
    "waste.bulky-collection.booked", "waste.garden-waste.renewal-due",
    "council-tax.bill.issued", "council-tax.direct-debit.set-up", "council-tax.payment.missed",
    "benefits.claim.received", "benefits.evidence.requested", "benefits.decision.made",
    "housing.repair-appointment.booked", "housing.repair-appointment.reminder",
    "housing.repair.completed", "licensing.application.received", "licensing.licence.granted",
    "complaints.complaint.received", "complaints.response.sent",
    "housing.repair-appointment.cancelled", "housing.repair-appointment.rebooked",
    "waste.bulky-collection.cancelled", "planning.application.withdrawn",
}  # fmt: skip
TOPICS = {"planning", "waste", "council-tax", "benefits", "housing", "licensing", "complaints"}
STATUTORY = {
    "council-tax.bill.issued", "council-tax.payment.missed", "benefits.decision.made",
    "planning.decision.issued",
}  # fmt: skip
# GOV.UK style (plain-language.md §6.8): no ordinals, numeric dates, "noon", ":00" or 24-hour times.
NOT_GOV_UK_STYLE = re.compile(
    r"\b\d+(st|nd|rd|th)\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b12 ?noon\b|\b\d{1,2}:00 ?[ap]m\b"
    r"|\b\d{4} ?hrs\b",
    re.IGNORECASE,
)


def test_shipped_catalogue_passes_every_check_for_every_council() -> None:
    """No shipped template breaks a plain-language rule for either council."""
    findings = check_catalogue(CATALOGUE, COUNCILS)
    assert findings == [], "\n".join(map(str, findings))


def test_catalogue_has_a_template_for_every_event_type() -> None:
    """All 25 event types have a template, under their exact names."""
    assert len(EVENT_TYPES) == 25
    assert sorted(CATALOGUE.event_types()) == sorted(EVENT_TYPES)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.event_type)
def test_template_declares_topic_and_a_complete_sample(template: Template) -> None:
    """Each template has its service's topic and a sample reference and personalisation."""
    assert template.topic in TOPICS
    assert template.event_type.split(".")[0] == template.topic
    assert template.sample.reference
    assert set(template.personalisation) <= set(template.sample.personalisation)
    assert template.subject and template.sms and template.body


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.event_type)
def test_sample_values_are_ones_an_event_can_carry(template: Template) -> None:
    """Sample values are strings, numbers or booleans, as case-event.schema.json allows."""
    for value in template.sample.personalisation.values():
        assert isinstance(value, str | int | float | bool), value


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.event_type)
def test_rendered_text_uses_gov_uk_style_and_gsm_characters(template: Template) -> None:
    """Dates and times render in GOV.UK style and the SMS needs no character downgrading."""
    for council in COUNCILS.values():
        sample = template.sample
        values = context(
            template, council, sample.personalisation, reference=sample.reference, name=sample.name
        )
        email = render_email(template, values)
        sms_text = render_sms_text(template, values)
        sms = prepare(sms_text)
        assert (sms.body, sms.encoding) == (sms_text, "GSM-7")
        for text in (email.subject, email.text, sms_text):
            assert not NOT_GOV_UK_STYLE.search(text), text


def test_statutory_notices_are_marked_statutory() -> None:
    """Bills, payment reminders and decisions are statutory notices; updates are not."""
    statutory = {t.event_type for t in TEMPLATES if t.statutory}
    assert statutory >= STATUTORY
    assert "waste.missed-collection.resolved" not in statutory


def test_benefit_refusal_wording_also_passes() -> None:
    """The branch for a refused benefit claim (no weekly amount) passes the checks too."""
    template = CATALOGUE.get("sdc", "benefits.decision.made")
    refused = dataclasses.replace(
        template,
        sample=Sample(
            reference=template.sample.reference,
            personalisation={**template.sample.personalisation, "weekly_amount": "0"},
        ),
    )
    for council in COUNCILS.values():
        assert check_template(refused, council) == []
    values = context(
        refused,
        COUNCILS["sdc"],
        refused.sample.personalisation,
        reference=refused.sample.reference,
        name=None,
    )
    assert "We cannot pay you" in render_email(refused, values).text
