"""The signed return path: round trip, length, case, and every way a token can be wrong."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from notifier.bounces.verp import MAX_LOCAL_PART, ReturnPaths
from notifier.councils import load_councils
from notifier.errors import ConfigurationError

KEY = b"k" * 32
COUNCILS = load_councils()


@pytest.fixture
def paths() -> ReturnPaths:
    return ReturnPaths(KEY, COUNCILS)


def test_address_round_trips_to_its_notification_and_council(paths: ReturnPaths) -> None:
    """A signed address verifies to the notification id and council it was made for."""
    nid = str(uuid.uuid4())
    address = paths.address("sdc", nid)
    token = paths.verify(address)
    assert token is not None and (token.notification_id, token.council) == (nid, "sdc")
    assert address.endswith("@bounces.stratford.gov.uk") and address.startswith("bounces+")


def test_local_part_fits_rfc_5321(paths: ReturnPaths) -> None:
    """The local part stays within RFC 5321's 64 characters."""
    local = paths.address("wdc", str(uuid.uuid4())).rpartition("@")[0]
    assert len(local) <= MAX_LOCAL_PART


def test_case_folded_address_still_verifies(paths: ReturnPaths) -> None:
    """A server that upper-cases the local part does not break the token; angle brackets too."""
    nid = str(uuid.uuid4())
    token = paths.verify(f"<{paths.address('sdc', nid).upper()}>")
    assert token is not None and token.notification_id == nid


def test_forged_signature_is_refused(paths: ReturnPaths) -> None:
    """Changing one character of the signature makes the address unknown."""
    address = paths.address("sdc", str(uuid.uuid4()))
    local, _, domain = address.rpartition("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    assert paths.verify(forged) is None


def test_other_councils_token_is_refused(paths: ReturnPaths) -> None:
    """A token signed for Warwick, put on Stratford's bounce address, verifies for nobody."""
    wdc = paths.address("wdc", str(uuid.uuid4()))
    token_part = wdc.rpartition("@")[0].partition("+")[2]
    assert paths.verify(f"bounces+{token_part}@bounces.stratford.gov.uk") is None


def test_other_key_does_not_verify(paths: ReturnPaths) -> None:
    """An address signed with another key is refused."""
    other = ReturnPaths(b"x" * 32, COUNCILS).address("sdc", str(uuid.uuid4()))
    assert paths.verify(other) is None


@pytest.mark.parametrize(
    "address",
    [
        "bounces@bounces.stratford.gov.uk",
        "bounces+@bounces.stratford.gov.uk",
        "bounces+short@bounces.stratford.gov.uk",
        "bounces+" + "1" * 42 + "@bounces.stratford.gov.uk",  # not base32
        "someone@example.org",
        "",
        "@",
    ],
)
def test_malformed_addresses_are_refused(paths: ReturnPaths, address: str) -> None:
    """Anything that is not a well-formed signed token verifies to None, without raising."""
    assert paths.verify(address) is None


def test_short_key_and_long_local_part_fail_at_start_up() -> None:
    """A key under 32 bytes, or a bounce local part leaving no room for the token, is a
    configuration error naming its setting."""
    with pytest.raises(ConfigurationError, match="NOTIFIER_BOUNCE_KEY"):
        ReturnPaths(b"short", COUNCILS)
    long = {"sdc": dataclasses.replace(COUNCILS["sdc"], bounce_address="b" * 30 + "@x.gov.uk")}
    with pytest.raises(ConfigurationError, match="bounce_address"):
        ReturnPaths(KEY, long)


def test_council_without_bounce_address_signs_nothing() -> None:
    """A council with no bounce address gets no signed return path (the default applies)."""
    councils = {"sdc": dataclasses.replace(COUNCILS["sdc"], bounce_address="")}
    assert not ReturnPaths(KEY, councils).signs_for("sdc")
