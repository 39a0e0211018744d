"""The API for council systems: customers, their preferences and their notifications.

Under ``/api/v1/councils/{council}/customers/{customer_id}``, with a council's API key as
``Authorization: Bearer <key>``. Validation failures are 422 with one entry per field, naming
the field and the rule and never echoing the value (it is personal data): a body that is not
JSON in UTF-8 (RFC 8259 §8.1) is ``json_invalid``, and otherwise every broken field is listed
at once, unknown ones with the rest (docs/preferences.md).
"""

# No ``from __future__ import annotations``: FastAPI must see the route functions' annotations,
# which name a dependency local to ``router()``.
from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from notifier.evidence import EvidenceStore, EvidenceUnavailable
from notifier.lifecycle import Lifecycle
from notifier.model import DEFAULT_CHANNEL_ORDER, Status
from notifier.preferences.model import ACCESSIBLE_FORMATS, Preferences, replaced
from notifier.preferences.store import PreferenceStore
from notifier.preferences.validation import LANGUAGES, FieldError, check_customer
from notifier.preferences.validation import customer_id as check_id
from notifier.store.notifications import Notification, NotificationStore
from notifier.web.auth import ApiKey, KeyStore, council_key
from notifier.web.problems import (
    Detail,
    ProblemRoute,
    Unprocessable,
    fields_of,
    problem,
    read_json,
    request_body,
    unprocessable,
)

PATH = "/api/v1/councils/{council}/customers/{customer_id}"
CASE_PATH = "/api/v1/councils/{council}/cases/{reference}/notifications"
EVIDENCE_PATH = "/api/v1/councils/{council}/notifications/{notification_id}/evidence"
_DEFAULT_ORDER = [str(c) for c in DEFAULT_CHANNEL_ORDER]
ERASED = "customer-erased"  # the reason on notifications an erasure cancelled


class QuietHours(BaseModel):
    """A daily window (Europe/London wall-clock time) in which text messages wait."""

    model_config = ConfigDict(extra="forbid")
    start: str = Field(examples=["21:00"], description="HH:MM")
    end: str = Field(examples=["08:00"], description="HH:MM; before start means overnight")


