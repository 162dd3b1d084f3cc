"""The official working-day calendar, its overrides and its loud fallback; `sla deadline`."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.processes import ROOT, service_env
from urbangrid.core.migrate import upgrade
from urbangrid.domain.calendar import OfficialCalendar, parse_notice
from urbangrid.domain.timelimits import (
    WeekendCalendar,
    add_limit,
    parse_limit,
    parse_windows,
    working_time_between,
)

TZ = ZoneInfo("Asia/Shanghai")


def test_spring_festival_2026_is_skipped_and_make_up_days_count() -> None:
    start = datetime(2026, 2, 13, 16, 0, tzinfo=TZ)  # Friday before the holiday
    deadline = add_limit(start, parse_limit("6wd"), calendar=OfficialCalendar(), tz=TZ)
    # Saturday 14 (make-up), then 24, 25, 26, 27 February, then Saturday 28 (make-up).
    assert deadline == datetime(2026, 2, 28, 16, 0, tzinfo=TZ)
    weekends_only = add_limit(start, parse_limit("6wd"), calendar=WeekendCalendar(), tz=TZ)
    assert weekends_only == datetime(2026, 2, 23, 16, 0, tzinfo=TZ)


def test_working_hours_stop_at_the_holiday_and_outside_windows() -> None:
    calendar = OfficialCalendar()
    # Saturday 14 Feb 2026 is a make-up working day: 16:00 + 2wh runs 1.5 h to 17:30 that day,
    # then the Spring Festival holiday, then 0.5 h on Tuesday 24 February.
    start = datetime(2026, 2, 14, 16, 0, tzinfo=TZ)
    assert add_limit(start, parse_limit("2wh"), calendar=calendar, tz=TZ) == datetime(
        2026, 2, 24, 9, 30, tzinfo=TZ
    )
    windows = parse_windows("08:30-11:30,14:00-18:00")
    lunch = datetime(2026, 3, 10, 11, 0, tzinfo=TZ)
    assert add_limit(
        lunch, parse_limit("1wh"), calendar=calendar, tz=TZ, windows=windows
    ) == datetime(2026, 3, 10, 14, 30, tzinfo=TZ)


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 1)),
    st.integers(min_value=1, max_value=60),
)
def test_working_hour_deadlines_land_in_office_hours_of_official_working_days(
    start: datetime, hours: int
) -> None:
    calendar = OfficialCalendar()
    begin = start.replace(tzinfo=TZ)
    deadline = add_limit(begin, parse_limit(f"{hours}wh"), calendar=calendar, tz=TZ).astimezone(TZ)
    assert calendar.is_workday(deadline.date())
    assert time(9) < deadline.time() <= time(12) or time(13) < deadline.time() <= time(17, 30)
    # And exactly that much office time lies between them.
    spent = working_time_between(begin, deadline, natural=False, calendar=calendar, tz=TZ)
    assert spent == timedelta(hours=hours)


def test_unknown_year_warns_once_and_falls_back_to_weekends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import urbangrid.domain.calendar as module

    module._warned_years.discard(2027)
    calendar = OfficialCalendar()
    with caplog.at_level(logging.WARNING, logger="urbangrid.domain.calendar"):
        start = datetime(2027, 2, 5, 16, 0, tzinfo=TZ)  # Friday; 2027's notice is not out
        deadline = add_limit(start, parse_limit("2wd"), calendar=calendar, tz=TZ)
        add_limit(start, parse_limit("3wd"), calendar=calendar, tz=TZ)
    assert deadline == datetime(2027, 2, 9, 16, 0, tzinfo=TZ)  # Monday 8, Tuesday 9
    assert calendar.fallback_years == {2027}
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING

    overridden = OfficialCalendar({date(2027, 2, 8): False, date(2027, 2, 6): True})
    # Saturday 6 is declared a working day and Monday 8 a day off: the override wins.
    assert add_limit(start, parse_limit("2wd"), calendar=overridden, tz=TZ) == datetime(
        2027, 2, 9, 16, 0, tzinfo=TZ
    )
    assert add_limit(start, parse_limit("1wd"), calendar=overridden, tz=TZ) == datetime(
        2027, 2, 6, 16, 0, tzinfo=TZ
    )
    entered = OfficialCalendar(entered_years=[2027])
    entered.is_workday(date(2027, 3, 1))
    assert entered.fallback_years == frozenset()


def test_notice_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"workdays\[0\]: .2027-02-31. is not a date"):
        parse_notice({"year": 2027, "workdays": ["2027-02-31"]})
    with pytest.raises(ValueError, match="both a holiday and a workday"):
        parse_notice({"year": 2027, "holidays": ["2027-02-06"], "workdays": ["2027-02-06"]})
    with pytest.raises(ValueError, match=r"^year"):
        parse_notice({"holidays": []})


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "urbangrid.commands.main", *args],
        env=service_env(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sla_deadline_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calendar.db'}"
    upgrade(url)
    env = {"URBANGRID_DATABASE_URL": url, "URBANGRID_VAR_DIR": str(tmp_path)}
    done = cli(["sla", "deadline", "--start", "2026-02-13T16:00:00+08:00", "--limit", "6wd"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2026-02-28T16:00:00+08:00"
    assert "warning" not in done.stderr

    week = ["sla", "deadline", "--start", "2027-02-05T16:00:00+08:00", "--limit", "2wd"]
    guessed = cli(week, env)
    assert guessed.stdout.strip() == "2027-02-09T16:00:00+08:00"
    assert "2027 is not in the official holiday calendar" in guessed.stderr

    notice = tmp_path / "2027.yaml"
    notice.write_text(
        "year: 2027\ncomplete: true\nnote: test notice\n"
        "holidays: ['2027-02-06..2027-02-12']\nworkdays: ['2027-02-14', '2027-02-20']\n",
        encoding="utf-8",
    )
    assert cli(["calendar", "load", str(notice)], env).returncode == 0
    entered = cli(week, env)
    # Friday 5 → Sunday 14 (make-up day) → Monday 15.
    assert entered.stdout.strip() == "2027-02-15T16:00:00+08:00"
    assert "warning" not in entered.stderr
    assert cli(["calendar", "set", "2027-02-15", "--day-off"], env).returncode == 0
    assert cli(week, env).stdout.strip() == "2027-02-16T16:00:00+08:00"

    bad = cli(["sla", "deadline", "--start", "2026-02-13T16:00", "--limit", "6 days"], env)
    assert bad.returncode == 2 and "--limit" in bad.stderr
