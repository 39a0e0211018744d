"""Fixtures for the fault-injection suite, and its per-test report in the terminal summary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.harness import REPORTS, Sinks, World


@pytest.fixture
async def sinks() -> AsyncIterator[Sinks]:
    """The SMTP fake (behind a gate that can be closed) and the Twilio fake, in this loop."""
    async with Sinks() as running:
        yield running


@pytest.fixture
async def world(tmp_path: Path, amqp_url: str, sinks: Sinks) -> AsyncIterator[World]:
    """A vhost, a migrated PostgreSQL database of its own, the sinks, and service processes."""
    created = await World.create(tmp_path, amqp_url, sinks)
    try:
        yield created
    finally:
        await created.destroy()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTS:
        terminalreporter.section("fault injection: every event accounted for")
        for line in REPORTS:
            terminalreporter.write_line(line)
