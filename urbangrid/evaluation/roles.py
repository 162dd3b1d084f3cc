"""The evaluation per role (docs/domain.md §6): how promptly each step of the loop was taken.

Each role owns a stage clock: the shift lead files (立案), the dispatcher dispatches (派遣), the
department handles (处置), and the supervisor checks on site (核查) before the shift lead closes:
the check clock runs from handling to closing (核查结案). The whole case is the shift lead's. A
step is judged by its stage clock, the same one that escalates it: limits per category, working
time, extensions and pauses included. The centre reads 立案及时率, 派遣及时率, 处置按期率 and
核查结案及时率 from it, per role and per member of staff.

How a stage clock counts in a period ``P = [start, end)``, by the rules of the case measures:

* ``due``: clocks whose deadline falls in P, plus those stopped in P; a clock paused now (its
  case suspended) is left out, as a suspended case is.
* ``done``: due clocks stopped before the end of P; ``on_time`` those stopped by their deadline.
* ``overdue``: due clocks stopped after their deadline, or still running when it passed before
  the end of P (before now, for the current period).
* ``seconds``: the wall time from start to stop of the done clocks, for the mean step time.

A clock is credited to the role and the member of staff recorded on the event that stopped it
(automation's steps appear as the system's), and a clock not yet stopped to its stage's owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from urbangrid.domain.sla import Stage
from urbangrid.domain.workflow import Role
from urbangrid.evaluation.formulas import ratio

# Who answers for each stage's clock.
STAGE_OWNER: Mapping[Stage, Role] = {
    Stage.FILE: Role.SHIFT_LEAD,
    Stage.DISPATCH: Role.DISPATCHER,
    Stage.HANDLE: Role.DEPARTMENT,
    Stage.CHECK: Role.SUPERVISOR,
    Stage.CASE: Role.SHIFT_LEAD,
}

STAGE_NAMES: Mapping[Stage, tuple[str, str]] = {
    Stage.FILE: ("立案", "Filing"),
    Stage.DISPATCH: ("派遣", "Dispatch"),
    Stage.HANDLE: ("处置", "Handling"),
    Stage.CHECK: ("核查结案", "Check and close"),
    Stage.CASE: ("结案", "Whole case"),
}


class StepCounts(NamedTuple):
    """What SQL counts of one stage's clocks for one role (or member of staff) in a period."""

    due: int = 0
    done: int = 0
    on_time: int = 0
    overdue: int = 0
    seconds: float = 0.0


def step_rates(counts: StepCounts) -> dict[str, float | None]:
    """On-time and overdue rates (over due steps) and the mean step time in hours.

    >>> step_rates(StepCounts(due=4, done=3, on_time=2, overdue=2, seconds=3 * 5400))
    {'on_time_rate': 0.5, 'overdue_rate': 0.5, 'average_hours': 1.5}
    """
    mean = ratio(counts.seconds, counts.done)
    return {
        "on_time_rate": ratio(counts.on_time, counts.due),
        "overdue_rate": ratio(counts.overdue, counts.due),
        "average_hours": None if mean is None else mean / 3600,
    }
