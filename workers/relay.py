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
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, or_, update
from sqlmodel import Session, col, select

from urbangrid.domain.states import CaseState
from urbangrid.tables import Case


def claim_unrouted(session: Session, *, now: datetime, grace_s: float, batch: int) -> list[int]:
    """Mark up to ``batch`` unrouted reports as published now and return their ids.

    A report qualifies when it is still unrouted and was either never published though stored
    more than ``grace_s`` ago (the API could not reach the broker), or published more than
    ``grace_s`` ago (its message was lost). On PostgreSQL the rows are claimed with
    ``FOR UPDATE SKIP LOCKED`` so two relays never publish the same report in the same round.
    """
    stale = now - timedelta(seconds=grace_s)
    query = (
        select(Case.id)
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
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [int(i) for i in session.exec(query) if i is not None]
    if ids:
        session.execute(
            update(Case)
            .where(col(Case.id).in_(ids))
            .values(published_at=now, publish_attempts=Case.publish_attempts + 1)
        )
    session.commit()
    return ids


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
