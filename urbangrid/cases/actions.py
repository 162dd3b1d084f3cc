"""What a staff action carries and when the case's situation allows it: the input, the city's
policy, the errors an action answers with, and the actions open now."""

from __future__ import annotations

from dataclasses import dataclass

from urbangrid.core.tables import Case
from urbangrid.domain.sla import ClockRules
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role, allowed_actions


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


def why_refused(action: str, case: Case) -> str:
    if action.startswith("request_"):
        return f"a {case.pending_request} request is already waiting for the shift lead"
    if action.startswith("deny_"):
        return f"no {action.removeprefix('deny_')} request is waiting"
    return f"case {case.id} is already escalated to the top grid level"


def escalation_code(case: Case, level: int, home_level: int) -> str | None:
    """The grid code ``level`` escalations above the case's home level (its street, district)."""
    grid_level = max(1, home_level - level)
    code: str | None = getattr(case, f"l{grid_level}_code")
    return code
