"""What staff (and automation acting for them) do to a case: each step through ``record``.

The transition table says who may take which action in which state; this module adds what a
step carries and decides besides the state: the department on dispatch (the rule's suggestion
unless the dispatcher names another), the reason of a return and the ping-pong flag after
repeated returns, the pending extension or suspension request and its approval, the grid area an
escalation goes to, and the re-routing that follows a change of category.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from urbangrid.domain.routing import RoutingDecision, Rule, choose_department
from urbangrid.domain.sla import ClockRules
from urbangrid.domain.states import CaseState
from urbangrid.domain.timelimits import parse_limit
from urbangrid.domain.workflow import TRANSITIONS, Role, allowed_actions, apply, missing_fields
from urbangrid.lifecycle import record
from urbangrid.tables import Case, CaseEvent, Category, Department, Photo, RoutingRule

ROUTER = "system:router"
_DISPATCHED = (CaseState.DISPATCHED, CaseState.IN_PROGRESS)


class FieldError(ValueError):
    """Input of an action that is missing or wrong; names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(message)


class Refused(Exception):
    """An action the table allows in this state but the case's situation does not (e.g. no
    request to deny); carries the actions allowed now, like ``IllegalAction``."""

    def __init__(self, message: str, allowed: list[str]) -> None:
        self.allowed = allowed
        super().__init__(message)


# Staff's remark on a case in any state, by any role that acts on cases: no change of state.
COMMENT = "comment"
PHOTO_REF = re.compile(r"^photo:([1-9][0-9]{0,17})$")


@dataclass(frozen=True)
class ActionInput:
    """What a step carries. ``note`` and ``reason`` are internal (staff in scope read them);
    ``public_note`` is what the resident and Open311 read. ``photos`` are references
    (``photo:N``) of photos stored for this case, those uploaded with the step included."""

    note: str = ""
    reason: str | None = None
    department: str | None = None
    by: str | None = None  # an extension, e.g. 1wd
    photos: tuple[str, ...] = ()
    category: str | None = None
    public_note: str = ""

    def given(self) -> list[str]:
        present: dict[str, object] = {
            "note": self.note,
            "public_note": self.public_note,
            "reason": self.reason,
            "department": self.department,
            "by": self.by,
            "photos": self.photos,
            "category": self.category,
        }
        return [name for name, value in present.items() if value]


@dataclass(frozen=True)
class Policy:
    """The city's settings a step needs: clock rules and the escalation and ping-pong limits."""

    rules: ClockRules
    home_level: int = 3
    pingpong_returns: int = 3

    @property
    def max_escalations(self) -> int:
        return self.home_level - 1


@dataclass
class Outcome:
    events: list[CaseEvent] = field(default_factory=list)


def available_actions(
    state: CaseState,
    role: Role,
    *,
    pending_request: str | None,
    escalation_level: int,
    max_escalations: int,
    near_boundary: bool = False,
) -> list[str]:
    """The table's actions for ``role`` in ``state``, less those the case's situation rules out.

    >>> available_actions(CaseState.IN_PROGRESS, Role.SHIFT_LEAD, pending_request=None,
    ...                   escalation_level=0, max_escalations=2)
    ['extend', 'suspend', 'escalate', 'recategorize', 'comment']
    >>> available_actions(CaseState.IN_PROGRESS, Role.DEPARTMENT, pending_request="extension",
    ...                   escalation_level=0, max_escalations=2)
    ['return', 'handle', 'comment']
    """
    found = []
    for action in allowed_actions(state, role):
        if action.startswith("request_") and pending_request is not None:
            continue
        if action == "deny_extension" and pending_request != "extension":
            continue
        if action == "deny_suspension" and pending_request != "suspension":
            continue
        if action == "escalate" and escalation_level >= max_escalations:
            continue
        if action in ("confirm_street", "move_to_neighbour") and not near_boundary:
            continue
        found.append(action)
    return found


