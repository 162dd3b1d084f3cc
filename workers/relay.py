"""The relay: reports stored but never routed are published again.

A report is committed before anything is published, so a broker that is down at submit time
loses nothing: the report waits in the database, and this relay, run by the scheduler once the
broker is back, publishes it. The API records each publish the broker confirmed
(``published_at``), so the relay sends only what was never published once the API had time to,
or what was published longer ago than the lease and is still unrouted (its message was lost):
a report waiting in a busy routing queue is not sent a second time to wait behind itself.
Routing is idempotent, so a report published twice still routes once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, or_, update
from sqlmodel import Session, col, select

from urbangrid.domain.states import CaseState
from urbangrid.tables import Case

# A report the relay published again and again is waiting behind a backlog more likely than
# lost: each further round waits twice as long, up to this.
MAX_WAIT_S = 600.0


def relay_wait(grace_s: float, attempts: int) -> float:
    """Seconds after its last relay that a still unrouted report is published again.

    >>> [relay_wait(30, n) for n in (0, 1, 2, 3, 6)]
    [30.0, 30.0, 60.0, 120.0, 600.0]
    """
    return float(min(MAX_WAIT_S, grace_s * 2 ** max(0, attempts - 1)))


def claim_unrouted(session: Session, *, now: datetime, grace_s: float, batch: int) -> list[int]:
    """Mark up to ``batch`` unrouted reports as published now and return their ids.

    A report qualifies when it has waited ``grace_s`` unrouted since it was stored (its
    message from the API was lost, or never sent because the broker was down), or since the
    relay last published it, a wait that doubles with each round (:func:`relay_wait`): on a
    busy day routing runs minutes behind, and publishing every queued report again each half
    minute would only lengthen the queue (the soak saw 8,668 relays for 2,500 reports in 15
    minutes). On PostgreSQL the rows are claimed with ``FOR UPDATE SKIP LOCKED`` so two relays
    never publish the same report in the same round.
    """
    stale = now - timedelta(seconds=grace_s)
    query = (
        select(Case.id, Case.published_at, Case.publish_attempts)
        .where(Case.state == CaseState.REPORTED)
        .where(col(Case.routed_at).is_(None))
        # A report that joined an open case is voided, not routed (workers/duplicates.py).
        .where(col(Case.duplicate_of).is_(None))
        .where(
            or_(
                and_(col(Case.published_at).is_(None), col(Case.created_at) < stale),
                col(Case.published_at) < stale,
            )
        )
        .order_by(col(Case.id))
        .limit(batch * 4)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [
        int(case_id)
        for case_id, published_at, attempts in session.exec(query)
        if case_id is not None
        and (
            published_at is None
            or _aware(published_at)
            < now - timedelta(seconds=relay_wait(grace_s, int(attempts or 0)))
        )
    ][:batch]
    if ids:
        session.execute(
            update(Case)
            .where(col(Case.id).in_(ids))
            .values(published_at=now, publish_attempts=Case.publish_attempts + 1)
        )
    session.commit()
    return ids


def _aware(moment: datetime) -> datetime:
    # SQLite gives naive datetimes back (stored in UTC).
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def mark_published(engine: Engine, case_ids: Sequence[int], *, at: datetime) -> None:
    """Record that the broker confirmed the messages of ``case_ids`` at ``at`` (one statement)."""
    if not case_ids:
        return
    with engine.begin() as conn:
        conn.execute(
            update(Case)
            .where(col(Case.id).in_(list(case_ids)))
            .values(published_at=at, publish_attempts=Case.publish_attempts + 1)
        )