class CustomerIn(BaseModel):
    """A customer as a council system sends it. Preference fields left out of a PUT keep their
    stored values (the resident may have changed them); everything else is replaced."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, json_schema_extra={"format": "email"})
    email_verified: bool = False
    mobile: str | None = Field(None, description="A UK mobile number; stored as E.164")
    mobile_verified: bool = False
    address: list[str] | None = Field(
        None, description="3 to 7 lines, the last a UK postcode, a country or BFPO number"
    )
    address_verified: bool = False
    # Plain strings here, with their enums only in the schema, so that every broken rule is
    # checked in one place (``check_customer``) and reported together.
    channel_order: list[str] = Field(
        default_factory=lambda: list(_DEFAULT_ORDER),
        json_schema_extra={"items": {"enum": list(_DEFAULT_ORDER)}},
        description="Channels to try, first choice first; channels left out are not used",
    )
    topic_opt_outs: list[str] = Field(
        default_factory=list,
        description="Topics (`waste`), or a topic on one channel (`waste:sms`), not wanted; "
        "statutory notices are sent regardless",
    )
    sms_opted_out: bool = Field(False, description="The resident replied STOP")
    quiet_hours: QuietHours | None = Field(
        default_factory=lambda: QuietHours(start="21:00", end="08:00"),
        description="null for none",
    )
    language: str = Field("en", json_schema_extra={"enum": list(LANGUAGES)})
    accessible_format: str = Field("standard", json_schema_extra={"enum": list(ACCESSIBLE_FORMATS)})
    do_not_contact: bool = False
    deceased: bool = False


class CustomerOut(BaseModel):
    council: str
    customer_id: str
    name: str | None
    email: str | None
    email_verified: bool
    mobile: str | None
    mobile_verified: bool
    address: list[str] | None
    address_verified: bool
    channel_order: list[str]
    topic_opt_outs: list[str]
    sms_opted_out: bool
    quiet_hours: QuietHours | None
    language: str
    accessible_format: str
    do_not_contact: bool
    deceased: bool

    @classmethod
    def of(cls, p: Preferences) -> "CustomerOut":
        return cls(
            council=p.council,
            customer_id=p.customer_id or "",
            name=p.name,
            email=p.email,
            email_verified=p.email_verified,
            mobile=p.mobile,
            mobile_verified=p.mobile_verified,
            address=list(p.address) if p.address else None,
            address_verified=p.address_verified,
            channel_order=[str(c) for c in p.channel_order],
            topic_opt_outs=sorted(p.topic_opt_outs),
            sms_opted_out=p.sms_opted_out,
            quiet_hours=QuietHours(
                start=p.quiet_hours[0].strftime("%H:%M"), end=p.quiet_hours[1].strftime("%H:%M")
            )
            if p.quiet_hours
            else None,
            language=p.language,
            accessible_format=p.accessible_format,
            do_not_contact=p.do_not_contact,
            deceased=p.deceased,
        )


class StatusChange(BaseModel):
    status: str
    at: datetime
    source: str
    reason: str | None
    applied: bool = Field(description="false: a late or out-of-order report, recorded only")


class NotificationOut(BaseModel):
    """One notification (one channel tried for one event): no contact details, no content."""

    id: str
    event_source: str
    event_id: str
    event_type: str
    case_reference: str | None
    channel: str
    template: str | None
    template_version: str | None
    status: str
    reason: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    history: list[StatusChange]


class NotificationList(BaseModel):
    council: str
    customer_id: str
    notifications: list[NotificationOut]


class CaseNotificationList(BaseModel):
    council: str
    case_reference: str
    offset: int = Field(description="How many newer notifications were skipped")
    next_offset: int | None = Field(description="The offset of the next page; null on the last")
    notifications: list[NotificationOut]


# The PUT reads its own body (to report every broken field at once), so FastAPI cannot see its
# model: the request body is described here instead.
_CUSTOMER_BODY = request_body(CustomerIn)


# A route factory: C901 counts its short nested handlers into it.
def router(  # noqa: C901
    *,
    preferences: PreferenceStore,
    notifications: NotificationStore,
    lifecycle: Lifecycle,
    keys: KeyStore,
    topics: Collection[str],
    allow_fiction_range: bool = False,
    evidence: EvidenceStore | None = None,
) -> APIRouter:
    """The customers API, bound to its stores and the catalogue's topics."""
    api = APIRouter(route_class=ProblemRoute, tags=["customers"])
    Authorised = Annotated[ApiKey, Depends(council_key(keys))]
    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": Detail, "description": "No valid API key"},
        404: {
            "model": Detail,
            "description": "No such customer for this council (or another council's key)",
        },
        422: {
            "model": Unprocessable,
            "description": "The body is not JSON in UTF-8 (json_invalid), or fields break rules: "
            "each is named, unknown ones too",
        },
    }

    @api.put(
        PATH,
        response_model=CustomerOut,
        status_code=200,
        responses={**errors, 201: {"model": CustomerOut, "description": "Created"}},
        openapi_extra=_CUSTOMER_BODY,
    )
    async def put_customer(
        council: str,
        customer_id: str,
        request: Request,
        response: Response,
        key: Authorised,
    ) -> CustomerOut | JSONResponse:
        """Create or replace a customer and their preferences (201 created, 200 replaced)."""
        data, problems = await read_json(request)
        raw: dict[str, Any] = {}
        if not problems:
            raw, problems = fields_of(CustomerIn, data)
        if "quiet_hours" in raw:
            hours = raw["quiet_hours"]
            raw["quiet_hours"] = (hours["start"], hours["end"]) if hours else None
        values, broken = check_customer(raw, topics=topics, allow_fiction_range=allow_fiction_range)
        try:
            check_id(customer_id)
        except FieldError as exc:
            problems.insert(0, problem(exc, "path"))
        problems += [problem(p) for p in broken]
        if problems:
            return unprocessable(problems)
        existing = await preferences.get(council, customer_id)
        record = replaced(council, customer_id, values, existing)
        if await preferences.put(record, actor=key.actor):
            response.status_code = 201
            response.headers["Location"] = PATH.format(council=council, customer_id=customer_id)
        return CustomerOut.of(record)

    @api.get(PATH, response_model=CustomerOut, responses=errors)
    async def get_customer(council: str, customer_id: str, key: Authorised) -> CustomerOut:
        """A customer's contact details and preferences."""
        found = await preferences.get(council, customer_id)
        if found is None:
            raise HTTPException(404, "Not Found")
        return CustomerOut.of(found)

    @api.delete(PATH, status_code=204, responses=errors)
    async def erase_customer(council: str, customer_id: str, key: Authorised) -> Response:
        """Erase a customer (UK GDPR): their contact details and preferences go, and so do the
        contact details kept with their notifications; the notifications' history stays.
        Notifications still waiting to be sent (a later send time, quiet hours, a retry) are
        cancelled first (reason ``customer-erased``), and the events kept for them go.
        Statutory evidence of service already kept stays (docs/operations.md)."""
        for row in await notifications.waiting_for_customer(council, customer_id):
            await lifecycle.move(row, Status.CANCELLED, source="erasure", reason=ERASED)
        if not await preferences.erase(council, customer_id, actor=key.actor):
            raise HTTPException(404, "Not Found")
        return Response(status_code=204)

    async def described(row: Notification) -> NotificationOut:
        """One notification with its status history, without contact details."""
        history = await notifications.history(row.id)
        return NotificationOut(
            id=row.id,
            event_source=row.event_source,
            event_id=row.event_id,
            event_type=row.event_type,
            case_reference=row.case_reference,
            channel=row.channel,
            template=row.template,
            template_version=row.template_version,
            status=str(row.status),
            reason=row.reason,
            attempts=row.attempts,
            created_at=row.created_at,
            updated_at=row.updated_at,
            history=[
                StatusChange(
                    status=str(h.status),
                    at=h.at,
                    source=h.source,
                    reason=h.reason,
                    applied=h.applied,
                )
                for h in history
            ],
        )

    @api.get(f"{PATH}/notifications", response_model=NotificationList, responses=errors)
    async def list_notifications(
        council: str,
        customer_id: str,
        key: Authorised,
        limit: int = Query(50, ge=1, le=200, description="The most recent this many"),
    ) -> NotificationList:
        """A customer's notifications, newest first, each with its status history."""
        rows = await notifications.for_customer(council, customer_id, limit=limit)
        if not rows and await preferences.get(council, customer_id) is None:
            raise HTTPException(404, "Not Found")
        listed = [await described(row) for row in rows]
        return NotificationList(council=council, customer_id=customer_id, notifications=listed)

    @api.get(
        EVIDENCE_PATH,
        response_class=Response,
        responses={
            **errors,
            200: {"content": {"application/zip": {}}, "description": "The evidence bundle"},
            503: {"model": Detail, "description": "The evidence store cannot be read just now"},
        },
    )
    async def notification_evidence(
        council: str, notification_id: str, key: Authorised
    ) -> Response:
        """Evidence of service of one statutory notice: a zip of the exact bytes sent, its
        manifest (hash, template version, channel, provider reference, status at sending) and
        its status now. 404 when the notification is not this council's or left no evidence;
        503 when the evidence store cannot be read just now."""
        row = await notifications.get(notification_id)
        if row is None or row.council != council or evidence is None:
            raise HTTPException(404, "Not Found")
        try:
            bundle = await evidence.bundle(council, {row.id: str(row.status)})
        except EvidenceUnavailable:
            raise HTTPException(503, "Evidence store unavailable") from None
        if bundle is None:
            raise HTTPException(404, "Not Found")
        return Response(
            bundle,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="evidence-{row.id}.zip"'},
        )

    @api.get(CASE_PATH, response_model=CaseNotificationList, responses=errors)
    async def case_notifications(
        council: str,
        reference: str,
        key: Authorised,
        limit: int = Query(50, ge=1, le=200, description="At most this many, newest first"),
        offset: int = Query(0, ge=0, description="Skip this many newer ones (the next page)"),
    ) -> CaseNotificationList:
        """What was sent about one case, newest first: every notification of the case (each
        event and each channel tried), with its template, version and status history."""
        rows = await notifications.for_case(council, reference, limit=limit + 1, offset=offset)
        page = [await described(row) for row in rows[:limit]]
        return CaseNotificationList(
            council=council,
            case_reference=reference,
            offset=offset,
            next_offset=offset + limit if len(rows) > limit else None,
            notifications=page,
        )

    return api
