"""Routing rules, time limits and the taxonomy: pure rules, tested without a database."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from urbangrid.domain.routing import Rule, choose_department
from urbangrid.domain.taxonomy import load_taxonomy, parse_taxonomy
from urbangrid.domain.timelimits import WeekendCalendar, add_limit, parse_limit

TZ = ZoneInfo("Asia/Shanghai")
CELLS = ["310101", "310101002", "310101002003", "310101002003014"]


def test_most_specific_scope_wins_then_priority() -> None:
    rules = [
        Rule(1, "E0102", "", "city"),
        Rule(2, "E0102", "310101", "district"),
        Rule(3, "E0102", "310101002003", "community"),
        Rule(4, "E0102", "310101002003", "community-urgent", priority=5),
        Rule(5, "E0102", "310104", "other-district"),
        Rule(6, "E0103", "310101002003014", "other-category"),
    ]
    decision = choose_department(rules, category_code="E0102", cell_codes=CELLS, street_offices={})
    assert decision is not None and decision.department_code == "community-urgent"
    without = [r for r in rules if r.id not in (3, 4)]
    decision = choose_department(
        without, category_code="E0102", cell_codes=CELLS, street_offices={}
    )
    assert decision is not None and decision.department_code == "district"


def test_no_rule_no_office_is_none() -> None:
    assert choose_department([], category_code="E0102", cell_codes=CELLS, street_offices={}) is None


@pytest.mark.parametrize("text", ["", "4", "wh", "-2wd", "0h", "3 weeks", "2d"])
def test_bad_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="time limit"):
        parse_limit(text)


def test_working_hours_skip_lunch_and_night() -> None:
    start = datetime(2026, 3, 10, 11, 0, tzinfo=TZ)  # Tuesday
    # 1 h before lunch, lunch 12:00-13:00 not counted, 1 h after.
    assert add_limit(start, parse_limit("2wh"), calendar=WeekendCalendar(), tz=TZ) == datetime(
        2026, 3, 10, 14, 0, tzinfo=TZ
    )
    evening = datetime(2026, 3, 10, 20, 0, tzinfo=TZ)
    assert add_limit(evening, parse_limit("1wh"), calendar=WeekendCalendar(), tz=TZ) == datetime(
        2026, 3, 11, 10, 0, tzinfo=TZ
    )


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
    st.integers(min_value=1, max_value=40),
)
def test_working_hour_deadlines_fall_inside_office_windows(start: datetime, hours: int) -> None:
    deadline = add_limit(
        start.replace(tzinfo=TZ), parse_limit(f"{hours}wh"), calendar=WeekendCalendar(), tz=TZ
    )
    local = deadline.astimezone(TZ)
    assert local.weekday() < 5
    # Compared as times, not whole minutes: a start a microsecond past the hour ends a
    # microsecond past the opening, which is inside the window.
    clock = local.timetz().replace(tzinfo=None)
    assert time(9) < clock <= time(12) or time(13) < clock <= time(17, 30)


def test_starter_taxonomy_has_the_domain_codes() -> None:
    taxonomy = load_taxonomy()
    codes = {c.code for c in taxonomy.categories}
    assert {"E0102", "E0505", "C0101", "C0401"} <= codes and len(codes) == 20
    assert next(c for c in taxonomy.categories if c.code == "C0101").family == "component"


def test_taxonomy_errors_name_the_entry() -> None:
    with pytest.raises(ValueError, match=r"categories\[0\]\.department"):
        parse_taxonomy(
            {
                "department_kinds": {},
                "categories": [{"code": "E0102", "department": "nobody", "limit": "4wh"}],
            }
        )
    with pytest.raises(ValueError, match=r"categories\[1\]\.code: E0102 appears twice"):
        parse_taxonomy(
            {
                "department_kinds": {"s": {}},
                "categories": [
                    {"code": "E0102", "department": "s", "limit": "4wh"},
                    {"code": "E0102", "department": "s", "limit": "4wh"},
                ],
            }
        )
