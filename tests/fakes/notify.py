"""A real HTTP fake of GOV.UK Notify's REST API on 127.0.0.1, for driving the Notify channels.

It checks each request's JWT as Notify does (HS256 with the key's secret, ``iss`` = the service id,
``iat`` within 30 seconds; Notify's 403 ``AuthError`` body otherwise), answers
``POST /v2/notifications/email|sms|letter`` with 201 and ``GET /v2/notifications?reference=``,
records every request, can answer any error of the adapter's table on demand, and sends delivery
receipts and inbound texts to a callback URL with a bearer token, as Notify does.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
import jwt
from aiohttp import web

from tests.fakes.loopback import serve

SERVICE_ID = "4b2c5f1e-7d1a-4c3b-9a7e-2f6d8e0c1a55"
SECRET = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
API_KEY = f"notifier_test-{SERVICE_ID}-{SECRET}"
EMAIL_TEMPLATE = "11111111-2222-4333-8444-555555555555"
SMS_TEMPLATE = "66666666-7777-4888-8999-aaaaaaaaaaaa"
CALLBACK_TOKEN = "notify-callback-token-0123456789"

# The error bodies Notify answers with (its API docs, "Error codes"); each a row of the table.
ERRORS: dict[str, tuple[int, str, str]] = {
    "400-recipient": (400, "ValidationError", "phone_number Not a UK mobile number"),
    "400-email": (400, "ValidationError", "email_address Not a valid email address"),
    "400": (400, "BadRequestError", "Template not found"),
    "403": (403, "AuthError", "Invalid token: API key not found"),
    "429-RateLimitError": (
        429,
        "RateLimitError",
        "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds",
    ),
    "429-TooManyRequestsError": (
        429,
        "TooManyRequestsError",
        "Exceeded send limits (sms: 250000) for today",
    ),
    "500": (500, "Exception", "Internal server error"),
}


@dataclasses.dataclass(frozen=True)
class Sent:
    """One notification the fake accepted."""

    id: str
    kind: str
    payload: dict[str, Any]
    status: str = "created"

    @property
    def reference(self) -> str:
        return str(self.payload.get("reference", ""))


class FakeNotify:
    """Notify's API on a free loopback port; use as ``async with FakeNotify() as fake``."""

    def __init__(self, service_id: str = SERVICE_ID, secret: str = SECRET) -> None:
        self.service_id = service_id
        self.secret = secret
        self.requests: list[dict[str, Any]] = []
        self.sent: dict[str, Sent] = {}
        self.refused_tokens = 0
        self._failures: list[str] = []
        self._always: str | None = None
        self.refused: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeNotify:
        app = web.Application()
        for kind in ("email", "sms", "letter"):
            app.router.add_post(f"/v2/notifications/{kind}", self._create)
        app.router.add_get("/v2/notifications", self._list)
        self._runner, self.base_url = await serve(app)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, row: str, count: int = 1) -> None:
        """Answer the next ``count`` sends with the error ``row`` of ERRORS."""
        self._failures.extend([row] * count)

    def refuse(self, recipient: str) -> None:
        """Answer every send to ``recipient`` with Notify's 400 for a bad address or number."""
        self.refused.add(recipient)

    def fail_always(self, row: str | None) -> None:
        """Answer every send with the error ``row`` (None: stop failing)."""
        self._always = row

    def set_status(self, notification_id: str, status: str) -> None:
        """What ``GET /v2/notifications`` reports for a notification from now on."""
        self.sent[notification_id] = dataclasses.replace(self.sent[notification_id], status=status)

    def by_reference(self, reference: str) -> Sent:
        return next(s for s in self.sent.values() if s.reference == reference)

    def _refuse(self, request: web.Request) -> web.Response | None:
        """Notify's 403 for a missing or bad token, else None."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        reason = self._token_problem(token) if scheme == "Bearer" else "Unauthorized: no token"
        if reason is None:
            return None
        self.refused_tokens += 1
        return _error(403, "AuthError", reason)

    def _token_problem(self, token: str) -> str | None:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                options={"verify_iat": False, "require": ["iss", "iat"]},
            )
        except jwt.InvalidTokenError:
            return "Invalid token: signature, api token not found"
        if claims["iss"] != self.service_id:
            return "Invalid token: service not found"
        if abs(time.time() - int(claims["iat"])) > 30:
            return "Error: Your system clock must be accurate to within 30 seconds"
        return None

    async def _create(self, request: web.Request) -> web.Response:
        payload = await request.json()
        kind = request.path.rsplit("/", 1)[1]
        self.requests.append({"kind": kind, "payload": payload})
        refused = self._refuse(request)
        if refused is not None:
            return refused
        row = self._failures.pop(0) if self._failures else self._always
        if {payload.get("email_address"), payload.get("phone_number")} & self.refused:
            row = "400-email" if kind == "email" else "400-recipient"
        if row is not None:
            return _error(*ERRORS[row])
        if kind == "letter" and not payload.get("reference"):
            return _error(400, "ValidationError", "reference is a required property")
        sent = Sent(str(uuid.uuid4()), kind, payload)
        self.sent[sent.id] = sent
        body: dict[str, Any] = {"id": sent.id, "reference": payload.get("reference")}
        if kind == "letter":
            body["postage"] = payload.get("postage", "second")
        else:
            body["template"] = {"id": payload.get("template_id"), "version": 1}
            body["content"] = {"body": payload.get("personalisation", {}).get("body", "")}
        return web.json_response(body, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        reference = request.query.get("reference")
        found = [
            {"id": s.id, "reference": s.reference, "status": s.status, "type": s.kind}
            for s in self.sent.values()
            if reference is None or s.reference == reference
        ]
        return web.json_response({"notifications": found, "links": {}})

    async def send_receipt(
        self, url: str, notification_id: str, status: str, *, token: str = CALLBACK_TOKEN
    ) -> httpx.Response:
        """POST a delivery receipt for a notification this fake accepted, as Notify does."""
        sent = self.sent[notification_id]
        now = datetime.now(UTC).isoformat()
        to = sent.payload.get("email_address") or sent.payload.get("phone_number")
        body = {
            "id": sent.id,
            "reference": sent.reference,
            "to": to,
            "status": status,
            "created_at": now,
            "completed_at": now,
            "sent_at": now,
            "notification_type": sent.kind,
            "template_id": sent.payload.get("template_id"),
            "template_version": 1,
        }
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient() as client:
            return await client.post(url, json=body, headers=headers, timeout=5)

    async def send_inbound(
        self, url: str, source_number: str, message: str, *, token: str = CALLBACK_TOKEN
    ) -> httpx.Response:
        """POST a received text message, as Notify's inbound callback does."""
        body = {
            "id": str(uuid.uuid4()),
            "source_number": source_number,
            "destination_number": "07700900000",
            "message": message,
            "date_received": datetime.now(UTC).isoformat(),
        }
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient() as client:
            return await client.post(url, json=body, headers=headers, timeout=5)


def _error(status: int, error: str, message: str) -> web.Response:
    body = {"status_code": status, "errors": [{"error": error, "message": message}]}
    return web.json_response(body, status=status)
