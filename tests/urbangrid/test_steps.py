"""The evaluation per role (docs/domain.md §6) against its rules, on stories told step by step.

Each role's steps are judged by the stage clock the workflow ran for them (``lifecycle.record``
with the clocks running), here in natural hours: filing 1 h, dispatch 1 h, handling 24 h, the
on-site check 12 h, the whole case 48 h. The figures below are worked out by hand from the
stories, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlmodel import Session

from tests.urbangrid.small_city import NOW, Q1, TZ, Story, T, city_told, step
from urbangrid.domain.workflow import Role
from urbangrid.evaluation.formulas import parse_period
from urbangrid.evaluation.role_counts import count_steps
from urbangrid.evaluation.roles import StepCounts, step_rates
from urbangrid.evaluation.scope import Scope

LEAD1 = (Role.SHIFT_LEAD, "lead1")
LEAD2 = (Role.SHIFT_LEAD, "lead2")
DISP1 = (Role.DISPATCHER, "disp1")
DISP2 = (Role.DISPATCHER, "disp2")
STAFF1 = (Role.DEPARTMENT, "staff1")
STAFF2 = (Role.DEPARTMENT, "staff2")
SUP1 = (Role.SUPERVISOR, "sup1")
AUTO = (Role.SYSTEM, "rule:auto")

STORIES = [
    # Filed in 30 min (on time), dispatched 1.5 h after filing (late), handled in 4 h of its
    # 24 h, checked 14 h after handling and closed 4 h later (past the check clock's 12 h), the
    # whole case closed 24 h after the report (on time).
    Story(
        "s1",
        T("01-05 09:00"),
        [
            step("file", "01-05 09:30", who=LEAD1),
            step("dispatch", "01-05 11:00", who=DISP1),
            step("accept", "01-05 11:30", who=STAFF1),
            step("handle", "01-05 15:00", who=STAFF1),
            step("check_pass", "01-06 05:00", who=SUP1),
            step("close", "01-06 09:00", who=LEAD1),
        ],
    ),
    # Filed 3 h after the report (late), dispatched in 30 min to department B, then left:
    # the handling clock (to 01-11 12:30) and the whole case's (to 01-12 09:00) run overdue.
    Story(
        "s2",
        T("01-10 09:00"),
        [
            step("file", "01-10 12:00", who=LEAD2),
            step("dispatch", "01-10 12:30", who=DISP1, department="dept-b"),
            step("accept", "01-10 13:00", who=STAFF2),
        ],
    ),
    # Voided after 20 min: the filing step and the whole case end on time.
    Story("s3", T("01-20 09:00"), [step("void", "01-20 09:20", who=LEAD1)]),
    # Filed and dispatched in 10 min each, then suspended: its paused clocks are left out.
    Story(
        "s4",
        T("02-01 09:00"),
        [
            step("file", "02-01 09:10", who=LEAD1),
            step("dispatch", "02-01 09:20", who=DISP2),
            step("accept", "02-01 10:00", who=STAFF1),
            step("request_suspension", "02-01 12:00", who=STAFF1),
            step("suspend", "02-01 12:30", who=LEAD1),
        ],
    ),
    # Filed (5 min) and dispatched (1 min) by automation, then left: handling overdue from
    # 03-03 09:06, the whole case from 03-04 09:00.
    Story(
        "s5",
        T("03-02 09:00"),
        [step("file", "03-02 09:05", who=AUTO), step("dispatch", "03-02 09:06", who=AUTO)],
    ),
]

H = 3600.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def told(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with city_told(STORIES, request.param, tmp_path_factory) as url:
        yield url


def _rounded(found: dict[tuple[str, str, str | None], StepCounts]) -> dict[object, StepCounts]:
    return {key: value._replace(seconds=round(value.seconds)) for key, value in found.items()}


def test_each_role_in_q1_by_hand(session: Session) -> None:
    found = _rounded(count_steps(session, period=Q1, now=NOW))
    assert found == {
        # s1, s3 and s4 on time; s2 late. 30 + 180 + 20 + 10 min.
        ("file", "shift_lead", None): StepCounts(4, 4, 3, 1, 4 * H),
        ("file", "system", None): StepCounts(1, 1, 1, 0, 300),
        # s1 late, s2 and s4 on time: 90 + 30 + 10 min.
        ("dispatch", "dispatcher", None): StepCounts(3, 3, 2, 1, 130 * 60),
        ("dispatch", "system", None): StepCounts(1, 1, 1, 0, 60),
        # s1 handled in 4 h; s2 and s5 still running past their deadlines; s4 paused.
        ("handle", "department", None): StepCounts(3, 1, 1, 2, 4 * H),
        # The check clock runs until the case is closed (核查结案): 18 h, by the shift lead.
        ("check", "shift_lead", None): StepCounts(1, 1, 0, 1, 18 * H),
        # s1 closed in 24 h, s3 voided in 20 min; s2 and s5 overdue; s4 paused.
        ("case", "shift_lead", None): StepCounts(4, 2, 2, 2, 24 * H + 20 * 60),
    }
    rates = step_rates(found[("dispatch", "dispatcher", None)])
    assert rates["on_time_rate"] == pytest.approx(2 / 3)
    assert rates["average_hours"] == pytest.approx(130 / 60 / 3)


def test_each_member_of_staff_in_q1_by_hand(session: Session) -> None:
    found = _rounded(count_steps(session, period=Q1, now=NOW, by_actor=True))
    assert found == {
        ("file", "shift_lead", "lead1"): StepCounts(3, 3, 3, 0, 1 * H),
        ("file", "shift_lead", "lead2"): StepCounts(1, 1, 0, 1, 3 * H),
        ("file", "system", "rule:auto"): StepCounts(1, 1, 1, 0, 300),
        ("dispatch", "dispatcher", "disp1"): StepCounts(2, 2, 1, 1, 2 * H),
        ("dispatch", "dispatcher", "disp2"): StepCounts(1, 1, 1, 0, 600),
        ("dispatch", "system", "rule:auto"): StepCounts(1, 1, 1, 0, 60),
        ("handle", "department", "staff1"): StepCounts(1, 1, 1, 0, 4 * H),
        # Clocks still running belong to the stage's owner, with nobody to name yet.
        ("handle", "department", None): StepCounts(2, 0, 0, 2, 0),
        ("check", "shift_lead", "lead1"): StepCounts(1, 1, 0, 1, 18 * H),
        ("case", "shift_lead", "lead1"): StepCounts(2, 2, 2, 0, 24 * H + 20 * 60),
        ("case", "shift_lead", None): StepCounts(2, 0, 0, 2, 0),
    }


def test_a_department_filter_keeps_its_cases_steps(session: Session) -> None:
    found = _rounded(count_steps(session, period=Q1, now=NOW, scope=Scope(department="dept-b")))
    assert found == {
        ("file", "shift_lead", None): StepCounts(1, 1, 0, 1, 3 * H),
        ("dispatch", "dispatcher", None): StepCounts(1, 1, 1, 0, 1800),
        ("handle", "department", None): StepCounts(1, 0, 0, 1, 0),
        ("case", "shift_lead", None): StepCounts(1, 0, 0, 1, 0),
    }


def test_a_later_period_holds_none_of_these_steps(session: Session) -> None:
    q2 = parse_period("2026-Q2", tz=TZ, today=date(2026, 5, 1))
    assert count_steps(session, period=q2, now=NOW) == {}


def test_clocks_stopped_before_they_named_anyone_are_credited_by_their_events(
    session: Session,
) -> None:
    """The backfill (migration 0008, synthetic history) finds the same people as the steps."""
    from sqlalchemy import update

    from urbangrid.cases.clocks import credit_stops
    from urbangrid.core.tables import SlaClock

    before = count_steps(session, period=Q1, now=NOW, by_actor=True)
    table = SlaClock.__table__  # type: ignore[attr-defined]
    session.execute(update(table).values(stopped_by=None, stopped_role=None))
    anonymous = count_steps(session, period=Q1, now=NOW, by_actor=True)
    assert anonymous != before  # nobody named: every step falls to its stage's owner
    credit_stops(session.connection())
    assert count_steps(session, period=Q1, now=NOW, by_actor=True) == before
    session.rollback()
