"""Recording what happens to a case: one function, used by the API and the workers alike.

``record`` checks the action against the transition table, moves the case's state with a
guarded UPDATE (so two staff members acting at once cannot both move it), keeps the milestone
and counter columns, moves the SLA clocks, and appends the event, all in the caller's
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col

from urbangrid.cases import clocks
from urbangrid.core.columns import utcnow
from urbangrid.core.tables import Case, CaseEvent
from urbangrid.domain.sla import CLOCK_PLAN, ClockRules
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import COUNTS, STAMPS, TRANSITIONS, IllegalAction, Role, apply

# Events that annotate a case without changing its state (docs/domain.md §4, §5, §8).
NOTES = frozenset(
    {
        "comment",
        "photo",
        "rate",
        "reopen_request",
        "warn",
        "overdue",
        "locate",
        "duplicate",
        "flag",
        "moderate",
    }
)


class ConcurrentChange(Exception):
    """The case changed state between reading it and acting on it; read it again."""


def record(
    session: Session,
    case: Case,
    action: str,
    *,
    actor: str,
    role: Role,
    note: str = "",
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    values: Mapping[str, Any] | None = None,
    guards: Sequence[ColumnElement[bool]] = (),
    rules: ClockRules | None = None,
) -> CaseEvent:
    """Apply ``action`` to ``case`` and append its event; raises :class:`IllegalAction`.

    ``values`` are further column updates that belong to the same step (the department on
    ``dispatch``, the category on ``recategorize``); ``guards`` are further conditions the row
    must still meet (the router's "not yet routed"). ``rules`` are the clock rules (calendar,
    office windows): every action that moves a clock needs them, and ``extend`` reads the
    extension from ``detail["by"]``. Nothing is committed here.
    """
    at = at or utcnow()
    # A submitted report's clocks may start later, at its first routed step, from its report
    # time; every other step that moves a clock must move it now.
    if action in CLOCK_PLAN and action != "submit" and rules is None:
        raise ValueError(f"{action!r} moves the SLA clocks: pass the clock rules")
    if action == "extend" and not (detail or {}).get("by"):
        raise ValueError("'extend' needs the extension in detail['by'], e.g. '1wd'")
    before = CaseState(case.state)
    if action in NOTES:
        after = before
    elif action in TRANSITIONS:
        after = apply(before, action, role)
    else:
        raise IllegalAction(action, before, role, [])
    changes: dict[str, Any] = {"updated_at": at, **(values or {})}
    if after != before:
        changes["state"] = after
    if stamp := STAMPS.get(action):
        changes[stamp] = at
    if counter := COUNTS.get(action):
        changes[counter] = getattr(Case, counter) + 1
    result = session.execute(
        update(Case)
        .where(col(Case.id) == case.id)
        .where(col(Case.state) == before)
        .where(*guards)
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrentChange(f"case {case.id} is no longer {before}")
    assert case.id is not None
    event = CaseEvent(
        case_id=case.id,
        at=at,
        action=action,
        from_state=before,
        to_state=after,
        actor=actor,
        role=role,
        note=note,
        detail=json.dumps(dict(detail or {}), ensure_ascii=False, default=str),
        # The department a dispatch hands the case to, else the one that held it when acting
        # (so a return that clears the department still counts against the one returning it).
        department_code=changes.get("department_code") or case.department_code,
    )
    session.add(event)
    session.flush()
    session.refresh(case)
    if rules is not None and action in CLOCK_PLAN:
        clocks.apply_plan(
            session,
            case,
            action,
            at=at,
            rules=rules,
            detail=dict(detail or {}),
            by=(actor, str(role)),
        )
        session.refresh(case)
    return event
