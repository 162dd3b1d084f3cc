"""What each staff action decides, as pure functions over the case and what was read for it.

``casework.act`` reads the database once (:class:`Known`), asks the action's planner in
:data:`PLANNERS` for a :class:`Plan` (the column values, the event's detail, the follow-up steps)
and writes it. A planner reads no session and writes nothing, so a city changing what a step
decides reads one short function, and a test can call it without a database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from urbangrid.cases.actions import (
    ActionInput,
    FieldError,
    Policy,
    Refused,
    available_actions,
    escalation_code,
    why_refused,
)
from urbangrid.core.tables import Case, CaseEvent, Photo
from urbangrid.domain.routing import RoutingDecision
from urbangrid.domain.states import CaseState
from urbangrid.domain.timelimits import parse_limit
from urbangrid.domain.workflow import TRANSITIONS, Role

ROUTER = "system:router"
__all__ = [
    "ActionInput",
    "FieldError",
    "Policy",
    "Refused",
    "available_actions",
    "escalation_code",
    "why_refused",
]

# Staff's remark on a case in any state, by any role that acts on cases: no change of state.
COMMENT = "comment"
PHOTO_REF = re.compile(r"^photo:([1-9][0-9]{0,17})$")
DISPATCHED = (CaseState.DISPATCHED, CaseState.IN_PROGRESS)


@dataclass(frozen=True)
class Known:
    """What the database said before the step, read once by ``casework.gather``.

    ``photos`` holds the stored photo each reference names (None: no such photo);
    ``suggestion`` the rule table's department for a dispatch (less the departments that
    returned the case, on a redispatch), ``department`` the department a dispatch would hand
    the case to and ``department_known`` whether it exists; ``after`` the rule table's department
    once the step is taken (a new category, or the neighbouring street's cells)."""

    photos: Mapping[str, Photo | None] = field(default_factory=dict)
    category_known: bool = False
    suggestion: RoutingDecision | None = None
    department_known: bool = False
    returned_by: tuple[str, ...] = ()
    pending_by: str | None = None
    after: RoutingDecision | None = None


@dataclass(frozen=True)
class Step:
    """One event to record besides the action's own: the router's follow-up."""

    action: str
    actor: str
    role: Role
    note: str
    detail: dict[str, Any]
    values: dict[str, Any]


# A follow-up decides from the case as the action left it and the action's event.
FollowUp = Callable[[Case, CaseEvent], Step | None]


@dataclass
class Plan:
    """What an action writes: its event's note and detail, the case's new column values, the
    photos its event proves, and the follow-up steps recorded after it."""

    note: str
    detail: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    photo_ids: list[int] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)


Planner = Callable[[Case, ActionInput, Policy, Known], Plan]


def neighbour_cells(neighbour: str) -> list[str]:
    """The grid cells a case moved to the neighbouring street stands in: that street and its
    district (a street code begins with its district's six digits); no community or cell, as
    the point lies outside the street's own cells.

    >>> neighbour_cells("310101002")
    ['310101', '310101002', '', '']
    """
    return [neighbour[:6], neighbour, "", ""]


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


def pending_by(case: Case, events: Sequence[CaseEvent]) -> str | None:
    """The extension the pending request asked for (``by`` of the last request_extension)."""
    if case.pending_request != "extension":
        return None
    for event in reversed(events):
        if event.action == "request_extension":
            by = detail_of(event).get("by")
            return str(by) if by else None
    return None


def photo_ids(case: Case, refs: Sequence[str], known: Known) -> list[int]:
    """The ids of the photos ``refs`` name; :class:`FieldError` names the first reference that
    is not ``photo:N`` of a photo stored for this case (or was refused by the media worker)."""
    ids: list[int] = []
    for position, ref in enumerate(refs):
        found = PHOTO_REF.match(ref.strip())
        photo = known.photos.get(ref) if found else None
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


# The planners: each starts from what every step carries, then adds what its action decides.


