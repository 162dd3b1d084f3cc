"""Voiding a report that joined an open case as its duplicate.

Intake stores such a report with ``duplicate_of`` set, tells the resident, and publishes it
here instead of to routing: this step voids it and notes it on the case it joined, both through
``lifecycle.record`` (voiding stops its clocks). Guarded on the report still being REPORTED, so
running twice changes nothing; a report whose message was lost is found again by the relay below.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy import or_, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from urbangrid.cases.lifecycle import ConcurrentChange, record
from urbangrid.cases.workdays import clock_rules
from urbangrid.core.columns import utcnow
from urbangrid.core.db import get_engine
from urbangrid.core.messages import LINK_DUPLICATE, RELAY_DUPLICATES
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case
from urbangrid.domain.sla import ClockRules
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role

log = logging.getLogger(__name__)

ACTOR = "system:intake"


def link_duplicate(case_id: int, *, session: Session, rules: ClockRules) -> str:
    """Void ``case_id`` as a duplicate of the case it joined; returns its state afterwards."""
    case = session.get(Case, case_id)
    if case is None:
        log.warning("link_duplicate: case %s does not exist", case_id)
        return "MISSING"
    if case.duplicate_of is None or case.state != CaseState.REPORTED:
        return case.state
    parent = session.get(Case, case.duplicate_of)
    assert parent is not None
    now = utcnow()
    try:
        record(
            session,
            case,
            "void",
            actor=ACTOR,
            role=Role.SYSTEM,
            at=now,
            note=f"duplicate of case {parent.id}; the reporter follows that case",
            detail={"duplicate_of": parent.id},
            rules=rules,
        )
        record(
            session,
            parent,
            "duplicate",
            actor=ACTOR,
            role=Role.SYSTEM,
            at=now,
            note=f"report {case_id} describes the same problem",
            detail={"report": case_id},
        )
    except ConcurrentChange:
        session.rollback()  # another run voided it first, or the parent moved: look again
        raise
    session.commit()
    return CaseState.VOID


def claim_unlinked(session: Session, *, now: datetime, grace_s: float, batch: int) -> list[int]:
    """Joined reports still not voided after ``grace_s``: their message was lost."""
    stale = now - timedelta(seconds=grace_s)
    query = (
        select(Case.id)
        .where(col(Case.state) == CaseState.REPORTED)
        .where(col(Case.duplicate_of).is_not(None))
        .where(
            or_(
                col(Case.published_at) < stale,
                col(Case.published_at).is_(None) & (col(Case.created_at) < stale),
            )
        )
        .order_by(col(Case.id))
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [int(i) for i in session.exec(query) if i is not None]
    if ids:
        session.execute(update(Case).where(col(Case.id).in_(ids)).values(published_at=now))
    session.commit()
    return ids


def register(app: Celery) -> None:
    settings: Settings = app.conf.urbangrid_settings

    @app.task(
        name=LINK_DUPLICATE,
        bind=True,
        autoretry_for=(OperationalError, ConcurrentChange),
        retry_backoff=True,
        retry_backoff_max=60,
        max_retries=8,
    )
    def link_duplicate_task(self: Any, case_id: int) -> str:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            return link_duplicate(case_id, session=session, rules=clock_rules(session, settings))

    @app.task(name=RELAY_DUPLICATES)
    def relay_duplicates_task() -> int:
        with Session(get_engine(settings), expire_on_commit=False) as session:
            ids = claim_unlinked(
                session, now=utcnow(), grace_s=settings.relay_grace_s, batch=settings.relay_batch
            )
        for case_id in ids:
            app.send_task(LINK_DUPLICATE, args=[case_id], retry=False)
        return len(ids)
