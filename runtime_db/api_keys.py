"""API keys: shown once, stored as SHA-256, looked up by that digest."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from runtime_db.models import ApiKey

KEY_PREFIX = "tk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the name recorded as Dolt commit author, and what it may see."""

    name: str
    tenant_id: str | None
    is_admin: bool

    def can_access(self, tenant_id: str) -> bool:
        return self.is_admin or self.tenant_id == tenant_id


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session, *, tenant_id: str | None, is_admin: bool, principal: str | None = None
) -> tuple[str, ApiKey]:
    """A new random key; the plaintext is returned once and never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        key_hash=digest(key),
        prefix=key[:10],
        principal=principal or _default_principal(tenant_id, is_admin, key),
        tenant_id=tenant_id,
        is_admin=is_admin,
    )
    session.add(row)
    session.flush()
    return key, row


def ensure_key(
    session: Session, key: str, *, tenant_id: str | None, is_admin: bool, principal: str
) -> None:
    """Register a key chosen elsewhere (TIMEKEEPER_BOOTSTRAP_ADMIN_KEY); a no-op when present."""
    session.execute(
        insert(ApiKey)
        .values(
            key_hash=digest(key),
            prefix=key[:10],
            principal=principal,
            tenant_id=tenant_id,
            is_admin=is_admin,
        )
        .on_conflict_do_nothing(index_elements=["key_hash"])
    )


def authenticate(session: Session, key: str) -> Principal | None:
    return authenticate_digest(session, digest(key))


def authenticate_digest(session: Session, key_hash: str) -> Principal | None:
    """The principal of a live key known by its SHA-256 (a dashboard session holds only that)."""
    row = session.execute(
        select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        return None
    return Principal(name=row.principal, tenant_id=row.tenant_id, is_admin=row.is_admin)


def _default_principal(tenant_id: str | None, is_admin: bool, key: str) -> str:
    scope = "admin" if is_admin else f"tenant-{tenant_id}"
    return f"{scope}:{key[len(KEY_PREFIX) : len(KEY_PREFIX) + 6]}"
