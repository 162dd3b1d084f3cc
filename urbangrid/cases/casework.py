"""What staff (and automation acting for them) do to a case: each step through ``record``.

The transition table says who may take which action in which state; the planners
(:mod:`urbangrid.cases.planners`, pure functions) decide what a step carries and decides
besides the state: the department on dispatch (the rule's suggestion unless the dispatcher
names another), the reason of a return and the ping-pong flag after repeated returns, the
pending extension or suspension request and its approval, the grid area an escalation goes to,
and the re-routing that follows a change of category or street. This module reads what they
need, once, and writes what they planned.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlmodel import Session, col, select

from urbangrid.cases.lifecycle import record
from urbangrid.cases.planners import (
    COMMENT,
    DISPATCHED,
    PHOTO_REF,
    PLANNERS,
    ROUTER,
    ActionInput,
    FieldError,
    Known,
    Plan,
    Policy,
    Refused,
    available_actions,
    detail_of,
    escalation_code,
    neighbour_cells,
    pending_by,
    returned_by,
    why_refused,
)
from urbangrid.core.tables import Case, CaseEvent, Category, Department, Photo, RoutingRule
from urbangrid.domain.routing import RoutingDecision, Rule, choose_department
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import TRANSITIONS, Role, apply, missing_fields

# What callers import from here (the API, the router, the SLA sweep).
__all__ = [
    "COMMENT",
    "ROUTER",
    "ActionInput",
    "FieldError",
    "Outcome",
    "Policy",
    "Refused",
    "act",
    "attach_photos",
    "available_actions",
    "detail_of",
    "escalation_code",
    "events_of",
    "returned_by",
    "suggest",
]


@dataclass
class Outcome:
    events: list[CaseEvent] = field(default_factory=list)


def suggest(
    session: Session,
    case: Case,
    *,
    exclude: Collection[str] = (),
    category_code: str | None = None,
    cells: Sequence[str] | None = None,
) -> RoutingDecision | None:
    """The rule table's department for the case as it stands (or with ``category_code``, or
    placed in other grid ``cells``, L1..L4)."""
    category_code = category_code or case.category_code
    rules = [
        Rule(r.id or 0, r.category_code, r.scope_code, r.department_code, r.priority)
        for r in session.exec(select(RoutingRule).where(RoutingRule.category_code == category_code))
    ]
    if cells is None:
        cells = [case.l1_code or "", case.l2_code or "", case.l3_code or "", case.l4_code or ""]
    street = cells[1] if len(cells) > 1 else ""
    offices: dict[str, str] = {}
    if street:
        offices = {
            d.grid_code: d.code
            for d in session.exec(select(Department).where(Department.grid_code == street))
            if d.grid_code
        }
    return choose_department(
        rules,
        category_code=category_code,
        cell_codes=cells,
        street_offices=offices,
        exclude=exclude,
    )


def events_of(session: Session, case_id: int) -> list[CaseEvent]:
    return list(
        session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
        )
    )


def gather(session: Session, case: Case, action: str, given: ActionInput) -> Known:
    """Everything the action's planner needs from the database, read once before planning."""
    photos: dict[str, Photo | None] = {}
    for ref in given.photos:
        found = PHOTO_REF.match(ref.strip())
        photos[ref] = session.get(Photo, int(found.group(1))) if found else None
    events: list[CaseEvent] = []
    if action in ("redispatch", "return") or (action == "extend" and not given.by):
        events = events_of(session, case.id or 0)
    category_known = False
    suggestion: RoutingDecision | None = None
    department_known = False
    after: RoutingDecision | None = None
    if action in ("file", "recategorize") and given.category:
        category_known = session.get(Category, given.category) is not None
        if action == "recategorize" and category_known and CaseState(case.state) in DISPATCHED:
            after = suggest(session, case, category_code=given.category)
    if action in ("dispatch", "redispatch", "reroute"):
        exclude = returned_by(events) if action == "redispatch" else []
        suggestion = suggest(session, case, exclude=exclude)
        department = given.department or (suggestion.department_code if suggestion else None)
        department_known = bool(department) and session.get(Department, department) is not None
    if action == "move_to_neighbour" and case.near_boundary and case.state in DISPATCHED:
        after = suggest(session, case, cells=neighbour_cells(case.near_boundary))
    return Known(
        photos=photos,
        category_known=category_known,
        suggestion=suggestion,
        department_known=department_known,
        returned_by=tuple(returned_by(events)),
        pending_by=pending_by(case, events),
        after=after,
    )


def act(
    session: Session,
    case: Case,
    action: str,
    *,
    actor: str,
    role: Role,
    given: ActionInput,
    policy: Policy,
) -> Outcome:
    """Take ``action`` on ``case`` with ``given`` input; nothing is committed here.

    The steps: check the action is allowed now and carries what it must, read what its planner
    needs, plan (pure: :data:`planners.PLANNERS`), record the action and its follow-ups.

    Raises :class:`FieldError` for missing or wrong input, :class:`Refused` or
    ``IllegalAction`` for an action not allowed now, ``ConcurrentChange`` when someone else
    moved the case first.
    """
    if action not in TRANSITIONS or action == "submit":
        raise FieldError("action", f"no action {action!r}")
    state = CaseState(case.state)
    apply(state, action, role)  # IllegalAction, with the table's actions, before anything else
    if action != COMMENT:
        allowed = available_actions(
            state,
            role,
            pending_request=case.pending_request,
            escalation_level=case.escalation_level,
            max_escalations=policy.max_escalations,
            near_boundary=case.near_boundary is not None,
        )
        if action not in allowed:
            raise Refused(why_refused(action, case), allowed)
        missing = missing_fields(action, given.given())
        if missing:
            raise FieldError(missing[0], f"{action!r} needs {missing[0]!r}")
    plan = PLANNERS[action](case, given, policy, gather(session, case, action, given))
    return write(session, case, action, plan, actor=actor, role=role, policy=policy)


def write(
    session: Session, case: Case, action: str, plan: Plan, *, actor: str, role: Role, policy: Policy
) -> Outcome:
    """Record the planned action, then each follow-up it calls for, and tie the step's photos
    to its event."""
    first = record(
        session,
        case,
        action,
        actor=actor,
        role=role,
        note=plan.note,
        detail=plan.detail,
        values=plan.values,
        rules=policy.rules,
    )
    outcome = Outcome(events=[first])
    for follow_up in plan.follow_ups:
        step = follow_up(case, first)
        if step is not None:
            outcome.events.append(
                record(
                    session,
                    case,
                    step.action,
                    actor=step.actor,
                    role=step.role,
                    note=step.note,
                    detail=step.detail,
                    values=step.values,
                    rules=policy.rules,
                )
            )
    attach_photos(session, plan.photo_ids, first)
    return outcome


def attach_photos(session: Session, photo_ids: Sequence[int], event: CaseEvent) -> None:
    """Link photos not yet tied to a step to ``event`` (the step they prove)."""
    if photo_ids:
        session.execute(
            update(Photo)
            .where(col(Photo.id).in_(list(photo_ids)))
            .where(col(Photo.event_id).is_(None))
            .values(event_id=event.id)
        )
