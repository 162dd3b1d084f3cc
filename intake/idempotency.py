"""Retried submits: an ``Idempotency-Key`` (or Open311's device id) returns the first case."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from sqlalchemy import Connection, select
from sqlmodel import col

from intake.errors import FieldError
from urbangrid.core.tables import IdempotencyKey

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def check_key(value: str | None) -> str | None:
    """The header's key, or a 422 naming the header when it is not 1-128 visible characters.

    >>> check_key("3f2a9c1e-7b4d-4e8a-9f00-1c2d3e4f5a6b")
    '3f2a9c1e-7b4d-4e8a-9f00-1c2d3e4f5a6b'
    >>> check_key("   ")
    Traceback (most recent call last):
    ...
    intake.errors.FieldError: Idempotency-Key: must be 1 to 128 visible ASCII characters
    """
    if value is None:
        return None
    if not _KEY.match(value):
        raise FieldError(HEADER, "must be 1 to 128 visible ASCII characters", where="header")
    return value


def fingerprint(fields: Mapping[str, object]) -> str:
    """A stable hash of what was submitted, to tell a retry from a different report.

    >>> fingerprint({"b": 1, "a": "x"}) == fingerprint({"a": "x", "b": 1})
    True
    """
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def device_key(device_id: str, print_: str) -> str:
    """Open311 clients send no Idempotency-Key; the same report from the same device within
    the key's lifetime is the same submission, retried.

    >>> len(device_key("phone-1", "ab" * 32))
    64
    """
    return hashlib.sha256(f"device:{device_id}:{print_}".encode()).hexdigest()


def find(conn: Connection, client_id: str, key: str) -> tuple[int, str] | None:
    """(case id, fingerprint) stored under the key, if any."""
    row = conn.execute(
        select(col(IdempotencyKey.case_id), col(IdempotencyKey.fingerprint))
        .where(col(IdempotencyKey.client_id) == client_id)
        .where(col(IdempotencyKey.key) == key)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))
