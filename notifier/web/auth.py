"""API keys for council systems: made once, stored only as SHA-256 hashes, checked per request.

A key is 32 random bytes (``ntf_`` and 43 URL-safe characters), so a plain SHA-256 is enough to
store it: nobody can guess their way back from the hash, and no slow password hash is needed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store.notifications import aware, utcnow
from notifier.store.tables import api_keys

PREFIX = "ntf_"


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKey:
    """A council system's key, as stored (never the key itself)."""

    id: str
    council: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names changes made with this key."""
        return f"api-key:{self.id}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Creates, finds and revokes API keys."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, council: str, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key for ``council``: its record, and the key itself (shown once, never kept)."""
        key = PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(str(uuid.uuid4()), council, name, utcnow())
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(api_keys).values(
                    id=record.id,
                    council=council,
                    name=name,
                    key_hash=hash_key(key),
                    created_at=record.created_at,
                )
            )
        return record, key

    async def find(self, key: str) -> ApiKey | None:
        """The live key matching ``key``, or None."""
        digest = hash_key(key)
        query = select(api_keys).where(api_keys.c.key_hash == digest)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, digest):
            return None
        return ApiKey(row.id, row.council, row.name, aware(row.created_at))

    async def list(self, council: str | None = None) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at)
        if council is not None:
            query = query.where(api_keys.c.council == council)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ApiKey(
                r.id,
                r.council,
                r.name,
                aware(r.created_at),
                aware(r.revoked_at) if r.revoked_at else None,
            )
            for r in rows
        ]

    async def revoke(self, key_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id)
                .where(api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return bool(result.rowcount)


_bearer = HTTPBearer(auto_error=False, description="A council's API key: `notifier keys create`")


def council_key(keys: KeyStore) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency for routes with a ``{council}`` in the path: the caller's key, 401 without a
    live one, and 404 when it belongs to another council (as if the customer did not exist)."""

    async def dependency(
        council: str,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        key = await keys.find(credentials.credentials) if credentials else None
        if key is None:
            raise HTTPException(
                401,
                "A valid API key is needed: Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if key.council != council:
            raise HTTPException(404, "Not Found")
        return key

    return dependency