def plan_comment(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    """A staff member's remark, in any state: internal ``note``, optional ``public_note``,
    photos; it changes nothing else."""
    if not (given.note or given.public_note or given.photos):
        raise FieldError("note", "a comment needs a note, a public_note or a photo")
    if given.reason or given.department or given.by or given.category:
        extra = next(n for n in ("reason", "department", "by", "category") if getattr(given, n))
        raise FieldError(extra, f"a comment takes no {extra!r}")
    plan = Plan(note=given.note, photo_ids=photo_ids(case, given.photos, known))
    if given.photos:
        plan.detail["photos"] = list(given.photos)
    if given.public_note:
        plan.detail["public_note"] = given.public_note
    return plan


def plan_step(case: Case, given: ActionInput, policy: Policy, known: Known, action: str) -> Plan:
    """What every action but a comment carries: reason, photos, public note; internal words
    (the reason stands in for a note when none is given); a pending request lapses once the
    case moves on."""
    plan = Plan(note=given.note or given.reason or "")
    plan.photo_ids = photo_ids(case, given.photos, known)
    if given.reason:
        plan.detail["reason"] = given.reason
    if given.photos:
        plan.detail["photos"] = list(given.photos)
    if given.public_note:
        plan.detail["public_note"] = given.public_note
    if TRANSITIONS[action].target not in (None, CaseState(case.state)):
        plan.values["pending_request"] = None
    return plan


def _step(action: str) -> Planner:
    def planner(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
        return plan_step(case, given, policy, known, action)

    planner.__name__ = f"plan_{action}"
    return planner


def _category(case: Case, given: ActionInput, known: Known, plan: Plan, action: str) -> None:
    if not known.category_known:
        raise FieldError("category", f"unknown category {given.category!r}")
    if given.category != case.category_code:
        plan.values["category_code"] = given.category
        plan.detail |= {"category": given.category, "previous_category": case.category_code}
    elif action == "recategorize":
        raise FieldError("category", f"the case is already {given.category}")


def plan_file(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    plan = plan_step(case, given, policy, known, "file")
    if given.category:
        _category(case, given, known, plan, "file")
    return plan


def plan_recategorize(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    """A new category; a dispatched case whose new category belongs to another department
    moves there (its clock stops with its own limit, the new one gets a new clock)."""
    plan = plan_step(case, given, policy, known, "recategorize")
    if given.category:
        _category(case, given, known, plan, "recategorize")
        decision = known.after
        dispatched = CaseState(case.state) in DISPATCHED
        if dispatched and decision is not None and decision.department_code != case.department_code:
            plan.detail["reroute_to"] = decision.department_code
    if "category_code" in plan.values:
        plan.follow_ups.append(lambda moved, event: _reroute_by_category(moved, known.after))
    return plan


def _reroute_by_category(case: Case, decision: RoutingDecision | None) -> Step | None:
    if case.state not in DISPATCHED:
        return None
    if decision is None or decision.department_code == case.department_code:
        return None
    return Step(
        "reroute",
        ROUTER,
        Role.SYSTEM,
        note=f"category is now {case.category_code}: re-routed to {decision.department_code}",
        detail={
            "department": decision.department_code,
            "previous_department": case.department_code,
            "rule_id": decision.rule_id,
            "scope": decision.scope_code,
        },
        values={"department_code": decision.department_code, "routing_rule_id": decision.rule_id},
    )


def _dispatch(action: str) -> Planner:
    def planner(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
        plan = plan_step(case, given, policy, known, action)
        suggestion = known.suggestion
        department = given.department or (suggestion.department_code if suggestion else None)
        if department is None:
            raise FieldError(
                "department", "no rule or street office answers for this case: name one"
            )
        if not known.department_known:
            raise FieldError("department", f"unknown department {department!r}")
        if action == "reroute" and department == case.department_code:
            raise FieldError("department", f"the case is already with {department}")
        by_rule = suggestion is not None and suggestion.department_code == department
        plan.detail |= {
            "department": department,
            "suggested": suggestion.department_code if suggestion else None,
            "rule_id": suggestion.rule_id if by_rule and suggestion else None,
            "scope": suggestion.scope_code if by_rule and suggestion else None,
        }
        if action == "reroute":
            plan.detail["previous_department"] = case.department_code
        exclude = list(known.returned_by) if action == "redispatch" else []
        if exclude:
            plan.detail["returned_by"] = exclude
        plan.values |= {
            "department_code": department,
            "routing_rule_id": suggestion.rule_id if by_rule and suggestion else None,
        }
        return plan

    planner.__name__ = f"plan_{action}"
    return planner


def _extension(plan: Plan, by: str | None) -> None:
    if not by:
        raise FieldError("by", "name the extension, e.g. 1wd (no request is pending)")
    try:
        parse_limit(by)
    except ValueError as exc:
        raise FieldError("by", str(exc)) from exc
    plan.detail["by"] = by


def plan_request_extension(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    plan = plan_step(case, given, policy, known, "request_extension")
    _extension(plan, given.by)
    plan.values["pending_request"] = "extension"
    return plan


def plan_request_suspension(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    plan = plan_step(case, given, policy, known, "request_suspension")
    plan.values["pending_request"] = "suspension"
    return plan


def plan_extend(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    """An extension the shift lead grants: the one named, else the one the pending request
    asked for."""
    plan = plan_step(case, given, policy, known, "extend")
    _extension(plan, given.by or known.pending_by)
    plan.detail["approved_request"] = case.pending_request is not None
    plan.values["pending_request"] = None
    return plan


def plan_suspend(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    plan = plan_step(case, given, policy, known, "suspend")
    plan.detail["approved_request"] = case.pending_request is not None
    plan.values["pending_request"] = None
    return plan


def _deny(action: str) -> Planner:
    def planner(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
        plan = plan_step(case, given, policy, known, action)
        plan.values["pending_request"] = None
        return plan

    planner.__name__ = f"plan_{action}"
    return planner


def plan_return(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    """A department hands the case back; after repeated returns the case is flagged for the
    shift lead (ping-pong)."""
    plan = plan_step(case, given, policy, known, "return")
    plan.detail["department"] = case.department_code
    returns = [*known.returned_by, *([str(case.department_code)] if case.department_code else [])]

    def flag(returned: Case, event: CaseEvent) -> Step | None:
        if returned.return_count < policy.pingpong_returns or returned.flag:
            return None
        return Step(
            "flag",
            ROUTER,
            Role.SYSTEM,
            note=f"returned {returned.return_count} times: the shift lead decides who answers",
            detail={"flag": "ping_pong", "returned_by": returns},
            values={"flag": "ping_pong"},
        )

    plan.follow_ups.append(flag)
    return plan


def _street(case: Case, plan: Plan) -> str:
    neighbour = case.near_boundary
    assert neighbour is not None  # available_actions offers these only on a flagged case
    plan.detail |= {"street": case.l2_code, "neighbour": neighbour}
    plan.values["near_boundary"] = None
    return neighbour


def plan_confirm_street(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    plan = plan_step(case, given, policy, known, "confirm_street")
    _street(case, plan)
    return plan


def plan_move_to_neighbour(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    """The case moves to the neighbouring street's cells; a dispatched case goes to the
    department that answers there, one waiting for dispatch keeps the new suggestion."""
    plan = plan_step(case, given, policy, known, "move_to_neighbour")
    cells = neighbour_cells(_street(case, plan))
    plan.detail |= {
        "previous_cells": [case.l1_code, case.l2_code, case.l3_code, case.l4_code],
        "cells": cells,
    }
    plan.values |= {"l1_code": cells[0], "l2_code": cells[1], "l3_code": None, "l4_code": None}

    def reroute(moved: Case, event: CaseEvent) -> Step | None:
        decision = known.after
        if moved.state not in DISPATCHED:
            return None
        if decision is None or decision.department_code == moved.department_code:
            return None
        return Step(
            "reroute",
            ROUTER,
            Role.SYSTEM,
            note=f"moved to street {moved.l2_code} (event {event.id}): re-routed to "
            f"{decision.department_code}",
            detail={
                "department": decision.department_code,
                "previous_department": moved.department_code,
                "rule_id": decision.rule_id,
                "scope": decision.scope_code,
                "because": "move_to_neighbour",
                "moved_event": event.id,
            },
            values={
                "department_code": decision.department_code,
                "routing_rule_id": decision.rule_id,
            },
        )

    plan.follow_ups.append(reroute)
    return plan


def plan_escalate(case: Case, given: ActionInput, policy: Policy, known: Known) -> Plan:
    """One grid level up: the street's case goes to its district."""
    plan = plan_step(case, given, policy, known, "escalate")
    level = case.escalation_level + 1
    code = escalation_code(case, level, policy.home_level)
    plan.values["escalated_to"] = code
    plan.detail |= {"level": level, "grid_level": max(1, policy.home_level - level), "to": code}
    return plan


_NAMED: dict[str, Planner] = {
    COMMENT: plan_comment,
    "file": plan_file,
    "recategorize": plan_recategorize,
    "dispatch": _dispatch("dispatch"),
    "redispatch": _dispatch("redispatch"),
    "reroute": _dispatch("reroute"),
    "request_extension": plan_request_extension,
    "request_suspension": plan_request_suspension,
    "extend": plan_extend,
    "suspend": plan_suspend,
    "deny_extension": _deny("deny_extension"),
    "deny_suspension": _deny("deny_suspension"),
    "return": plan_return,
    "confirm_street": plan_confirm_street,
    "move_to_neighbour": plan_move_to_neighbour,
    "escalate": plan_escalate,
}

# One planner per action staff can take; the others carry only what every step carries.
PLANNERS: dict[str, Planner] = {
    action: _NAMED.get(action) or _step(action) for action in TRANSITIONS if action != "submit"
}
