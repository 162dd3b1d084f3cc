"""Every measure of docs/domain.md §6 against its formula, on the small city of
``tests/urbangrid/small_city.py``: the expected figures are worked out by hand from its stories,
on SQLite and on PostgreSQL alike, counted live and from the rollups.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from tests.urbangrid.small_city import (
    AREA1,
    D1,
    D2,
    NOW,
    Q1,
    STORIES,
    TZ,
    T,
    city_told,
)
from urbangrid.domain.scoring import DEFAULT_POLICY
from urbangrid.evaluation.formulas import rates
from urbangrid.evaluation.queue import open_now, work_queue
from urbangrid.evaluation.read import count_cases
from urbangrid.evaluation.report import evaluate, received_per_bucket, trend
from urbangrid.evaluation.scope import Dimension, Scope, UnknownFilter


@pytest.fixture(
    scope="module",
    params=["sqlite", "sqlite+rollups", "postgres", "postgres+rollups"],
)
def told(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small city with the stories above told in it, counted live or from the rollups."""
    with city_told(STORIES, request.param, tmp_path_factory) as url:
        yield url


def hours(*spans: tuple[str, str]) -> float:
    return sum((T(b) - T(a)).total_seconds() for a, b in spans) / 3600


def test_department_a_in_q1_by_hand(session: Session) -> None:
    counts = count_cases(session, period=Q1, by=Dimension.DEPARTMENTS, now=NOW)["dept-a"]
    # due: c1 c2 c3 c4 c6 c7 c8 c9 c10 c14 c15 (c5 suspended, c11 void, c12 next quarter)
    assert counts.due == 11
    assert counts.closed == 9  # all but c4 (open) and c10 (reopened)
    assert counts.closed_on_time == 6  # c1 c3 c6 c7 c8 c14 (by their whole-case deadlines)
    assert counts.overdue == 5  # c2 c9 c15 closed late, c4 c10 still open
    assert counts.handling_due == 11
    assert counts.handled_on_time == 6  # c1 c3 c6 (second handle) c7 c8 c14 (by their HD)
    assert counts.handled == 9
    assert counts.reworked == 1  # c6
    assert counts.reopened == 1  # c9: reclosed; c10 is open
    assert counts.filed == 9  # c14 c15 filed in December, c5 suspended
    assert counts.extended == 1  # c8
    assert counts.received == 10  # c1..c10 (c5 too: received is every report)
    assert counts.dispatches == 10  # c1..c10 but c7 counts its redispatch to A
    assert counts.returns == 0
    assert counts.ratings == 3 and counts.satisfied == 1  # c1 5, c2 2, c9 1
    assert counts.handling_timed == 9
    expected = hours(
        ("01-05 09:10", "01-05 15:00"),
        ("02-01 09:05", "02-03 10:00"),
        ("03-30 09:05", "03-30 20:00"),
        ("01-10 09:05", "01-11 09:00"),
        ("01-21 09:00", "01-21 20:00"),
        ("02-15 09:05", "02-18 08:00"),
        ("01-03 09:05", "01-08 09:00"),
    )
    expected += (T("01-01 09:00") - T("12-28 09:05", 2025)).total_seconds() / 3600
    expected += (T("01-02 09:00") - T("12-29 09:05", 2025)).total_seconds() / 3600
    assert counts.handling_seconds / 3600 == pytest.approx(expected, abs=1e-3)

    measured = rates(counts)
    assert measured["closure_rate"] == pytest.approx(9 / 11)
    assert measured["on_time_closure_rate"] == pytest.approx(6 / 11)
    assert measured["on_time_handling_rate"] == pytest.approx(6 / 11)
    assert measured["overdue_rate"] == pytest.approx(5 / 11)
    assert measured["rework_rate"] == pytest.approx(1 / 9)
    assert measured["extension_rate"] == pytest.approx(1 / 9)
    assert measured["reopen_rate"] == pytest.approx(1 / 9)
    assert measured["return_rate"] == 0.0
    assert measured["accurate_dispatch_rate"] == 1.0
    assert measured["satisfaction_rate"] == pytest.approx(1 / 3)


def test_returns_count_against_the_department_that_returned(session: Session) -> None:
    counts = count_cases(session, period=Q1, by=Dimension.DEPARTMENTS, now=NOW)["dept-b"]
    assert (counts.dispatches, counts.returns) == (2, 1)  # c7 (returned) and c13
    assert rates(counts)["return_rate"] == pytest.approx(0.5)
    assert rates(counts)["accurate_dispatch_rate"] == pytest.approx(0.5)
    # c13 is B's only case: due, closed, late.
    assert (counts.due, counts.closed, counts.closed_on_time, counts.overdue) == (1, 1, 0, 1)
    assert (counts.ratings, counts.satisfied) == (1, 1)


def test_composite_score_and_ranking(session: Session) -> None:
    rows = {
        e.key: e for e in evaluate(session, period=Q1, by=Dimension.DEPARTMENTS, now=NOW, lang="en")
    }
    a = rows["dept-a"]
    assert a.score == pytest.approx(30 * 9 / 11 + 30 * 6 / 11 + 30 * (1 - 1 / 9) + 4, abs=1e-6)
    assert a.grade == "C" and a.rank == 1
    b = rows["dept-b"]
    # B: closure 1/1, on-time handling 0/1, no rework: 30 + 0 + 30 + 4.
    assert b.score == pytest.approx(64.0) and b.grade == "C" and b.rank == 2
    assert a.name == "甲部门 Department A"


