"""The residents' pages: their contact choices behind a personal link, and one-click unsubscribe.

Server-rendered HTML (Jinja, autoescaped) after the GOV.UK Design System patterns, with no
JavaScript and no cookies. The link in the address is the credential; a signed form token ties
each submission to the page that showed it. Changes are audited as made by the resident.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from notifier.model import Council
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.web import choices
from notifier.web.choices import FormError, Submitted, Topic
from notifier.web.tokens import LinkExpired, LinkInvalid, Links, Person

RESIDENT = "resident"
UNSUBSCRIBE_ACTOR = "resident-unsubscribe"
ASSETS = "../assets"  # relative, so the pages work under any path prefix a proxy adds
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # the address holds the resident's link
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}
_COLOUR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")

_env = Environment(
    loader=PackageLoader("notifier.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(channel_names=choices.CHANNEL_NAMES, assets=ASSETS)
_env.filters.update(masked_email=choices.masked_email, masked_mobile=choices.masked_mobile)


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("errors", [])
    context.setdefault("council", None)
    return HTMLResponse(_env.get_template(name).render(**context), status, headers=HEADERS)


def _problem(status: int, council: Council | None = None, *, expired: bool = False) -> HTMLResponse:
    return render(
        "problem.html", status, title="This link does not work", council=council, expired=expired
    )


@cache
def _stylesheet() -> str:
    return resources.files("notifier.web").joinpath("static/notifier.css").read_text("utf-8")


# A route factory: C901 counts its short nested handlers into it.
def router(  # noqa: C901
    *,
    preferences: PreferenceStore,
    links: Links,
    councils: Mapping[str, Council],
    topics: Mapping[str, Topic],
) -> APIRouter:
    """The pages, bound to the store, the link signer, the councils and the catalogue's topics."""
    pages = APIRouter(include_in_schema=False)

    async def resident(person: Person) -> tuple[Council, Preferences] | HTMLResponse:
        council = councils.get(person.council)
        found = await preferences.get(person.council, person.customer_id)
        if council is None or found is None or found.deceased:
            return _problem(404, council)
        return council, found

    def page(
        token: str,
        council: Council,
        prefs: Preferences,
        *,
        status: int = 200,
        draft: Submitted | None = None,
        errors: list[FormError] | None = None,
        changed: list[str] | None = None,
    ) -> HTMLResponse:
        draft = draft or Submitted(
            first=str(prefs.channel_order[0]) if prefs.channel_order else None,
            stop=tuple(sorted(prefs.topic_opt_outs)),
            large_print=prefs.large_print,
        )
        saved = changed is not None
        return render(
            "preferences.html",
            status,
            title="Your changes are saved" if saved else "How we contact you",
            council=council,
            prefs=prefs,
            draft=draft,
            errors=errors or [],
            error_for={e.field: e.message for e in errors or []},
            saved=saved,
            changes=changed or [],
            topics=topics,
            options=choices.usable_channels(prefs),
            order=choices.order_in_words(prefs),
            stopped=choices.stopped(prefs, topics),
            statutory=[t for t in topics.values() if t.statutory],
            form_token=links.form_token(token),
        )

    @pages.get("/preferences/{token}")
    async def show(token: str) -> HTMLResponse:
        try:
            person = links.read_preferences(token)
        except LinkInvalid as exc:
            return _problem(410 if isinstance(exc, LinkExpired) else 404, expired=True)
        found = await resident(person)
        if isinstance(found, HTMLResponse):
            return found
        return page(token, *found)

    @pages.post("/preferences/{token}")
    async def save(token: str, request: Request) -> HTMLResponse:
        try:
            person = links.read_preferences(token)
        except LinkInvalid as exc:
            return _problem(410 if isinstance(exc, LinkExpired) else 404, expired=True)
        found = await resident(person)
        if isinstance(found, HTMLResponse):
            return found
        council, prefs = found
        form = await request.form()
        submitted = Submitted(
            first=str(form.get("first-channel") or "") or None,
            stop=tuple(str(v) for v in form.getlist("stop")),
            large_print=form.get("large-print") == "yes",
        )
        try:
            links.check_form(token, str(form.get("form-token") or ""))
        except LinkInvalid:
            timed_out = FormError(
                "choices",
                "This page timed out before you saved it. Check your choices and save them again",
            )
            return page(token, council, prefs, status=400, draft=submitted, errors=[timed_out])
        outcome = choices.apply_form(prefs, submitted, topics)
        if isinstance(outcome, list):
            return page(token, council, prefs, status=400, draft=submitted, errors=outcome)

        def change(current: Preferences) -> Preferences:
            again = choices.apply_form(current, submitted, topics)
            return again if isinstance(again, Preferences) else current

        result = await preferences.update(
            person.council, person.customer_id, change, actor=RESIDENT
        )
        if result is None:
            return _problem(404, council)
        before, after = result
        return page(token, council, after, changed=choices.changes(before, after, topics))

    async def unsubscribing(
        token: str,
    ) -> tuple[Person, Council, Preferences, Topic] | HTMLResponse:
        try:
            person, code = links.read_unsubscribe(token)
        except LinkInvalid:
            return _problem(404, expired=True)
        found = await resident(person)
        if isinstance(found, HTMLResponse):
            return found
        topic = topics.get(code)
        if topic is None:
            return _problem(404, found[0])
        return person, *found, topic

    @pages.get("/unsubscribe/{token}")
    async def confirm_unsubscribe(token: str) -> HTMLResponse:
        found = await unsubscribing(token)
        if isinstance(found, HTMLResponse):
            return found
        _person, council, prefs, topic = found
        return render(
            "unsubscribe.html",
            title=f"Stop messages about {topic.name}",
            council=council,
            topic=topic,
            done=False,
            already=prefs.opted_out_of(topic.code),
            preferences_token=links.preferences_token(prefs),
        )

    @pages.post("/unsubscribe/{token}")
    async def unsubscribe(token: str) -> HTMLResponse:
        """RFC 8058 one-click: any POST (empty, or ``List-Unsubscribe=One-Click``) stops the
        topic; doing it again changes nothing."""
        found = await unsubscribing(token)
        if isinstance(found, HTMLResponse):
            return found
        person, council, prefs, topic = found

        def stop(current: Preferences) -> Preferences:
            return _with_opt_out(current, topic.code)

        await preferences.update(person.council, person.customer_id, stop, actor=UNSUBSCRIBE_ACTOR)
        return render(
            "unsubscribe.html",
            title=f"You have stopped messages about {topic.name}",
            council=council,
            topic=topic,
            done=True,
            already=False,
            preferences_token=links.preferences_token(prefs),
        )

    @pages.get("/assets/notifier.css")
    async def stylesheet() -> Response:
        return Response(
            _stylesheet(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    @pages.get("/assets/councils/{code}.css")
    async def council_stylesheet(code: str) -> Response:
        council = councils.get(code)
        if council is None or not _COLOUR.fullmatch(council.brand_colour):
            return Response(status_code=404)
        return Response(
            f".header{{border-bottom-color:{council.brand_colour}}}\n",
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return pages


def _with_opt_out(preferences: Preferences, topic: str) -> Preferences:
    return dataclasses.replace(preferences, topic_opt_outs=preferences.topic_opt_outs | {topic})
