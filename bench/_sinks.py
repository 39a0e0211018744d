"""The providers' side of the benchmark, in a process of its own: the aiosmtpd SMTP fake and the
Twilio HTTP fake from ``tests/fakes``, each acceptance timestamped by the case reference it carries.

    python bench/_sinks.py

Prints one JSON line with the SMTP port and the Twilio base URL, then answers commands on
standard input, one JSON line each:

    count          {"email": n, "sms": n}
    dump PATH      writes {"email": {ref: [t, ...]}, "sms": {...}} to PATH; answers {"ok": true}
    quit           exits

Times are ``time.time()`` (the bench compares them with its own publish times on the same host).
Message bodies are not kept, so a long run stays small.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.smtp import FakeSmtpServer, Received
from tests.fakes.twilio import FakeTwilio, RecordedRequest

REFERENCE = re.compile(r"BENCH(\d{8})")


class _Acceptances(list[Any]):
    """Stands in for a fake's record list: notes when each message arrived, keeps nothing else."""

    def __init__(self, text_of: Any) -> None:
        super().__init__()
        self.text_of = text_of
        self.times: dict[str, list[float]] = defaultdict(list)
        self.total = 0

    def append(self, item: Any) -> None:
        now = time.time()
        self.total += 1
        match = REFERENCE.search(self.text_of(item))
        self.times[match.group(1) if match else "?"].append(now)


def _email_text(item: Received) -> str:
    head = item.data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return head.decode("ascii", "replace")


def _sms_text(item: RecordedRequest) -> str:
    return item.form.get("Body", "")


async def main() -> None:
    smtp = await FakeSmtpServer().start()
    emails = _Acceptances(_email_text)
    smtp.messages = emails
    twilio = FakeTwilio()
    await twilio.__aenter__()
    texts = _Acceptances(_sms_text)
    twilio.requests = texts
    twilio.messages = _Forgetful()
    print(json.dumps({"smtp_port": smtp.port, "twilio_url": twilio.base_url}), flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        command, _, arg = line.partition(" ")
        if command == "count":
            answer: dict[str, Any] = {"email": emails.total, "sms": texts.total}
        elif command == "dump":
            dumped = json.dumps({"email": emails.times, "sms": texts.times})
            await asyncio.to_thread(Path(arg).write_text, dumped)
            answer = {"ok": True}
        elif command == "quit":
            break
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)
    await twilio.__aexit__(None, None, None)
    await smtp.stop()


class _Forgetful(dict[str, Any]):
    """The Twilio fake keeps every Message for status callbacks; the bench sends none."""

    def __setitem__(self, key: str, value: Any) -> None:
        pass


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