def test_totals_areas_and_categories_add_up(session: Session) -> None:
    total = count_cases(session, period=Q1, now=NOW)["all"]
    by_department = count_cases(session, period=Q1, by=Dimension.DEPARTMENTS, now=NOW)
    assert total.due == 12 and total.closed == 10
    summed = by_department["dept-a"].plus(by_department["dept-b"])
    assert summed.due == total.due and summed.closed_on_time == total.closed_on_time
    # The void report has no department but is received.
    assert total.received == 12 and by_department[None].received == 1
    districts = count_cases(session, period=Q1, by=Dimension.DISTRICTS, now=NOW)
    assert districts[D1].due == 11 and districts[D2].due == 1
    for level, dimension in enumerate(
        (Dimension.STREETS, Dimension.COMMUNITIES, Dimension.CELLS), start=2
    ):
        assert count_cases(session, period=Q1, by=dimension, now=NOW)[AREA1[level - 1]].due == 11
    categories = count_cases(session, period=Q1, by=Dimension.CATEGORIES, now=NOW)
    assert categories["E0199"].due == 11 and categories["E0599"].due == 1
    majors = count_cases(session, period=Q1, by=Dimension.MAJORS, now=NOW)
    assert majors["E01"].due == 11 and majors["E05"].due == 1


def test_filters(session: Session) -> None:
    def due(scope: Scope) -> int:
        return count_cases(session, period=Q1, scope=scope, now=NOW).get("all", _zero()).due

    assert due(Scope(area=D2)) == 1
    assert due(Scope(area=AREA1[2])) == 11
    assert due(Scope(category="E05")) == 1
    assert due(Scope(category="E0199", department="dept-a")) == 11
    assert due(Scope(category="E0199", department="dept-b")) == 0
    # Event figures follow the filters too: B's return of c7 happened in district 1.
    b_in_d1 = count_cases(
        session, period=Q1, by=Dimension.DEPARTMENTS, scope=Scope(area=D1), now=NOW
    )
    assert b_in_d1["dept-b"].returns == 1 and b_in_d1["dept-b"].due == 0
    for scope, field in (
        (Scope(area="999999"), "area"),
        (Scope(department="nobody"), "department"),
        (Scope(category="X1"), "category"),
    ):
        with pytest.raises(UnknownFilter) as refused:
            count_cases(session, period=Q1, scope=scope, now=NOW)
        assert refused.value.field == field


def _zero() -> Any:
    from urbangrid.evaluation.formulas import Counts

    return Counts()


def test_a_running_period_is_judged_at_now(session: Session) -> None:
    # Judged on 03-02, c4 (deadline 03-03) is not yet overdue; judged after the quarter, it is.
    early = count_cases(session, period=Q1, by=Dimension.DEPARTMENTS, now=T("03-02 12:00"))
    late = count_cases(session, period=Q1, by=Dimension.DEPARTMENTS, now=NOW)
    assert late["dept-a"].overdue - early["dept-a"].overdue == 2  # c4 and c10


def test_open_now_and_the_work_queue(session: Session) -> None:
    snapshot = open_now(session, now=NOW)["all"]
    # Open: c4, c10 (reopened), c12, and c5 suspended.
    assert (snapshot.open, snapshot.suspended, snapshot.overdue) == (4, 1, 3)
    at_risk_moment = T("04-06 07:00")  # c12: 21h55 of its 24h from dispatch gone
    assert open_now(session, now=at_risk_moment)["all"].at_risk == 1
    queue = work_queue(session, scope=Scope(department="dept-a"), now=at_risk_moment)
    assert [item.clock for item in queue] == ["overdue", "overdue", "at_risk", "paused"]
    assert queue[2].seconds_left == pytest.approx(2 * 3600 + 5 * 60)


def test_trend_buckets_sum_to_the_period(session: Session) -> None:
    points = trend(session, period=Q1, unit="month", tz=TZ, now=NOW)
    assert [p.bucket for p in points] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    by_major = trend(session, period=Q1, unit="week", tz=TZ, by=Dimension.MAJORS, now=NOW)
    received = received_per_bucket(session, period=Q1, unit="week", tz=TZ, by=Dimension.MAJORS)
    assert received == {(p.bucket, p.key): p.counts.received for p in by_major if p.counts.received}
    assert sum(received.values()) == 12
    assert sum(p.counts.received for p in points) == 12
    assert (
        sum(p.counts.filed for p in points) == count_cases(session, period=Q1, now=NOW)["all"].filed
    )


def test_policy_weights_come_from_settings(session: Session) -> None:
    from urbangrid.domain.scoring import ScorePolicy

    only_closure = ScorePolicy(
        weights={"closure_rate": 100}, volume_bands=(), grades=DEFAULT_POLICY.grades
    )
    rows = {
        e.key: e
        for e in evaluate(
            session, period=Q1, by=Dimension.DEPARTMENTS, now=NOW, policy=only_closure
        )
    }
    assert rows["dept-a"].score == pytest.approx(100 * 9 / 11)


def test_quarter_boundaries_are_local_midnight() -> None:
    assert Q1.start == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert Q1.end - Q1.start == timedelta(days=90)
