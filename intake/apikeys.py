"""Open311 API keys: made and revoked from the command line, stored as hashes only.

A key is 32 random bytes, so a plain SHA-256 is enough to store it: there is nothing to guess
that a slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, col, select

from urbangrid.core.columns import utcnow
from urbangrid.core.tables import ApiKey


def key_hash(key: str) -> str:
    """The stored form of a key.

    >>> key_hash("abc") == hashlib.sha256(b"abc").hexdigest()
    True
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, name: str) -> str:
    """A new key for client ``name``; the only time the key itself exists is in this answer."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a key's name is 1 to 100 characters")
    if session.exec(select(ApiKey).where(col(ApiKey.name) == name)).first() is not None:
        raise ValueError(f"a key named {name!r} exists; revoke it or choose another name")
    key = "ug_" + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, key_hash=key_hash(key), prefix=key[:10]))
    session.commit()
    return key


def client_for(session: Session, key: str) -> str | None:
    """The name of the client holding ``key``, or None for an unknown or revoked key."""
    if not key or len(key) > 200:
        return None
    row = session.exec(
        select(ApiKey.name)
        .where(col(ApiKey.key_hash) == key_hash(key))
        .where(col(ApiKey.revoked_at).is_(None))
    ).first()
    return None if row is None else str(row)


def revoke_key(session: Session, name: str) -> bool:
    row = session.exec(
        select(ApiKey).where(col(ApiKey.name) == name).where(col(ApiKey.revoked_at).is_(None))
    ).first()
    if row is None:
        return False
    row.revoked_at = utcnow()
    # Free the name for a replacement key while keeping the row for the record.
    row.name = f"{name} (revoked {row.revoked_at:%Y-%m-%d %H:%M:%S})"[:100]
    session.add(row)
    session.commit()
    return True


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.id))))
