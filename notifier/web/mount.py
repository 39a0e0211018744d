"""The preference routers as the service mounts them: the customers API and the residents'
pages, bound to the stores, the councils and the catalogue's topics."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.evidence import EvidenceStore
from notifier.lifecycle import Lifecycle
from notifier.model import Council
from notifier.outcomes import OutcomeSink
from notifier.preferences.store import PreferenceStore
from notifier.store.notifications import NotificationStore
from notifier.templates.source import Catalogue
from notifier.web import api, pages
from notifier.web.auth import KeyStore
from notifier.web.choices import topics_of
from notifier.web.tokens import Links


def preference_routers(
    *,
    engine: AsyncEngine,
    catalogue: Catalogue,
    councils: Mapping[str, Council],
    links: Links,
    allow_fiction_range: bool,
    outcomes: OutcomeSink,
    evidence: EvidenceStore | None = None,
) -> list[APIRouter]:
    """``allow_fiction_range``: the SMS part's resolved rule for Ofcom's drama numbers;
    ``outcomes``: where the cancellations of an erasure are announced."""
    preferences = PreferenceStore(engine)
    notifications = NotificationStore(engine)
    topics = topics_of(catalogue)
    return [
        api.router(
            preferences=preferences,
            notifications=notifications,
            lifecycle=Lifecycle(notifications, outcomes),
            keys=KeyStore(engine),
            topics=frozenset(topics),
            allow_fiction_range=allow_fiction_range,
            evidence=evidence,
        ),
        pages.router(preferences=preferences, links=links, councils=councils, topics=topics),
    ]
