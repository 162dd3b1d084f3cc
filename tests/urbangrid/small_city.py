"""A small city told step by step, on which the evaluation's figures are worked out by hand.

The cases are walked through ``lifecycle.record`` (the one place that applies an action) with
the SLA clocks running, so the columns the metrics read (the department's handling deadline, the
whole case's deadline) are exactly those the workflow keeps. The test classes count natural
hours: handling 24 h from dispatch, the whole case 48 h from the report, an extension adds to
both, a reopened case starts both again. ``tests/urbangrid/test_metrics.py`` and the rollup,
step and synthetic-history tests read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely
from sqlmodel import Session

from tests.reports import report_at, store_submitted
from tests.services import postgres_database
from urbangrid.cases.lifecycle import record
from urbangrid.cases.seed import upsert_department, upsert_taxonomy
from urbangrid.core.db import make_engine
from urbangrid.core.migrate import upgrade
from urbangrid.core.tables import Case, Category, GridArea, GridVersion
from urbangrid.domain.sla import ClockRules
from urbangrid.domain.taxonomy import load_taxonomy
from urbangrid.domain.timelimits import WeekendCalendar
from urbangrid.domain.workflow import Role
from urbangrid.evaluation.formulas import parse_period
from urbangrid.evaluation.refresh import refresh

TZ = ZoneInfo("Asia/Shanghai")
Q1 = parse_period("2026-Q1", tz=TZ, today=date(2026, 5, 1))
NOW = datetime(2026, 5, 1, 12, tzinfo=TZ)
RULES = ClockRules(WeekendCalendar(), TZ)

D1, D2 = "310101", "310104"
AREA1 = (D1, "310101001", "310101001001", "310101001001001")
AREA2 = (D2, "310104001", "310104001001", "310104001001001")

ROLES = {
    "file": Role.SYSTEM,
    "dispatch": Role.SYSTEM,
    "void": Role.SHIFT_LEAD,
    "accept": Role.DEPARTMENT,
    "return": Role.DEPARTMENT,
    "redispatch": Role.DISPATCHER,
    "request_extension": Role.DEPARTMENT,
    "extend": Role.SHIFT_LEAD,
    "request_suspension": Role.DEPARTMENT,
    "suspend": Role.SHIFT_LEAD,
    "resume": Role.SHIFT_LEAD,
    "handle": Role.DEPARTMENT,
    "check_fail": Role.SUPERVISOR,
    "check_pass": Role.SUPERVISOR,
    "close": Role.SHIFT_LEAD,
    "reopen": Role.SHIFT_LEAD,
    "rate": Role.CITIZEN,
    "escalate": Role.SYSTEM,
}


def T(text: str, year: int = 2026) -> datetime:
    """'01-05 10:00' in the city's time zone."""
    month_day, clock = text.split()
    month, day = (int(x) for x in month_day.split("-"))
    hour, minute = (int(x) for x in clock.split(":"))
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def seed_small_city(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        upsert_taxonomy(session, load_taxonomy())
        for code, name in (("E0199", "测试 Test litter"), ("E0599", "测试 Test parking")):
            session.add(
                Category(
                    code=code,
                    name_zh=name,
                    name_en=name,
                    family="event",
                    major=code[1:3],
                    minor=code[3:5],
                    department_kind="sanitation",
                    time_limit="24h",
                    file_limit="1h",
                    dispatch_limit="1h",
                    check_limit="12h",
                    case_limit="48h",
                )
            )
        upsert_department(session, "dept-a", "甲部门 Department A", "sanitation")
        upsert_department(session, "dept-b", "乙部门 Department B", "enforcement")
        version = GridVersion(label="two districts", is_active=True)
        session.add(version)
        session.flush()
        for offset, codes in enumerate((AREA1, AREA2)):
            box = shapely.MultiPolygon([shapely.box(121 + offset, 31, 121.5 + offset, 31.5)])
            for level, code in enumerate(codes, start=1):
                session.add(
                    GridArea(
                        version_id=version.id or 0,
                        level=level,
                        code=code,
                        name=f"area {code}",
                        parent_code=codes[level - 2] if level > 1 else None,
                        geom=box,
                    )
                )
        session.commit()
    engine.dispose()


@dataclass
class Story:
    """One case's life: where, what, who, and its steps with their times."""

    name: str
    created: datetime
    steps: list[tuple[str, datetime, dict[str, Any]]]
    department: str = "dept-a"
    area: tuple[str, str, str, str] = AREA1
    category: str = "E0199"


def step(action: str, at: str, **extra: Any) -> tuple[str, datetime, dict[str, Any]]:
    year = int(extra.pop("year", 2026))
    return (action, T(at, year), extra)


def filed(at: str, *, year: int = 2026) -> list[Any]:
    return [step("file", at, year=year), step("dispatch", at, year=year)]


# HD: the department's handling deadline (dispatch + 24 h); CD: the case's (report + 48 h).
STORIES = [
    # On time all the way, rated 5. HD 01-06 09:10, CD 01-07 09:00.
    Story(
        "c1",
        T("01-05 09:00"),
        [
            *filed("01-05 09:10"),
            step("accept", "01-05 10:00"),
            step("handle", "01-05 15:00"),
            step("check_pass", "01-05 16:00"),
            step("close", "01-06 09:00"),
            step("rate", "01-06 12:00", score=5),
        ],
    ),
    # Handled and closed late, rated 2. HD 02-02 09:05, CD 02-03 09:00.
    Story(
        "c2",
        T("02-01 09:00"),
        [
            *filed("02-01 09:05"),
            step("accept", "02-01 10:00"),
            step("handle", "02-03 10:00"),
            step("check_pass", "02-03 12:00"),
            step("close", "02-04 09:00"),
            step("rate", "02-04 18:00", score=2),
        ],
    ),
    # CD 04-01 09:00, after the quarter; closed early inside it: due because closed in it.
    Story(
        "c3",
        T("03-30 09:00"),
        [
            *filed("03-30 09:05"),
            step("accept", "03-30 10:00"),
            step("handle", "03-30 20:00"),
            step("check_pass", "03-31 11:00"),
            step("close", "03-31 15:00"),
        ],
    ),
    # Still in progress long after its deadlines (HD 03-02 09:05, CD 03-03 09:00).
    Story("c4", T("03-01 09:00"), [*filed("03-01 09:05"), step("accept", "03-01 10:00")]),
    # Suspended and still suspended: out of every denominator.
    Story(
        "c5",
        T("02-10 09:00"),
        [
            *filed("02-10 09:05"),
            step("accept", "02-10 10:00"),
            step("request_suspension", "02-11 08:00"),
            step("suspend", "02-11 08:30"),
        ],
    ),
    # Reworked once, then handled by its deadline: rework does not reset it (HD 01-11 09:05).
    Story(
        "c6",
        T("01-10 09:00"),
        [
            *filed("01-10 09:05"),
            step("accept", "01-10 10:00"),
            step("handle", "01-10 20:00"),
            step("check_fail", "01-11 08:00"),
            step("handle", "01-11 09:00"),
            step("check_pass", "01-11 10:00"),
            step("close", "01-11 15:00"),
        ],
    ),
    # Dispatched to B, returned by B, re-dispatched to A (HD 01-22 09:00), closed by CD 01-22 09:00.
    Story(
        "c7",
        T("01-20 09:00"),
        [
            step("file", "01-20 09:05"),
            step("dispatch", "01-20 09:05", department="dept-b"),
            step("return", "01-20 15:00"),
            step("redispatch", "01-21 09:00", department="dept-a"),
            step("accept", "01-21 10:00"),
            step("handle", "01-21 20:00"),
            step("check_pass", "01-22 08:00"),
            step("close", "01-22 08:30"),
        ],
    ),
    # Extended by 48 h: HD 02-16 09:05 → 02-18 09:05, CD 02-17 09:00 → 02-19 09:00; on time.
    Story(
        "c8",
        T("02-15 09:00"),
        [
            *filed("02-15 09:05"),
            step("accept", "02-15 10:00"),
            step("request_extension", "02-15 15:00", by="48h"),
            step("extend", "02-15 16:00", by="48h"),
            step("handle", "02-18 08:00"),
            step("check_pass", "02-18 09:00"),
            step("close", "02-18 15:00"),
        ],
    ),
    # Closed on time, rated 1, reopened 01-06 09:00 (HD 01-07 09:00, CD 01-08 09:00), late.
    Story(
        "c9",
        T("01-03 09:00"),
        [
            *filed("01-03 09:05"),
            step("accept", "01-03 10:00"),
            step("handle", "01-03 20:00"),
            step("check_pass", "01-04 08:00"),
            step("close", "01-04 09:00"),
            step("rate", "01-04 18:00", score=1),
            step("reopen", "01-06 09:00"),
            step("handle", "01-08 09:00"),
            step("check_pass", "01-08 15:00"),
            step("close", "01-09 09:00"),
        ],
    ),
    # Closed, reopened 03-13 09:00 (HD 03-14 09:00, CD 03-15 09:00) and not closed again.
    Story(
        "c10",
        T("03-10 09:00"),
        [
            *filed("03-10 09:05"),
            step("accept", "03-10 10:00"),
            step("handle", "03-10 20:00"),
            step("check_pass", "03-11 08:00"),
            step("close", "03-11 09:00"),
            step("reopen", "03-13 09:00"),
        ],
    ),
    # A duplicate, voided before filing: received, nothing else.
    Story("c11", T("02-20 09:00"), [step("void", "02-20 10:00")]),
    # Next quarter's case (HD 04-06 09:05): open now and overdue, nothing in Q1.
    Story("c12", T("04-05 09:00"), [*filed("04-05 09:05"), step("accept", "04-05 10:00")]),
    # Department B, district 2, another class: handled and closed late (HD 02-06, CD 02-07 09:00).
    Story(
        "c13",
        T("02-05 09:00"),
        [
            *filed("02-05 09:05"),
            step("accept", "02-05 10:00"),
            step("handle", "02-07 09:00"),
            step("check_pass", "02-07 10:00"),
            step("close", "02-07 15:00"),
            step("rate", "02-08 09:00", score=4),
        ],
        department="dept-b",
        area=AREA2,
        category="E0599",
    ),
    # Filed in December, extended by 96 h into the quarter (HD 01-02 09:05, CD 01-03 09:00) and
    # closed on the deadline's very minute.
    Story(
        "c14",
        T("12-28 09:00", 2025),
        [
            *filed("12-28 09:05", year=2025),
            step("accept", "12-28 10:00", year=2025),
            step("request_extension", "12-28 15:00", year=2025, by="96h"),
            step("extend", "12-28 16:00", year=2025, by="96h"),
            step("handle", "01-01 09:00"),
            step("check_pass", "01-01 10:00"),
            step("close", "01-03 09:00"),
        ],
    ),
    # Due in December (HD 12-30 09:05, CD 12-31 09:00), handled and closed in the quarter: late.
    Story(
        "c15",
        T("12-29 09:00", 2025),
        [
            *filed("12-29 09:05", year=2025),
            step("accept", "12-29 10:00", year=2025),
            step("handle", "01-02 09:00"),
            step("check_pass", "01-02 10:00"),
            step("close", "01-02 15:00"),
        ],
    ),
]


def tell(session: Session, story: Story) -> Case:
    report = report_at(
        121.2,
        31.2,
        token=f"story-{story.name}",
        category=story.category,
        created_at=story.created,
        updated_at=story.created,
    )
    case = store_submitted(session, report, actor="citizen", role="citizen")
    for action, at, extra in story.steps:
        values: dict[str, Any] = {}
        detail: dict[str, Any] = {}
        if action == "file":
            codes = dict(zip(("l1_code", "l2_code", "l3_code", "l4_code"), story.area, strict=True))
            values = {**codes, "routed_at": at}
        elif action in ("dispatch", "redispatch"):
            values = {"department_code": extra.get("department", story.department)}
        elif action in ("request_extension", "extend"):
            detail = {"by": extra["by"]}
        elif action == "rate":
            detail = {"score": extra["score"]}
        # Who took the step: (role, actor) when the story names them.
        role, actor = extra.get("who", (ROLES[action], f"{ROLES[action]}:test"))
        record(
            session,
            case,
            action,
            actor=actor,
            role=role,
            at=at,
            values=values,
            detail=detail,
            rules=RULES,
        )
    return case


@contextmanager
def city_told(
    stories: list[Story], kind: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A small city on ``kind`` (sqlite or postgres, +rollups to build them) with ``stories``
    told in it; its URL."""

    def tell_all(url: str) -> None:
        seed_small_city(url)
        engine = make_engine(url)
        with Session(engine) as session:
            for story in stories:
                tell(session, story)
            session.commit()
        if kind.endswith("+rollups"):
            refresh(engine, tz=str(TZ))
        engine.dispose()

    if kind.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'metrics.db'}"
        tell_all(url)
        yield url
    else:
        with postgres_database() as url:
            tell_all(url)
            yield url
