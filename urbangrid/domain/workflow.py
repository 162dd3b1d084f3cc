"""The closed loop's transition table (docs/domain.md §4), enforced in one place.

Every change of a case is an action from this table, performed by a role the table names, and
recorded as one append-only event; replaying a case's events gives its current state. Automation
(the router, the SLA sweep) acts as the ``system`` role on a role's behalf and records which rule
did it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from urbangrid.domain.states import OPEN_STATES, CaseState

S = CaseState

_BEFORE_HANDLED = (S.REPORTED, S.VERIFYING, S.FILED, S.DISPATCHED, S.IN_PROGRESS, S.RETURNED)


class Role(StrEnum):
    CITIZEN = "citizen"
    SUPERVISOR = "supervisor"  # 监督员, grid staff in the field
    OPERATOR = "operator"  # 受理员
    SHIFT_LEAD = "shift_lead"  # 值班长
    DISPATCHER = "dispatcher"  # 派遣员
    DEPARTMENT = "department"  # 专业部门
    HEAD = "head"  # reads dashboards only
    ADMIN = "admin"
    SYSTEM = "system"  # automation, acting for a role and saying which rule did it


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[CaseState]
    target: CaseState | None  # None: the state does not change (extend, escalate, comment…)
    roles: frozenset[Role]


def _t(
    action: str, sources: Iterable[CaseState], target: CaseState | None, *roles: Role
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset((*roles, Role.SYSTEM)))


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("submit", (), S.REPORTED, Role.CITIZEN, Role.SUPERVISOR),
        _t("request_verification", (S.REPORTED,), S.VERIFYING, Role.OPERATOR),
        _t("verify", (S.VERIFYING,), S.REPORTED, Role.SUPERVISOR),
        _t("not_found", (S.VERIFYING,), S.VOID, Role.SUPERVISOR),
        _t("file", (S.REPORTED,), S.FILED, Role.SHIFT_LEAD),
        _t("void", (S.REPORTED, S.FILED), S.VOID, Role.SHIFT_LEAD),
        _t("dispatch", (S.FILED,), S.DISPATCHED, Role.DISPATCHER),
        _t("accept", (S.DISPATCHED,), S.IN_PROGRESS, Role.DEPARTMENT),
        _t("return", (S.DISPATCHED, S.IN_PROGRESS), S.RETURNED, Role.DEPARTMENT),
        _t("redispatch", (S.RETURNED,), S.DISPATCHED, Role.DISPATCHER),
        _t("reject_return", (S.RETURNED,), S.IN_PROGRESS, Role.SHIFT_LEAD),
        _t("request_extension", (S.IN_PROGRESS,), None, Role.DEPARTMENT),
        _t("extend", (S.IN_PROGRESS,), None, Role.SHIFT_LEAD),
        _t("deny_extension", (S.IN_PROGRESS,), None, Role.SHIFT_LEAD),
        _t("request_suspension", (S.IN_PROGRESS,), None, Role.DEPARTMENT),
        _t("suspend", (S.IN_PROGRESS,), S.SUSPENDED, Role.SHIFT_LEAD),
        _t("deny_suspension", (S.IN_PROGRESS,), None, Role.SHIFT_LEAD),
        _t("resume", (S.SUSPENDED,), S.IN_PROGRESS, Role.SHIFT_LEAD),
        _t("handle", (S.IN_PROGRESS,), S.HANDLED, Role.DEPARTMENT),
        _t("check_fail", (S.HANDLED,), S.IN_PROGRESS, Role.SUPERVISOR),
        _t("check_pass", (S.HANDLED,), S.CHECKED, Role.SUPERVISOR),
        _t("close", (S.CHECKED,), S.CLOSED, Role.SHIFT_LEAD),
        _t("reopen", (S.CLOSED,), S.IN_PROGRESS, Role.SHIFT_LEAD),
        _t("escalate", OPEN_STATES, None, Role.SHIFT_LEAD),
        # The category was wrong: correct it (new limits, a new rule-suggested department).
        _t("recategorize", _BEFORE_HANDLED, None, Role.OPERATOR, Role.SHIFT_LEAD, Role.DISPATCHER),
        # A dispatched case moved to another department without a return (the category changed).
        _t("reroute", (S.DISPATCHED, S.IN_PROGRESS), S.DISPATCHED, Role.DISPATCHER),
        # A report near its street's boundary (flagged by the router): the dispatcher confirms
        # the street, or moves the case to the neighbouring one, which re-routes it.
        _t("confirm_street", _BEFORE_HANDLED, None, Role.DISPATCHER),
        _t("move_to_neighbour", _BEFORE_HANDLED, None, Role.DISPATCHER),
        # A remark (internal, and optionally public) with photos, in any state: changes nothing.
        _t(
            "comment",
            tuple(CaseState),
            None,
            Role.CITIZEN,
            Role.SUPERVISOR,
            Role.OPERATOR,
            Role.SHIFT_LEAD,
            Role.DISPATCHER,
            Role.DEPARTMENT,
        ),
    )
}

# The milestone column each action stamps with its time, and the counter each one adds to, so
# that queues and metrics need no replay. The case store and the history walk both keep them.
STAMPS: dict[str, str] = {
    "file": "filed_at",
    "dispatch": "dispatched_at",
    "redispatch": "dispatched_at",
    "handle": "handled_at",
    "close": "closed_at",
}
COUNTS: dict[str, str] = {
    "check_fail": "rework_count",
    "return": "return_count",
    "extend": "extension_count",
    "reopen": "reopen_count",
    "escalate": "escalation_level",
}

# What an action must carry besides the actor; the API names the missing field.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "void": ("reason",),
    "not_found": ("reason",),
    "return": ("reason",),
    "request_extension": ("by", "reason"),
    "deny_extension": ("reason",),
    "request_suspension": ("reason",),
    "deny_suspension": ("reason",),
    "handle": ("photos",),
    "check_fail": ("reason",),
    "reopen": ("reason",),
    "recategorize": ("category",),
}


def missing_fields(action: str, given: Iterable[str]) -> list[str]:
    """The fields ``action`` requires that were not given (empty values count as missing).

    >>> missing_fields("return", ["note"])
    ['reason']
    >>> missing_fields("handle", ["photos", "note"])
    []
    """
    present = set(given)
    return [name for name in REQUIRED_FIELDS.get(action, ()) if name not in present]


class IllegalAction(Exception):
    """An action the table does not allow now; carries the actions that are allowed."""

    def __init__(self, action: str, state: CaseState | None, role: Role, allowed: list[str]):
        self.action, self.state, self.role, self.allowed = action, state, role, allowed
        super().__init__(
            f"{action!r} is not allowed for {role} in state {state}; allowed now: "
            f"{', '.join(allowed) or 'nothing'}"
        )


def allowed_actions(state: CaseState | None, role: Role) -> list[str]:
    """The actions ``role`` may take on a case in ``state``, in table order.

    >>> allowed_actions(CaseState.DISPATCHED, Role.DEPARTMENT)
    ['accept', 'return', 'comment']
    >>> allowed_actions(CaseState.CLOSED, Role.DEPARTMENT)
    ['comment']
    """
    return [
        t.action
        for t in TRANSITIONS.values()
        if role in t.roles and (state in t.sources if state is not None else not t.sources)
    ]


def apply(state: CaseState | None, action: str, role: Role) -> CaseState:
    """The state after ``role`` takes ``action`` in ``state``, or :class:`IllegalAction`.

    >>> apply(CaseState.HANDLED, "check_fail", Role.SUPERVISOR)
    <CaseState.IN_PROGRESS: 'IN_PROGRESS'>
    >>> try:
    ...     apply(CaseState.HANDLED, "close", Role.SHIFT_LEAD)
    ... except IllegalAction as refused:
    ...     refused.allowed
    ['escalate', 'comment']
    """
    transition = TRANSITIONS.get(action)
    legal = (
        transition is not None
        and role in transition.roles
        and (state in transition.sources if state is not None else not transition.sources)
    )
    if not legal or transition is None:
        raise IllegalAction(action, state, role, allowed_actions(state, role))
    if transition.target is None:
        assert state is not None
        return state
    return transition.target


def replay(events: Iterable[tuple[str, str]]) -> CaseState | None:
    """A case's state from its events, given as (action, role) pairs in order.

    >>> replay([("submit", "citizen"), ("file", "system"), ("dispatch", "system")])
    <CaseState.DISPATCHED: 'DISPATCHED'>
    """
    state: CaseState | None = None
    for action, role in events:
        if action not in TRANSITIONS:
            continue  # notes, photos, ratings and SLA marks do not change the state
        state = apply(state, action, Role(role))
    return state
