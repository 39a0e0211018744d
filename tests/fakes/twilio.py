"""A real HTTP fake of Twilio's Messages API on 127.0.0.1, for driving the SMS channel in tests.

It answers ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` the way Twilio does (basic auth,
form fields, 201 with a Message resource, error bodies quoting the number), records every request,
can be told to fail or hang, and can send signed status callbacks back to a webhook.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType

import httpx
from aiohttp import web
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
API_VERSION = "2010-04-01"


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """The (username, password) of a Basic Authorization header, if there was one."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(token).decode().partition(":")
        return user, password


@dataclasses.dataclass
class _Failure:
    status: int
    code: int | None


class FakeTwilio:
    """Twilio's Messages API on a free loopback port; use as ``async with FakeTwilio() as fake``."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, RecordedRequest] = {}
        self._failures: list[_Failure] = []
        self._failures_for: dict[str, _Failure] = {}
        self._hang = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeTwilio:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, count: int = 1, *, status: int, code: int | None = None) -> None:
        """Answer the next ``count`` requests with HTTP ``status`` and Twilio error ``code``
        (``code=None`` answers a bare, non-JSON error page, as a proxy or load balancer would)."""
        self._failures.extend(_Failure(status, code) for _ in range(count))

    def recover(self) -> None:
        """Stop failing: forget every failure still queued by ``fail_next``."""
        self._failures.clear()

    def fail_for(self, number: str, *, status: int, code: int | None = None) -> None:
        """Answer every request to ``number`` (E.164) with this error."""
        self._failures_for[number] = _Failure(status, code)

    def hang_next(self, count: int = 1) -> None:
        """Accept the next ``count`` requests but answer none of them until the fake stops."""
        self._hang += count

    async def _create(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        recorded = RecordedRequest(request.method, request.path, form, dict(request.headers))
        self.requests.append(recorded)
        if self._hang:
            self._hang -= 1
            await self._release.wait()
        if recorded.basic_auth != (self.account_sid, self.auth_token):
            return _error(_Failure(401, 20003), "Authenticate")
        if request.match_info["account"] != self.account_sid:
            return _error(_Failure(404, 20404), "The requested resource was not found")
        to = form.get("To", "")
        if to in self._failures_for:
            return _error(self._failures_for[to], f"The 'To' number {to} cannot be reached.")
        if self._failures:
            return _error(self._failures.pop(0), f"Message to {to} failed.")
        if "From" not in form and "MessagingServiceSid" not in form:
            return _error(_Failure(400, 21603), "A 'From' or 'MessagingServiceSid' is required.")
        if not form.get("Body"):
            return _error(_Failure(400, 21602), "Message body is required.")
        sid = "SM" + uuid.uuid4().hex
        self.messages[sid] = recorded
        return web.json_response(self._resource(sid, form), status=201)

    def _resource(self, sid: str, form: dict[str, str]) -> dict[str, object]:
        now = format_datetime(datetime.now(UTC))
        service = form.get("MessagingServiceSid")
        body = form["Body"]
        segments = 1 if len(body) <= 160 else -(-len(body) // 153)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            # With a Messaging Service the sender, and so the segment count, is not known yet.
            "num_segments": "0" if service else str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    async def send_status_callback(
        self,
        url: str,
        message_sid: str,
        status: str,
        *,
        error_code: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a status callback for a Message this fake created, signed with X-Twilio-Signature
        over ``url`` and every posted parameter, as Twilio does."""
        sent = self.messages[message_sid].form
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": sent.get("From", "CouncilSMS"),
            "MessageSid": message_sid,
            "MessageStatus": status,
            "SmsSid": message_sid,
            "SmsStatus": status,
            "To": sent["To"],
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        params.update(extra or {})
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        async with httpx.AsyncClient() as client:
            return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})


def _error(failure: _Failure, message: str) -> web.Response:
    if failure.code is None:
        return web.Response(status=failure.status, text="Service Unavailable")
    body = {
        "code": failure.code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
        "status": failure.status,
    }
    return web.json_response(body, status=failure.status)
