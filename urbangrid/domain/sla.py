"""SLA clocks (docs/domain.md §5) as plain data and pure arithmetic.

A case runs one clock per stage it is in (file, dispatch, handle, check) and one for the whole
case. A clock is its start, its limit, the extensions granted and the working time it spent
paused; its deadline and its warning time follow from those alone, so they can always be
recomputed and never drift. The sweep fires a clock's marks in order: a warning at a share of the
allowance (default 80%), overdue at the deadline, and one more round at each further limit past
it; each overdue round escalates the case one grid level up, until the district.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from urbangrid.domain.states import CaseState
from urbangrid.domain.timelimits import (
    DEFAULT_WINDOWS,
    Limits,
    WorkCalendar,
    add_limits,
    is_natural,
    push,
    scale_limits,
    working_time_between,
)
from urbangrid.domain.workflow import TRANSITIONS


class Stage(StrEnum):
    FILE = "file"
    DISPATCH = "dispatch"
    HANDLE = "handle"
    CHECK = "check"
    CASE = "case"  # the whole case, from report to close


S = CaseState

STAGE_OF_STATE: Mapping[CaseState, Stage] = {
    S.REPORTED: Stage.FILE,
    S.VERIFYING: Stage.FILE,
    S.FILED: Stage.DISPATCH,
    S.RETURNED: Stage.DISPATCH,
    S.DISPATCHED: Stage.HANDLE,
    S.IN_PROGRESS: Stage.HANDLE,
    S.SUSPENDED: Stage.HANDLE,
    S.HANDLED: Stage.CHECK,
    S.CHECKED: Stage.CHECK,
}


_KNOWN_MAX = 50_000


@dataclass(frozen=True)
class ClockRules:
    """How clocks count: the calendar, the city's time zone and office windows, the warning
    share, and how many grid levels a case can escalate above the level it is handled at."""

    calendar: WorkCalendar
    tz: ZoneInfo
    windows: tuple[tuple[time, time], ...] = DEFAULT_WINDOWS
    warn_share: float = 0.8
    max_rounds: int = 2
    # Deadlines already worked out with these rules. A batch of reports routed at one instant
    # asks for the same few (start, limits) again and again, and each answer walks the office
    # calendar; the rules never change once made, so an answer never goes stale.
    _known: dict[tuple[datetime, Limits], datetime] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def add(self, start: datetime, limits: Limits) -> datetime:
        key = (start, limits)
        found = self._known.get(key)
        if found is None:
            if len(self._known) >= _KNOWN_MAX:
                self._known.clear()
            found = self._known[key] = add_limits(
                start, limits, calendar=self.calendar, tz=self.tz, windows=self.windows
            )
        return found


@dataclass(frozen=True)
class Clock:
    stage: Stage
    started_at: datetime
    limit: Limits
    extended: Limits = ()
    paused_s: float = 0.0  # working time spent paused (wall time for natural limits)
    paused_at: datetime | None = None
    stopped_at: datetime | None = None
    # Marks fired against the current deadline: 1 warned, 2 overdue, 3 overdue a second limit…
    step: int = 0

    @property
    def running(self) -> bool:
        return self.stopped_at is None and self.paused_at is None


@dataclass(frozen=True)
class Mark:
    """One thing a clock says when its time comes: ``warn`` or ``overdue`` (round 1, 2, …)."""

    kind: Literal["warn", "overdue"]
    round: int
    due_at: datetime
    step: int  # the clock's step once this mark is recorded


def start(stage: Stage, at: datetime, limit: Limits) -> Clock:
    return Clock(stage=stage, started_at=at, limit=limit)


def deadline(clock: Clock, rules: ClockRules) -> datetime:
    """The clock's deadline: its limit and extensions from its start, pushed by paused time.

    >>> from datetime import date
    >>> from urbangrid.domain.timelimits import WeekendCalendar, parse_limits
    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> rules = ClockRules(WeekendCalendar(), tz)
    >>> clock = start(Stage.HANDLE, datetime(2026, 3, 10, 9, 0, tzinfo=tz), parse_limits("4wh"))
    >>> deadline(clock, rules).isoformat()
    '2026-03-10T14:00:00+08:00'
    >>> deadline(replace(clock, extended=parse_limits("1wd")), rules).isoformat()
    '2026-03-11T14:00:00+08:00'
    """
    return _pushed(clock, rules.add(clock.started_at, clock.limit + clock.extended), rules)


def warn_at(clock: Clock, rules: ClockRules) -> datetime:
    """When the clock warns: ``warn_share`` of its whole allowance (limit + extensions) in.

    >>> from urbangrid.domain.timelimits import WeekendCalendar, parse_limits
    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> clock = start(Stage.HANDLE, datetime(2026, 3, 10, 9, 0, tzinfo=tz), parse_limits("4wh"))
    >>> warn_at(clock, ClockRules(WeekendCalendar(), tz)).isoformat()
    '2026-03-10T13:12:00+08:00'
    """
    allowance = scale_limits(clock.limit + clock.extended, rules.warn_share)
    return _pushed(clock, rules.add(clock.started_at, allowance), rules)


def round_due(clock: Clock, round_: int, rules: ClockRules) -> datetime:
    """When overdue round ``round_`` falls: the deadline, then one more limit for each round."""
    due = deadline(clock, rules)
    for _ in range(round_ - 1):
        due = rules.add(due, clock.limit)
    return due


def next_due(clock: Clock, rules: ClockRules) -> datetime | None:
    """When the sweep must next look at this clock; ``None`` when stopped, paused or done."""
    if not clock.running or clock.step > rules.max_rounds:
        return None
    if clock.step == 0:
        return warn_at(clock, rules)
    return round_due(clock, clock.step, rules)


def due_marks(clock: Clock, now: datetime, rules: ClockRules) -> list[Mark]:
    """The marks due by ``now`` that this clock has not fired yet, in order.

    >>> from urbangrid.domain.timelimits import WeekendCalendar, parse_limits
    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> rules = ClockRules(WeekendCalendar(), tz)
    >>> clock = start(Stage.HANDLE, datetime(2026, 3, 10, 9, 0, tzinfo=tz), parse_limits("1h"))
    >>> soon = datetime(2026, 3, 10, 9, 50, tzinfo=tz)
    >>> [(m.kind, m.round) for m in due_marks(clock, soon, rules)]
    [('warn', 0)]
    >>> late = datetime(2026, 3, 10, 11, 30, tzinfo=tz)
    >>> [(m.kind, m.round, m.due_at.hour) for m in due_marks(clock, late, rules)]
    [('warn', 0, 9), ('overdue', 1, 10), ('overdue', 2, 11)]
    >>> due_marks(replace(clock, step=3), datetime(2026, 3, 11, tzinfo=tz), rules)
    []
    """
    marks: list[Mark] = []
    current = clock
    while True:
        due = next_due(current, rules)
        if due is None or due > now:
            return marks
        step = current.step + 1
        if current.step == 0:
            marks.append(Mark("warn", 0, due, step))
        else:
            marks.append(Mark("overdue", current.step, due, step))
        current = replace(current, step=step)


def pause(clock: Clock, at: datetime) -> Clock:
    if not clock.running:
        return clock
    return replace(clock, paused_at=at)


def resume(clock: Clock, at: datetime, rules: ClockRules) -> Clock:
    """Unpause: the working time spent paused is added, which pushes deadline and warning.

    >>> from urbangrid.domain.timelimits import WeekendCalendar, parse_limits
    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> rules = ClockRules(WeekendCalendar(), tz)
    >>> clock = start(Stage.HANDLE, datetime(2026, 3, 10, 9, 0, tzinfo=tz), parse_limits("4wh"))
    >>> paused = pause(clock, datetime(2026, 3, 10, 10, 0, tzinfo=tz))
    >>> back = resume(paused, datetime(2026, 3, 11, 10, 0, tzinfo=tz), rules)
    >>> back.paused_s / 3600, deadline(back, rules).isoformat()
    (7.5, '2026-03-11T14:00:00+08:00')
    """
    if clock.paused_at is None:
        return clock
    spent = working_time_between(
        clock.paused_at,
        at,
        natural=is_natural(clock.limit),
        calendar=rules.calendar,
        tz=rules.tz,
        windows=rules.windows,
    )
    return replace(clock, paused_at=None, paused_s=clock.paused_s + spent.total_seconds())


def extend(clock: Clock, by: Limits, at: datetime, rules: ClockRules) -> Clock:
    """Grant an extension: the deadline moves by ``by``, counted from the current deadline.

    Marks start again against the new deadline, except that a case already warned is not
    warned twice when it is still inside its (new) warning window.
    """
    return _rescheduled(replace(clock, extended=clock.extended + by), clock, at, rules)


def relimit(clock: Clock, limit: Limits, at: datetime, rules: ClockRules) -> Clock:
    """A new limit for a running clock (the category changed): counted from the same start."""
    return _rescheduled(replace(clock, limit=limit), clock, at, rules)


def stop(clock: Clock, at: datetime) -> Clock:
    return clock if clock.stopped_at is not None else replace(clock, stopped_at=at)


def reopen(clock: Clock) -> Clock:
    """Run a stopped clock again where it was (rework, a rejected return): nothing resets."""
    return replace(clock, stopped_at=None)


def _rescheduled(new: Clock, old: Clock, at: datetime, rules: ClockRules) -> Clock:
    step = min(old.step, 1) if warn_at(new, rules) <= at else 0
    return replace(new, step=step)


def _pushed(clock: Clock, instant: datetime, rules: ClockRules) -> datetime:
    return push(
        instant,
        timedelta(seconds=clock.paused_s),
        natural=is_natural(clock.limit),
        calendar=rules.calendar,
        tz=rules.tz,
        windows=rules.windows,
    )


# What each action does to the clocks. ``None`` as the stage means every clock of the case.
Op = Literal["start", "stop", "reopen", "pause", "resume", "extend", "relimit"]

CLOCK_PLAN: Mapping[str, tuple[tuple[Op, Stage | None], ...]] = {
    "submit": (("start", Stage.CASE), ("start", Stage.FILE)),
    "not_found": (("stop", None),),
    "file": (("stop", Stage.FILE), ("start", Stage.DISPATCH)),
    "void": (("stop", None),),
    "dispatch": (("stop", Stage.DISPATCH), ("start", Stage.HANDLE)),
    "return": (("stop", Stage.HANDLE), ("start", Stage.DISPATCH)),
    # A new department gets a full clock of its own; the whole-case clock runs on.
    "redispatch": (("stop", Stage.DISPATCH), ("start", Stage.HANDLE)),
    "reroute": (("stop", Stage.HANDLE), ("start", Stage.HANDLE)),
    # The return was refused: the department's clock runs on from where it stopped.
    "reject_return": (("stop", Stage.DISPATCH), ("reopen", Stage.HANDLE)),
    "extend": (("extend", Stage.HANDLE), ("extend", Stage.CASE)),
    "suspend": (("pause", None),),
    "resume": (("resume", None),),
    "handle": (("stop", Stage.HANDLE), ("start", Stage.CHECK)),
    # Rework does not reset the department's clock.
    "check_fail": (("stop", Stage.CHECK), ("reopen", Stage.HANDLE)),
    "close": (("stop", None),),
    "reopen": (("start", Stage.CASE), ("start", Stage.HANDLE)),
    "recategorize": (("relimit", None),),
}


def escalation_level_for(round_: int, max_rounds: int) -> int:
    """How many levels up a case stands once overdue round ``round_`` is reached.

    >>> [escalation_level_for(r, 2) for r in (1, 2, 3)]
    [1, 2, 2]
    """
    return min(round_, max_rounds)


def stopping_actions(stage: Stage) -> frozenset[str]:
    """The actions that stop a running clock of ``stage``, by the clock plan: those that stop
    it, and those that start a new one while it runs (a reroute gives a new department a clock).

    >>> sorted(stopping_actions(Stage.FILE))
    ['close', 'file', 'not_found', 'void']
    >>> sorted(stopping_actions(Stage.HANDLE))
    ['close', 'handle', 'not_found', 'reroute', 'return', 'void']
    """
    found = set()
    for action, ops in CLOCK_PLAN.items():
        during = {STAGE_OF_STATE.get(state) for state in TRANSITIONS[action].sources}
        for op, target in ops:
            if (op == "stop" and target in (None, stage)) or (
                op == "start" and target == stage and stage in during
            ):
                found.add(action)
    return frozenset(found)
