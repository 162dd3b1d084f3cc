"""Staff accounts: creating them, issuing and checking tokens, logging in.

Tokens are 256-bit random strings shown once and stored as their SHA-256; passwords are stored
as scrypt hashes with a salt of their own. Nothing secret is ever stored or logged in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlmodel import Session, select

from urbangrid.core.columns import utcnow
from urbangrid.core.tables import Case, Department, Staff, StaffToken
from urbangrid.domain.access import Scope, can_see, check_role_scope, parse_scope
from urbangrid.domain.workflow import Role

TOKEN_PREFIX = "ugs_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class Principal:
    """The staff member behind a request."""

    staff_id: int
    name: str
    role: Role
    scope: Scope


def sees(scope: Scope, case: Case) -> bool:
    """Whether a case lies in a staff member's scope: its department's, or one of its four
    grid levels'."""
    codes = [case.l1_code, case.l2_code, case.l3_code, case.l4_code]
    return can_see(scope, department_code=case.department_code, grid_codes=codes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """An scrypt hash of ``password`` with a fresh salt, as ``scrypt$n$r$p$salt$hash``.

    >>> stored = hash_password("correct horse")
    >>> verify_password("correct horse", stored), verify_password("wrong", stored)
    (True, False)
    """
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    computed = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(computed.hex(), digest)


def create_staff(
    session: Session, name: str, role: str, scope: str, *, password: str | None = None
) -> Staff:
    """A new account; raises ``ValueError`` naming what is wrong (role, scope, name)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("name: between 1 and 100 characters")
    if session.exec(select(Staff).where(Staff.name == name)).first() is not None:
        raise ValueError(f"name: a staff account {name!r} exists already")
    try:
        parsed_role = Role(role)
    except ValueError as exc:
        raise ValueError(f"role: {role!r} is not a role") from exc
    parsed_scope = parse_scope(scope)
    check_role_scope(parsed_role, parsed_scope)
    if parsed_scope.kind == "department" and session.get(Department, parsed_scope.value) is None:
        raise ValueError(f"scope: no department {parsed_scope.value!r}")
    staff = Staff(
        name=name,
        role=parsed_role,
        scope=str(parsed_scope),
        password_hash=hash_password(password) if password else None,
    )
    session.add(staff)
    session.flush()
    return staff


def issue_token(
    session: Session, staff: Staff, *, label: str = "", ttl: timedelta | None = None
) -> str:
    """A new token for ``staff``, returned once in clear; ``ttl`` None: valid until revoked."""
    assert staff.id is not None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        StaffToken(
            staff_id=staff.id,
            token_hash=hash_token(token),
            label=label[:100],
            expires_at=utcnow() + ttl if ttl else None,
        )
    )
    session.flush()
    return token


def authenticate(session: Session, token: str, *, now: datetime | None = None) -> Principal | None:
    """The active staff member ``token`` belongs to, or None (unknown, expired, revoked)."""
    now = now or utcnow()
    row = session.exec(
        select(StaffToken, Staff)
        .join(Staff, Staff.id == StaffToken.staff_id)  # type: ignore[arg-type]
        .where(StaffToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    stored, staff = row
    if stored.revoked_at is not None or not staff.active or staff.id is None:
        return None
    if stored.expires_at is not None and stored.expires_at <= now:
        return None
    return Principal(staff.id, staff.name, Role(staff.role), parse_scope(staff.scope))


@lru_cache(maxsize=1)
def _stand_in_hash() -> str:
    """A hash no password matches, checked when a name has none: the same work as a real one."""
    return hash_password(secrets.token_urlsafe(16))


def login(session: Session, name: str, password: str, *, ttl: timedelta) -> str | None:
    """A token for ``name`` if ``password`` is right; the same answer for every wrong case.

    Exactly one scrypt check whether or not the name exists, is active or has a password, so
    the time taken does not tell which names exist.
    """
    staff = session.exec(select(Staff).where(Staff.name == name)).first()
    usable = staff is not None and staff.active and bool(staff.password_hash)
    stored = staff.password_hash if staff is not None and staff.password_hash else _stand_in_hash()
    right = verify_password(password, stored)
    if staff is None or not usable or not right:
        return None
    return issue_token(session, staff, label="login", ttl=ttl)


def revoke_tokens(session: Session, staff: Staff) -> int:
    """Revoke every token of ``staff``; returns how many were live."""
    rows = session.exec(
        select(StaffToken)
        .where(StaffToken.staff_id == staff.id)
        .where(StaffToken.revoked_at == None)  # noqa: E711
    ).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    session.flush()
    return len(rows)


def revoke_token(session: Session, token: str) -> bool:
    """Revoke one token (a signed-in session ending); False when it was not live."""
    stored = session.exec(
        select(StaffToken).where(StaffToken.token_hash == hash_token(token))
    ).first()
    if stored is None or stored.revoked_at is not None:
        return False
    stored.revoked_at = utcnow()
    session.add(stored)
    session.flush()
    return True
