"""One synthetic case walked through the closed loop, each step applied the way ``record`` does.

Deadlines come from the SLA clocks exactly as ``lifecycle.record`` moves them (the plan of
``urbangrid.domain.sla``: a clock per stage and one for the whole case, paused while suspended,
pushed by extensions), so the columns the metrics read are the ones the live system would hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, TypedDict, Unpack

from urbangrid.domain import sla
from urbangrid.domain.sla import CLOCK_PLAN, Clock, ClockRules, Stage
from urbangrid.domain.states import OPEN_STATES, CaseState
from urbangrid.domain.timelimits import Limits, parse_limits
from urbangrid.domain.workflow import COUNTS, STAMPS, TRANSITIONS, Role, apply

SLA_ACTOR = "system:sla"


class Said(TypedDict, total=False):
    """What a step says besides who took it and when: its note, its detail, further columns."""

    note: str
    detail: Mapping[str, Any] | None
    values: Mapping[str, Any] | None


@dataclass
class Walk:
    """A case being walked through the loop: each step applied the way ``record`` does."""

    case: dict[str, Any]
    now: datetime
    rules: ClockRules
    limits: Mapping[Stage, Limits]
    home_level: int = 3
    events: list[dict[str, Any]] = field(default_factory=list)
    clocks: dict[Stage, Clock] = field(default_factory=dict)
    state: CaseState | None = None
    stopped: bool = False

    def step(self, action: str, at: datetime, role: Role, actor: str, **said: Unpack[Said]) -> bool:
        """Take a step unless it lies in the future; False once the walk has reached now."""
        if self.stopped:
            return False
        self.sweep(min(at, self.now))
        if at > self.now:
            self.stopped = True
            return False
        return self._record(action, at, role, actor, **said)

    def _record(
        self, action: str, at: datetime, role: Role, actor: str, **said: Unpack[Said]
    ) -> bool:
        before = self.state
        after = apply(before, action, role) if action in TRANSITIONS else before
        assert after is not None
        detail = said.get("detail")
        changes = dict(said.get("values") or {})
        department = changes.get("department_code") or self.case["department_code"]
        self.case.update(changes)
        self.case["state"] = after
        self.case["updated_at"] = at
        if stamp := STAMPS.get(action):
            self.case[stamp] = at
        if counter := COUNTS.get(action):
            self.case[counter] += 1
        self.events.append(
            {
                "at": at,
                "action": action,
                "from_state": before,
                "to_state": after,
                "actor": actor,
                "role": role,
                "note": said.get("note", ""),
                "detail": json.dumps(dict(detail), ensure_ascii=False) if detail else "{}",
                "department_code": department,
            }
        )
        self.state = after
        self._move_clocks(action, at, dict(detail or {}))
        return True

    def deadline(self, stage: Stage) -> datetime:
        return _deadline(self.clocks[stage], self.rules)

    def sweep(self, until: datetime) -> None:
        """What the SLA sweep records by ``until``: warnings, overdue marks and 督办, in order.

        As ``workers.sla.advance_case`` does: each running clock fires the marks due, and each
        overdue round escalates the case one grid level up from its home level, to the district.
        """
        if self.state is None or self.state not in OPEN_STATES:
            return
        pending: list[tuple[datetime, int, Stage, sla.Mark]] = []
        for order, (stage, clock) in enumerate(self.clocks.items()):
            due = _next_due(clock, self.rules)
            if due is None or due > until:
                continue
            marks = sla.due_marks(clock, until, self.rules)
            if marks:
                self.clocks[stage] = replace(clock, step=marks[-1].step)
                pending += [(mark.due_at, order, stage, mark) for mark in marks]
        last = self.events[-1]["at"] if self.events else until
        for due_at, _, stage, mark in sorted(pending, key=lambda item: (item[0], item[1])):
            at = max(due_at, last)
            if mark.kind == "warn":
                self._record("warn", at, Role.SYSTEM, SLA_ACTOR, detail={"clock": stage.value})
                continue
            if mark.round == 1:
                self._record("overdue", at, Role.SYSTEM, SLA_ACTOR, detail={"clock": stage.value})
            target = sla.escalation_level_for(mark.round, self.rules.max_rounds)
            while self.case["escalation_level"] < target:
                level = self.case["escalation_level"] + 1
                code = self.case.get(f"l{max(1, self.home_level - level)}_code")
                self._record(
                    "escalate",
                    at,
                    Role.SYSTEM,
                    SLA_ACTOR,
                    note="督办",
                    detail={"clock": stage.value, "round": mark.round, "level": level, "to": code},
                    values={"escalated_to": code},
                )

    def _move_clocks(self, action: str, at: datetime, detail: dict[str, Any]) -> None:
        """The clock plan, as ``urbangrid.cases.clocks.apply_plan`` carries it out in the database.

        A report is stored without clocks; they start at its report time with its first step
        that moves a clock.
        """
        if action not in CLOCK_PLAN or action == "submit":
            return
        if not self.clocks:
            self._plan("submit", self.case["created_at"], {})
        self._plan(action, at, detail)
        self._mirror()

    def _plan(self, action: str, at: datetime, detail: dict[str, Any]) -> None:
        latest = self.clocks
        for op, stage in CLOCK_PLAN.get(action, ()):
            if op == "start":
                assert stage is not None
                latest[stage] = sla.start(stage, at, self.limits[stage])
            elif op == "reopen":
                if stage in latest:
                    latest[stage] = sla.reopen(latest[stage])
            else:
                targets = list(latest) if stage is None else [stage] if stage in latest else []
                for key in targets:
                    clock = latest[key]
                    if clock.stopped_at is not None:
                        continue
                    if op == "stop":
                        clock = sla.stop(clock, at)
                    elif op == "pause":
                        clock = sla.pause(clock, at)
                    elif op == "resume":
                        clock = sla.resume(clock, at, self.rules)
                    elif op == "extend":
                        clock = sla.extend(clock, parse_limits(str(detail["by"])), at, self.rules)
                    latest[key] = clock

    def _mirror(self) -> None:
        latest = self.clocks
        current = next(
            (c for c in latest.values() if c.stage != Stage.CASE and c.stopped_at is None), None
        )
        handle = latest.get(Stage.HANDLE)
        whole = latest.get(Stage.CASE)
        self.case["stage"] = current.stage.value if current else None
        self.case["stage_deadline_at"] = _deadline(current, self.rules) if current else None
        self.case["deadline_at"] = _deadline(handle, self.rules) if handle else None
        self.case["case_deadline_at"] = _deadline(whole, self.rules) if whole else None


# A clock's deadline and next sweep time only change when the clock does, and a season asks
# for them at every step: remembered per (clock, rules), both being immutable values.
@lru_cache(maxsize=65536)
def _deadline(clock: Clock, rules: ClockRules) -> datetime:
    return sla.deadline(clock, rules)


@lru_cache(maxsize=65536)
def _next_due(clock: Clock, rules: ClockRules) -> datetime | None:
    return sla.next_due(clock, rules)
