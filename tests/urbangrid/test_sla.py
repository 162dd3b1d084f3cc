"""SLA clock arithmetic: pauses, extensions, rework, marks fired once however often swept."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from urbangrid.domain import sla
from urbangrid.domain.calendar import OfficialCalendar
from urbangrid.domain.sla import ClockRules, Stage
from urbangrid.domain.timelimits import parse_limits

TZ = ZoneInfo("Asia/Shanghai")
RULES = ClockRules(OfficialCalendar(), TZ)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def test_suspension_pushes_the_deadline_by_the_working_time_paused() -> None:
    clock = sla.start(Stage.HANDLE, at(10, 9), parse_limits("4wh"))  # Tuesday
    assert sla.deadline(clock, RULES) == at(10, 14)
    paused = sla.pause(clock, at(10, 10))
    assert sla.next_due(paused, RULES) is None  # the sweep leaves a paused clock alone
    # Paused from Tuesday 10:00 to Thursday 10:00: two office days, 15 working hours.
    resumed = sla.resume(paused, at(12, 10), RULES)
    assert resumed.paused_s == 15 * 3600
    assert sla.deadline(resumed, RULES) == at(12, 14)
    assert sla.warn_at(resumed, RULES) == at(12, 13, 12)

    natural = sla.start(Stage.HANDLE, at(10, 9), parse_limits("2h"))
    back = sla.resume(sla.pause(natural, at(10, 10)), at(10, 22), RULES)
    assert sla.deadline(back, RULES) == at(10, 23)


def test_extension_moves_the_deadline_and_warns_again() -> None:
    clock = replace(sla.start(Stage.HANDLE, at(10, 9), parse_limits("4wh")), step=1)
    extended = sla.extend(clock, parse_limits("1wd"), at(10, 13, 30), RULES)
    assert sla.deadline(extended, RULES) == at(11, 14)
    # 80 % of 4wh + 1wd (11.5 working hours) is 9.2 h in: Wednesday 10:42.
    assert sla.warn_at(extended, RULES) == at(11, 10, 42)
    assert extended.step == 0
    late = sla.extend(clock, parse_limits("1wh"), at(10, 14, 30), RULES)
    assert late.step == 1  # already inside the new warning window: not warned twice


def test_rework_does_not_reset_the_clock() -> None:
    clock = sla.start(Stage.HANDLE, at(10, 9), parse_limits("4wh"))
    handled = sla.stop(clock, at(10, 12))
    again = sla.reopen(handled)
    assert sla.deadline(again, RULES) == sla.deadline(clock, RULES)
    assert again.running and sla.next_due(again, RULES) == sla.warn_at(clock, RULES)


def test_marks_run_to_the_district_then_stop() -> None:
    clock = sla.start(Stage.HANDLE, at(10, 9), parse_limits("1wh"))
    marks = sla.due_marks(clock, at(20, 9), RULES)
    assert [(m.kind, m.round) for m in marks] == [("warn", 0), ("overdue", 1), ("overdue", 2)]
    assert [m.due_at for m in marks] == [at(10, 9, 48), at(10, 10), at(10, 11)]
    assert [sla.escalation_level_for(m.round, RULES.max_rounds) for m in marks[1:]] == [1, 2]
    assert sla.next_due(replace(clock, step=marks[-1].step), RULES) is None


@given(
    limit=st.sampled_from(["30min", "2h", "4wh", "2wd", "1wh+1wh+4wh+1wd"]),
    start_offset_h=st.integers(min_value=0, max_value=24 * 14),
    sweeps=st.lists(st.integers(min_value=1, max_value=24 * 60), min_size=1, max_size=30),
)
def test_sweeping_at_any_times_fires_each_mark_once_in_order(
    limit: str, start_offset_h: int, sweeps: list[int]
) -> None:
    start = at(2, 0) + timedelta(hours=start_offset_h)
    clock = sla.start(Stage.HANDLE, start, parse_limits(limit))
    now = start
    fired: list[sla.Mark] = []
    for minutes in sweeps:
        now += timedelta(minutes=minutes)
        marks = sla.due_marks(clock, now, RULES)
        assert all(m.due_at <= now for m in marks)
        if marks:
            clock = replace(clock, step=marks[-1].step)
        fired += marks
    assert fired == sla.due_marks(sla.start(Stage.HANDLE, start, parse_limits(limit)), now, RULES)
    assert [m.step for m in fired] == list(range(1, len(fired) + 1))
    assert [m.due_at for m in fired] == sorted(m.due_at for m in fired)
    next_due = sla.next_due(clock, RULES)
    assert next_due is None or next_due > now
