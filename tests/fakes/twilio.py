"""A real HTTP fake of Twilio's Messages API on 127.0.0.1, for driving the SMS channel in tests.

It answers ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` the way Twilio does (basic auth,
form fields, 201 with a Message resource, error bodies quoting the number), records every request,
can be told to fail, hang or accept a message and lose the answer (the connection closed before
the 201), and can send signed status callbacks back to a webhook. ``GET`` on the same path lists
the Messages newest first with Twilio's filters (``To``, ``From``, ``DateSent``, ``DateSent<``,
``DateSent>``: a date ``YYYY-MM-DD`` or an ISO 8601 time) and paging (``PageSize``, ``Page``,
``PageToken``, ``next_page_uri``), as in Twilio's "Read multiple Message resources" reference.
A Message's ``date_sent`` stays null until a callback reports it sent, as Twilio's does while
the Message is queued.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email.utils
import uuid
from datetime import UTC, date, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.fakes.loopback import serve

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
    peer: Any = None  # the client's (address, port): which TCP connection it came on

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
        self._lose = 0
        self.resources: dict[str, dict[str, Any]] = {}  # sid -> the Message resource
        self.lists: list[dict[str, str]] = []  # the query of every list request
        self.list_failure: _Failure | None = None  # while set, every list request fails
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeTwilio:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages.json", self._list)
        self._runner, self.base_url = await serve(app)
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

    def set_status(self, message_sid: str, status: str) -> None:
        """Move a Message on at Twilio (what a status callback then reports); ``date_sent`` is
        set once it has left Twilio."""
        resource = self.resources[message_sid]
        resource["status"] = status
        if status in ("sent", "delivered", "undelivered") and resource["date_sent"] is None:
            resource["date_sent"] = format_datetime(datetime.now(UTC))

    def fail_lists(self, status: int | None, code: int | None = None) -> None:
        """Answer every list request with this error from now on (None: answer them again)."""
        self.list_failure = None if status is None else _Failure(status, code)

    def lose_answer_next(self, count: int = 1) -> None:
        """Accept the next ``count`` messages (they are sent) but close the connection instead
        of answering: the client cannot know that they went."""
        self._lose += count

    async def _list(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.lists.append(query)
        if _basic_auth(request.headers) != (self.account_sid, self.auth_token):
            return _error(_Failure(401, 20003), "Authenticate")
        if request.match_info["account"] != self.account_sid:
            return _error(_Failure(404, 20404), "The requested resource was not found")
        if self.list_failure is not None:
            return _error(self.list_failure, "Service unavailable")
        matching = [m for m in reversed(self.resources.values()) if _matches(m, query)]
        size = int(query.get("PageSize", "50"))
        page = int(query.get("Page", "0"))
        records = matching[page * size : (page + 1) * size]
        path = request.path
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")}

        def uri(number: int) -> str:
            paging = {"PageSize": str(size), "Page": str(number), "PageToken": f"PA{number}"}
            return f"{path}?{urlencode({**filters, **paging})}"

        more = (page + 1) * size < len(matching)
        return web.json_response(
            {
                "messages": records,
                "page": page,
                "page_size": size,
                "start": page * size,
                "end": page * size + max(0, len(records) - 1),
                "uri": uri(page),
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if more else None,
                "previous_page_uri": uri(page - 1) if page > 0 else None,
            }
        )

    async def _create(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        recorded = RecordedRequest(
            request.method,
            request.path,
            form,
            dict(request.headers),
            request.transport.get_extra_info("peername") if request.transport else None,
        )
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
        self.resources[sid] = self._resource(sid, form)
        if self._lose:
            self._lose -= 1
            assert request.transport is not None
            request.transport.close()  # accepted, and the answer never reaches the client
            return web.Response(status=201)
        return web.json_response(self.resources[sid], status=201)

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
            "date_sent": None,  # set when a callback reports it sent
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
        self.set_status(message_sid, status)
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        async with httpx.AsyncClient() as client:
            return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})


def _basic_auth(headers: Any) -> tuple[str, str] | None:
    return RecordedRequest("GET", "", {}, dict(headers)).basic_auth


def _moment(value: str) -> datetime | date:
    """A DateSent filter value: ``YYYY-MM-DD`` or an ISO 8601 time (the SDK sends ``...Z``)."""
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _matches(resource: dict[str, Any], query: dict[str, str]) -> bool:
    """Whether a Message passes the list filters (Twilio: To, From, DateSent and its bounds)."""
    if "To" in query and resource["to"] != query["To"]:
        return False
    if "From" in query and resource["from"] != query["From"]:
        return False
    bounds = {
        k: _moment(v) for k, v in query.items() if k in ("DateSent", "DateSent<", "DateSent>")
    }
    if not bounds:
        return True
    if resource["date_sent"] is None:
        return False
    sent = email.utils.parsedate_to_datetime(resource["date_sent"])
    for key, bound in bounds.items():
        here: datetime | date = sent if isinstance(bound, datetime) else sent.date()
        if key == "DateSent" and here != bound:
            return False
        if key == "DateSent<" and here > bound:
            return False
        if key == "DateSent>" and here < bound:
            return False
    return True


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
