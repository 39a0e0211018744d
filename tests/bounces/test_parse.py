"""The parser: each server's shape classified, RFC 3464 Status codes as a table, and untrusted
input (random bytes, mutated DSNs) never raising."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.bounces.parse import MAX_RECEIVED, Kind, classify_status, parse
from tests.bounces import samples

TO = "bounces+aaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb@bounces.stratford.gov.uk"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("5.1.1", Kind.HARD),
        ("5.1.10", Kind.HARD),
        ("5.2.1", Kind.HARD),
        ("5.2.2", Kind.SOFT),
        ("5.2.3", Kind.HARD),
        ("5.4.4", Kind.HARD),
        ("5.4.1", Kind.OTHER),
        ("5.7.1", Kind.OTHER),
        ("5.7.26", Kind.OTHER),
        ("5.6.0", Kind.OTHER),
        ("4.2.2", Kind.SOFT),
        ("4.4.7", Kind.SOFT),
        ("4.7.0", Kind.SOFT),
        ("2.0.0", Kind.NOT_BOUNCE),
        ("garbage", Kind.OTHER),
    ],
)
def test_status_codes_classify_as_the_issue_lists(code: str, kind: Kind) -> None:
    """5.1.x, 5.2.x but 5.2.2, 5.4.4 permanent; 4.x.x and 5.2.2 temporary; other 5.x.x not
    the address's fault."""
    assert classify_status(code) is kind


@pytest.mark.parametrize(
    ("build", "kind", "status"),
    [
        (samples.rfc3464, Kind.HARD, "5.1.1"),
        (samples.postfix, Kind.HARD, "5.1.1"),
        (samples.exchange, Kind.HARD, "5.1.10"),
        (samples.gmail, Kind.SOFT, "5.2.2"),
        (samples.delayed, Kind.DELAYED, "4.4.7"),
        (samples.out_of_office, Kind.AUTO_REPLY, None),
        (samples.qmail, Kind.HARD, None),
        (samples.bounce_of_a_bounce, Kind.LOOP, None),
    ],
)
def test_each_servers_shape_is_classified(
    build: Callable[[str], bytes], kind: Kind, status: str | None
) -> None:
    """RFC 3464, Postfix, Exchange Online, Gmail, a delay, an out-of-office reply, a qmail
    bounce (flufl.bounce's detectors) and a loop each get their kind, and the return path."""
    parsed = parse(build(TO))
    assert (parsed.kind, parsed.status) == (kind, status)
    assert TO in parsed.addresses


def test_exchange_policy_refusal_is_not_a_hard_bounce() -> None:
    """Exchange's 5.7.1 (the recipient's organisation refused us) blames no address."""
    assert parse(samples.exchange(TO, status="5.7.1")).kind is Kind.OTHER


def test_arf_complaint_carries_the_return_path_of_the_returned_headers() -> None:
    """An RFC 5965 report is a complaint; the signed address is read from the returned
    message's Return-Path, since the report itself goes to the feedback address."""
    parsed = parse(samples.complaint("fbl@stratford.gov.uk", TO))
    assert parsed.kind is Kind.COMPLAINT
    assert parsed.addresses == ("fbl@stratford.gov.uk", TO)


def test_not_spam_feedback_is_not_a_complaint() -> None:
    """A feedback report of type not-spam records nothing."""
    raw = samples.complaint("fbl@x.gov.uk", TO).replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )
    assert parse(raw).kind is Kind.NOT_BOUNCE


def test_positive_dsn_is_not_a_bounce() -> None:
    """Action: delivered is no failure."""
    assert parse(samples.rfc3464(TO, status="2.0.0", action="delivered")).kind is Kind.NOT_BOUNCE


def test_too_large_and_looping_messages_are_refused() -> None:
    """Past the size limit: malformed (too-large); more Received fields than a path has: loop."""
    assert parse(samples.rfc3464(TO), max_bytes=100).detail == "too-large"
    looped = b"Received: from a by b\r\n" * (MAX_RECEIVED + 1) + samples.rfc3464(TO)
    assert parse(looped).kind is Kind.LOOP


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe",
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nno boundary",
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n--b--\r\n",
    ],
)
def test_malformed_messages_are_malformed(raw: bytes) -> None:
    """No headers, a multipart without its boundary, a DSN with no recipient: malformed."""
    assert parse(raw).kind is Kind.MALFORMED


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    """Whatever bytes arrive, the parser returns a verdict."""
    assert isinstance(parse(raw).kind, Kind)


_SAMPLES = [samples.rfc3464(TO), samples.exchange(TO), samples.postfix(TO), samples.gmail(TO)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SAMPLES),
    st.lists(st.tuples(st.integers(min_value=0), st.binary(max_size=8)), max_size=8),
    st.integers(min_value=0),
)
def test_mutated_dsns_never_raise(raw: bytes, edits: list[tuple[int, bytes]], cut: int) -> None:
    """A DSN with bytes replaced at random places, then cut short, still gets a verdict."""
    data = bytearray(raw)
    for position, replacement in edits:
        at = position % len(data)
        data[at : at + len(replacement)] = replacement
    data = data[: max(1, cut % (len(data) + 1))]
    assert isinstance(parse(bytes(data)).kind, Kind)
