"""Telling residents when their case moves: collect notices from the event log, then send them.

Who changed the state does not matter (the router, staff, the SLA sweep): every change worth
telling a resident is an event, and a scheduled sweep turns recent ones into notice rows, one
per event and recipient (the reporter, and every resident whose report joined the case as a
duplicate). The rows are then sent through one channel, each a small class behind one
interface; a failed send is retried with backoff, and a sent one is never sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from celery import Celery
from sqlalchemy import Select, literal, select, true, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from urbangrid.columns import utcnow
from urbangrid.db import get_engine
from urbangrid.domain.public import public_step
from urbangrid.domain.residents import NOTIFY_ACTIONS, open311_status, status_text
from urbangrid.settings import Settings
from urbangrid.tables import Case, CaseEvent, Notification

log = logging.getLogger(__name__)

SEND_TASK = "urbangrid.send_notifications"
LOOKBACK = timedelta(hours=6)  # far longer than any commit can lag behind its event's time
# How far back a notifier that was stopped (a weekend outage, a long deploy) catches up.
CATCH_UP = timedelta(days=30)
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Notice:
    notification_id: int
    case_id: int  # the resident's own report
    followed_case_id: int  # the case whose state changed (differs for a duplicate)
    action: str
    state: str
    status: str
    status_text_zh: str
    status_text_en: str
    at: str
    note: str
    contact: str
    tracking_url: str | None


class Channel(Protocol):
    name: str

    def send(self, notice: Notice) -> None:
        """Deliver one notice; raise on failure (it is retried later)."""
        ...


class LogChannel:
    """The default: one log line per notice, the contact masked."""

    name = "log"

    def send(self, notice: Notice) -> None:
        log.info(
            "notice %s: case %s is %s (%s) for reporter of case %s at %s",
            notice.notification_id,
            notice.followed_case_id,
            notice.state,
            notice.status_text_en,
            notice.case_id,
            mask(notice.contact),
        )


class WebhookChannel:
    """A JSON POST to the city's gateway (SMS, WeChat, e-mail), signed with HMAC-SHA256."""

    name = "webhook"

    def __init__(self, url: str, secret: str, *, timeout_s: float = 5.0) -> None:
        self.url, self.secret, self.timeout_s = url, secret.encode(), timeout_s

    def send(self, notice: Notice) -> None:
        body = json.dumps({"type": "case.status_changed", **asdict(notice)}).encode()
        stamp = str(int(time.time()))
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "urbangrid-notify/1",
                "X-Urbangrid-Notification": str(notice.notification_id),
                "X-Urbangrid-Timestamp": stamp,
                "X-Urbangrid-Signature": sign(self.secret, stamp, body),
            },
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
            if not 200 <= answer.status < 300:
                raise OSError(f"webhook answered {answer.status}")


def sign(secret: bytes, stamp: str, body: bytes) -> str:
    """The signature header: HMAC-SHA256 over ``"<timestamp>.<body>"``.

    A receiver recomputes it with the shared secret and refuses a stale timestamp.

    >>> body = b'{"case_id": 1}'
    >>> expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    >>> sign(b"s3cret", "1700000000", body) == "sha256=" + expected
    True
    """
    digest = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def mask(contact: str) -> str:
    """Enough of a contact to tell two apart in a log, not enough to use it.

    >>> mask("13812345678"), mask("li.wei@example.cn")
    ('138****5678', 'li****cn')
    """
    if len(contact) <= 4:
        return "****"
    head, tail = (3, 4) if contact.isdigit() else (2, 2)
    return f"{contact[:head]}****{contact[-tail:]}"


def make_channel(settings: Settings) -> Channel:
    if settings.notify_channel == "webhook":
        return WebhookChannel(settings.notify_webhook_url, settings.notify_webhook_secret)
    return LogChannel()


def collect_since(session: Session, *, now: datetime) -> datetime:
    """The oldest event time a sweep looks at: the last :data:`LOOKBACK` while notices are
    being collected, or back to :data:`LOOKBACK` before the last notice collected when the
    notifier was stopped for longer, so residents still hear of what happened meanwhile
    (within :data:`CATCH_UP`). Reads the newest notice by primary key, nothing more."""
    newest = session.execute(
        select(col(Notification.created_at)).order_by(col(Notification.id).desc()).limit(1)
    ).scalar_one_or_none()
    last = newest - LOOKBACK if newest is not None else now - CATCH_UP
    return max(now - CATCH_UP, min(now - LOOKBACK, last))