def escalation_code(case: Case, level: int, home_level: int) -> str | None:
    """The grid code ``level`` escalations above the case's home level (its street, district)."""
    grid_level = max(1, home_level - level)
    code: str | None = getattr(case, f"l{grid_level}_code")
    return code


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


def detail_of(event: CaseEvent) -> dict[str, Any]:
    loaded = json.loads(event.detail or "{}")
    return loaded if isinstance(loaded, dict) else {}


def returned_by(events: Iterable[CaseEvent]) -> list[str]:
    """The departments that returned the case, in order."""
    return [
        str(detail_of(e).get("department"))
        for e in events
        if e.action == "return" and detail_of(e).get("department")
    ]


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

    Raises :class:`FieldError` for missing or wrong input, :class:`Refused` or
    ``IllegalAction`` for an action not allowed now, ``ConcurrentChange`` when someone else
    moved the case first.
    """
    if action not in TRANSITIONS or action == "submit":
        raise FieldError("action", f"no action {action!r}")
    state = CaseState(case.state)
    apply(state, action, role)  # IllegalAction, with the table's actions, before anything else
    if action == COMMENT:
        return _comment(session, case, actor=actor, role=role, given=given)
    allowed = available_actions(
        state,
        role,
        pending_request=case.pending_request,
        escalation_level=case.escalation_level,
        max_escalations=policy.max_escalations,
        near_boundary=case.near_boundary is not None,
    )
    if action not in allowed:
        raise Refused(_why_refused(action, case), allowed)
    missing = missing_fields(action, given.given())
    if missing:
        raise FieldError(missing[0], f"{action!r} needs {missing[0]!r}")
    photo_ids = resolve_photos(session, case, given.photos)

    detail: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if given.reason:
        detail["reason"] = given.reason
    if given.photos:
        detail["photos"] = list(given.photos)
    if given.public_note:
        detail["public_note"] = given.public_note
    # Internal words: the reason stands in for a note when none is given.
    note = given.note or given.reason or ""
    outcome = Outcome()

    if TRANSITIONS[action].target not in (None, state):
        values["pending_request"] = None  # a request lapses once the case moves on

    if action in ("file", "recategorize") and given.category:
        category = session.get(Category, given.category)
        if category is None:
            raise FieldError("category", f"unknown category {given.category!r}")
        if given.category != case.category_code:
            values["category_code"] = given.category
            detail |= {"category": given.category, "previous_category": case.category_code}
        elif action == "recategorize":
            raise FieldError("category", f"the case is already {given.category}")
        if action == "recategorize" and state in _DISPATCHED:
            decision = suggest(session, case, category_code=given.category)
            if decision is not None and decision.department_code != case.department_code:
                # The department's clock stops with its own limit; the new one gets a new clock.
                detail["reroute_to"] = decision.department_code

    if action in ("dispatch", "redispatch", "reroute"):
        values |= _dispatch_values(session, case, action, given, detail)

    if action in ("request_extension", "extend"):
        by = given.by or (_pending_by(session, case) if action == "extend" else None)
        if not by:
            raise FieldError("by", "name the extension, e.g. 1wd (no request is pending)")
        try:
            parse_limit(by)
        except ValueError as exc:
            raise FieldError("by", str(exc)) from exc
        detail["by"] = by
    if action == "request_extension":
        values["pending_request"] = "extension"
    elif action == "request_suspension":
        values["pending_request"] = "suspension"
    elif action in ("extend", "deny_extension", "suspend", "deny_suspension"):
        if action in ("extend", "suspend"):
            detail["approved_request"] = case.pending_request is not None
        values["pending_request"] = None

    if action == "return":
        detail["department"] = case.department_code

    if action in ("confirm_street", "move_to_neighbour"):
        values |= _street_values(session, case, action, detail)

    if action == "escalate":
        level = case.escalation_level + 1
        code = escalation_code(case, level, policy.home_level)
        values["escalated_to"] = code
        detail |= {"level": level, "grid_level": max(1, policy.home_level - level), "to": code}

    outcome.events.append(
        record(
            session,
            case,
            action,
            actor=actor,
            role=role,
            note=note,
            detail=detail,
            values=values,
            rules=policy.rules,
        )
    )

    if action == "return" and case.return_count >= policy.pingpong_returns and not case.flag:
        outcome.events.append(
            record(
                session,
                case,
                "flag",
                actor=ROUTER,
                role=Role.SYSTEM,
                note=f"returned {case.return_count} times: the shift lead decides who answers",
                detail={
                    "flag": "ping_pong",
                    "returned_by": returned_by(events_of(session, case.id or 0)),
                },
                values={"flag": "ping_pong"},
            )
        )
    if action == "recategorize" and "category_code" in values:
        outcome.events.extend(reroute_after_recategorize(session, case, policy=policy))
    if action == "move_to_neighbour":
        outcome.events.extend(
            reroute_to_street(session, case, policy=policy, moved=outcome.events[0])
        )
    attach_photos(session, photo_ids, outcome.events[0])
    return outcome


def resolve_photos(session: Session, case: Case, refs: Sequence[str]) -> list[int]:
    """The ids of the photos ``refs`` name; :class:`FieldError` names the first reference that
    is not ``photo:N`` of a photo stored for this case (or was refused by the media worker)."""
    ids: list[int] = []
    for position, ref in enumerate(refs):
        found = PHOTO_REF.match(ref.strip())
        photo = session.get(Photo, int(found.group(1))) if found else None
        if photo is None or photo.case_id != case.id:
            raise FieldError(
                f"photos[{position}]",
                f"{ref!r} is not a photo of case {case.id}: upload it with the step, or name "
                "one stored for this case as photo:N",
            )
        if photo.state == "rejected":
            raise FieldError(f"photos[{position}]", f"{ref!r} was refused: {photo.error}")
        ids.append(int(found.group(1)) if found else 0)
    return ids


def attach_photos(session: Session, photo_ids: Sequence[int], event: CaseEvent) -> None:
    """Link photos not yet tied to a step to ``event`` (the step they prove)."""
    if photo_ids:
        session.execute(
            update(Photo)
            .where(col(Photo.id).in_(list(photo_ids)))
            .where(col(Photo.event_id).is_(None))
            .values(event_id=event.id)
        )


def _comment(
    session: Session, case: Case, *, actor: str, role: Role, given: ActionInput
) -> Outcome:
    """A staff member's remark, in any state: internal ``note``, optional ``public_note``,
    photos; it changes nothing else."""
    if not (given.note or given.public_note or given.photos):
        raise FieldError("note", "a comment needs a note, a public_note or a photo")
    if given.reason or given.department or given.by or given.category:
        extra = next(n for n in ("reason", "department", "by", "category") if getattr(given, n))
        raise FieldError(extra, f"a comment takes no {extra!r}")
    photo_ids = resolve_photos(session, case, given.photos)
    detail: dict[str, Any] = {}
    if given.photos:
        detail["photos"] = list(given.photos)
    if given.public_note:
        detail["public_note"] = given.public_note
    event = record(session, case, COMMENT, actor=actor, role=role, note=given.note, detail=detail)
    attach_photos(session, photo_ids, event)
    return Outcome(events=[event])


def neighbour_cells(neighbour: str) -> list[str]:
    """The grid cells a case moved to the neighbouring street stands in: that street and its
    district (a street code begins with its district's six digits); no community or cell, as
    the point lies outside the street's own cells.

    >>> neighbour_cells("310101002")
    ['310101', '310101002', '', '']
    """
    return [neighbour[:6], neighbour, "", ""]


def _street_values(
    session: Session, case: Case, action: str, detail: dict[str, Any]
) -> dict[str, Any]:
    neighbour = case.near_boundary
    assert neighbour is not None  # available_actions offers these only on a flagged case
    detail |= {"street": case.l2_code, "neighbour": neighbour}
    if action == "confirm_street":
        return {"near_boundary": None}
    cells = neighbour_cells(neighbour)
    detail |= {
        "previous_cells": [case.l1_code, case.l2_code, case.l3_code, case.l4_code],
        "cells": cells,
    }
    return {
        "near_boundary": None,
        "l1_code": cells[0],
        "l2_code": cells[1],
        "l3_code": None,
        "l4_code": None,
    }


def reroute_to_street(
    session: Session, case: Case, *, policy: Policy, moved: CaseEvent
) -> list[CaseEvent]:
    """A dispatched case moved to the neighbouring street goes to the department that answers
    there; one waiting for dispatch keeps the new suggestion for the dispatcher."""
    if case.state not in _DISPATCHED:
        return []
    decision = suggest(session, case)
    if decision is None or decision.department_code == case.department_code:
        return []
    return [
        record(
            session,
            case,
            "reroute",
            actor=ROUTER,
            role=Role.SYSTEM,
            note=f"moved to street {case.l2_code} (event {moved.id}): re-routed to "
            f"{decision.department_code}",
            detail={
                "department": decision.department_code,
                "previous_department": case.department_code,
                "rule_id": decision.rule_id,
                "scope": decision.scope_code,
                "because": "move_to_neighbour",
                "moved_event": moved.id,
            },
            values={
                "department_code": decision.department_code,
                "routing_rule_id": decision.rule_id,
            },
            rules=policy.rules,
        )
    ]


def reroute_after_recategorize(session: Session, case: Case, *, policy: Policy) -> list[CaseEvent]:
    """A dispatched case whose new category belongs to another department moves there."""
    if case.state not in _DISPATCHED:
        return []
    decision = suggest(session, case)
    if decision is None or decision.department_code == case.department_code:
        return []
    return [
        record(
            session,
            case,
            "reroute",
            actor=ROUTER,
            role=Role.SYSTEM,
            note=f"category is now {case.category_code}: re-routed to {decision.department_code}",
            detail={
                "department": decision.department_code,
                "previous_department": case.department_code,
                "rule_id": decision.rule_id,
                "scope": decision.scope_code,
            },
            values={
                "department_code": decision.department_code,
                "routing_rule_id": decision.rule_id,
            },
            rules=policy.rules,
        )
    ]


def _dispatch_values(
    session: Session, case: Case, action: str, given: ActionInput, detail: dict[str, Any]
) -> dict[str, Any]:
    exclude = returned_by(events_of(session, case.id or 0)) if action == "redispatch" else []
    suggestion = suggest(session, case, exclude=exclude)
    department = given.department or (suggestion.department_code if suggestion else None)
    if department is None:
        raise FieldError("department", "no rule or street office answers for this case: name one")
    if session.get(Department, department) is None:
        raise FieldError("department", f"unknown department {department!r}")
    if action == "reroute" and department == case.department_code:
        raise FieldError("department", f"the case is already with {department}")
    by_rule = suggestion is not None and suggestion.department_code == department
    detail |= {
        "department": department,
        "suggested": suggestion.department_code if suggestion else None,
        "rule_id": suggestion.rule_id if by_rule and suggestion else None,
        "scope": suggestion.scope_code if by_rule and suggestion else None,
    }
    if action == "reroute":
        detail["previous_department"] = case.department_code
    if exclude:
        detail["returned_by"] = exclude
    return {
        "department_code": department,
        "routing_rule_id": suggestion.rule_id if by_rule and suggestion else None,
    }


def _pending_by(session: Session, case: Case) -> str | None:
    if case.pending_request != "extension":
        return None
    for event in reversed(events_of(session, case.id or 0)):
        if event.action == "request_extension":
            by = detail_of(event).get("by")
            return str(by) if by else None
    return None


def _why_refused(action: str, case: Case) -> str:
    if action.startswith("request_"):
        return f"a {case.pending_request} request is already waiting for the shift lead"
    if action.startswith("deny_"):
        return f"no {action.removeprefix('deny_')} request is waiting"
    return f"case {case.id} is already escalated to the top grid level"
