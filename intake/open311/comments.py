"""A client system's update on a request (mySociety's ``POST servicerequestupdates``).

FixMyStreet and other client systems pass on what their residents add to a report they sent:
a comment, maybe a photo. Here it becomes a resident's comment on the case, the same step a
resident takes with their tracking token: recorded on the case the report follows (a duplicate's
parent), while that case is open to comments, and once per the client's ``update_id``. On a
closed case, an update whose status says it is open again is the resident's request to
reopen it, within the same window a resident has.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from intake.errors import FieldError
from urbangrid.cases.lifecycle import ConcurrentChange, record
from urbangrid.core.columns import utcnow
from urbangrid.core.tables import Case, CaseEvent
from urbangrid.domain.public import detail_dict
from urbangrid.domain.residents import ResidentView, resident_actions
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role

FETCH_TIMEOUT_S = 10.0
# The resident's steps a client's update can be: a comment, or on a closed case a request to
# reopen it when the client's status says it is open again (FixMyStreet's OPEN / REOPEN).
_ACTIONS = ("comment", "reopen_request")
_REOPENING = {"OPEN", "REOPEN"}


@dataclass(frozen=True)
class ClientUpdate:
    client: str
    service_request_id: int
    description: str
    update_id: str | None
    status: str | None
    media_url: str | None
    contact: str | None


@dataclass(frozen=True)
class Recorded:
    event_id: int
    case_id: int
    replayed: bool


def fetchable(url: str, hosts: list[str]) -> bool:
    """Whether ``media_url`` is on a host whose photos are fetched (the others stay links).

    >>> fetchable("https://fms.example.cn/photo/1.jpeg", ["fms.example.cn"])
    True
    >>> fetchable("https://evil.example/1.jpeg", ["fms.example.cn"])
    False
    >>> fetchable("ftp://fms.example.cn/1", ["fms.example.cn"])
    False
    """
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in hosts


def fetch(url: str, max_bytes: int) -> bytes:
    """The bytes at ``url``, at most ``max_bytes`` (blocking: call it from a thread)."""
    request = urllib.request.Request(url, headers={"User-Agent": "urbangrid-open311"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as answer:
        data: bytes = answer.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes:,} bytes")
    return data


def record_update(
    session: Session, update: ClientUpdate, *, reopen_days: float, detail: dict[str, Any]
) -> Recorded:
    """Record the client's comment on the case its request follows; the caller commits.

    A retry with the same ``update_id`` answers the event recorded first.
    """
    own = session.get(Case, update.service_request_id)
    if own is None:
        raise FieldError("service_request_id", f"{update.service_request_id} not found", status=404)
    followed = session.get(Case, own.duplicate_of) if own.duplicate_of else own
    assert followed is not None and followed.id is not None and own.id is not None
    actor = f"open311:{update.client}"[:100]
    if update.update_id:
        for event in session.exec(
            select(CaseEvent)
            .where(col(CaseEvent.case_id) == followed.id)
            .where(col(CaseEvent.actor) == actor)
            .where(col(CaseEvent.action).in_(_ACTIONS))
        ):
            if detail_dict(event.detail).get("update_id") == update.update_id:
                return Recorded(event.id or 0, followed.id, replayed=True)
    view = ResidentView(CaseState(followed.state), followed.closed_at, False, False)
    allowed = resident_actions(view, now=utcnow(), reopen_window=timedelta(days=reopen_days))
    if "comment" in allowed:
        action = "comment"
    elif "reopen" in allowed and (update.status or "").upper() in _REOPENING:
        # The resident told the client system it is not fixed: their request to reopen it.
        action = "reopen_request"
    else:
        raise FieldError(
            "service_request_id",
            f"request {own.id} is {followed.state.lower()}: comments are taken while it is "
            "open, and a request to reopen it (status OPEN) within "
            f"{reopen_days:g} days of its closing",
        )
    try:
        event = record(
            session,
            followed,
            action,
            actor=actor,
            role=Role.CITIZEN,
            note=update.description,
            detail={
                "report": own.id,
                "channel": "open311",
                **({"update_id": update.update_id} if update.update_id else {}),
                **({"client_status": update.status} if update.status else {}),
                **detail,
            },
        )
    except ConcurrentChange as exc:
        session.rollback()
        raise FieldError("service_request_id", "the request just changed; send again") from exc
    assert event.id is not None
    return Recorded(event.id, followed.id, replayed=False)