def collect(session: Session, *, now: datetime, channel: str) -> int:
    """Add a notice row for every recent state change residents hear of; safe to run twice."""
    since = collect_since(session, now=now)
    changes = (
        select(CaseEvent.id, CaseEvent.case_id)  # type: ignore[call-overload]
        .where(col(CaseEvent.at) >= since)
        .where(col(CaseEvent.action).in_(sorted(NOTIFY_ACTIONS)))
        .where(col(CaseEvent.from_state) != col(CaseEvent.to_state))
        .subquery()
    )
    own: Select[Any] = (
        select(changes.c.id, col(Case.id), changes.c.case_id)
        .join(Case, col(Case.id) == changes.c.case_id)
        .where(col(Case.contact).is_not(None))
        # A report that joined another case was told so when it was made.
        .where(col(Case.duplicate_of).is_(None))
    )
    followers: Select[Any] = (
        select(changes.c.id, col(Case.id), changes.c.case_id)
        .join(Case, col(Case.duplicate_of) == changes.c.case_id)
        .where(col(Case.contact).is_not(None))
    )
    recipients = union_all(own, followers).subquery()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(Notification)
        .from_select(
            ["event_id", "case_id", "followed_case_id", "channel", "next_attempt_at", "created_at"],
            select(
                recipients.c[0],
                recipients.c[1],
                recipients.c[2],
                literal(channel),
                literal(now, Notification.__table__.c.next_attempt_at.type),  # type: ignore[attr-defined]
                literal(now, Notification.__table__.c.created_at.type),  # type: ignore[attr-defined]
            )
            # SQLite parses INSERT … SELECT … ON CONFLICT only when the SELECT has a WHERE.
            .where(true()),
        )
        .on_conflict_do_nothing()
    )
    added = session.execute(statement).rowcount  # type: ignore[attr-defined]
    session.commit()
    return int(added or 0)


def send_due(
    session: Session, channel: Channel, *, now: datetime, base_url: str = "", batch: int = 200
) -> tuple[int, int]:
    """Send pending notices, oldest change first (a resident hears "dispatched" before
    "closed"); returns (sent, failed). Each is leased first, so two sweeps never send the same
    notice, and a sweep that dies mid-way leaves it to the next one."""
    query = (
        select(Notification.id)  # type: ignore[call-overload]
        .where(col(Notification.status) == "pending")
        .where(col(Notification.next_attempt_at) <= now)
        .order_by(col(Notification.event_id), col(Notification.id))
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [int(i) for i in session.execute(query).scalars()]
    if not ids:
        session.commit()
        return 0, 0
    session.execute(
        update(Notification)
        .where(col(Notification.id).in_(ids))
        .values(next_attempt_at=now + LEASE)
    )
    session.commit()
    sent = failed = 0
    for notice in _notices(session, ids, base_url):
        try:
            channel.send(notice)
        except Exception as exc:  # any failure of the channel: record it, retry later
            failed += 1
            _failed(session, notice.notification_id, str(exc), now=now)
        else:
            sent += 1
            session.execute(
                update(Notification)
                .where(col(Notification.id) == notice.notification_id)
                .values(status="sent", sent_at=utcnow(), attempts=Notification.attempts + 1)
            )
        session.commit()
    return sent, failed


def _failed(session: Session, notification_id: int, error: str, *, now: datetime) -> None:
    row = session.get(Notification, notification_id)
    assert row is not None
    attempts = row.attempts + 1
    row.attempts = attempts
    row.last_error = error[:500]
    row.status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
    row.next_attempt_at = now + timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)))
    session.add(row)
    log.warning("notice %s failed (attempt %s): %s", notification_id, attempts, error)


def _notices(session: Session, ids: list[int], base_url: str) -> list[Notice]:
    rows = session.execute(
        select(Notification, CaseEvent, Case)
        .join(CaseEvent, col(CaseEvent.id) == col(Notification.event_id))
        .join(Case, col(Case.id) == col(Notification.case_id))
        .where(col(Notification.id).in_(ids))
        .order_by(col(Notification.event_id), col(Notification.id))
    ).all()
    notices = []
    for notification, event, case in rows:
        notices.append(
            Notice(
                notification_id=notification.id,
                case_id=case.id,
                followed_case_id=notification.followed_case_id,
                action=event.action,
                state=event.to_state,
                status=open311_status(event.to_state),
                status_text_zh=status_text(event.to_state, "zh"),
                status_text_en=status_text(event.to_state, "en"),
                at=event.at.isoformat(),
                # Residents hear the staff's public note, never the internal one.
                note=step.public_note if (step := public_step(event)) else "",
                contact=case.contact or "",
                tracking_url=(
                    f"{base_url.rstrip('/')}/#/t/{case.tracking_token}" if base_url else None
                ),
            )
        )
    return notices


def register(app: Celery) -> None:
    """Declare the notice sweep on ``app``."""
    settings: Settings = app.conf.urbangrid_settings
    channel = make_channel(settings)

    @app.task(name=SEND_TASK)
    def send_notifications_task() -> int:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            now = utcnow()
            collect(session, now=now, channel=channel.name)
            sent, _ = send_due(session, channel, now=now, base_url=settings.public_base_url)
        return sent
