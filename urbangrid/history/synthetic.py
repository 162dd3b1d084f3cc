"""A synthetic season of cases: every state of the closed loop, with departments that differ.

Pure and deterministic: the same inputs and seed give the same cases and events, built only from
the domain's rules (routing, time limits, the transition table), so the history looks like what
the pipeline itself would have recorded. ``urbangrid demo seed`` lays down a few thousand cases
so every dashboard page has figures on the first run; ``urbangrid bench dashboard`` a million.

Each department gets a profile from its code: how fast it handles cases relative to their time
limit (a log-normal spread around its own median), and how often it returns, reworks, extends and
suspends, so that closure and on-time rates spread the way a real city's do.

Deadlines come from the SLA clocks exactly as ``lifecycle.record`` moves them (the plan of
``urbangrid.domain.sla``: a clock per stage and one for the whole case, paused while suspended,
pushed by extensions), so the columns the metrics read are the ones the live system would hold.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from urbangrid.domain import sla
from urbangrid.domain.routing import Rule, choose_department
from urbangrid.domain.sla import CLOCK_PLAN, Clock, ClockRules, Stage
from urbangrid.domain.states import OPEN_STATES, CaseState
from urbangrid.domain.timelimits import Limits, WorkCalendar, format_limits, parse_limits
from urbangrid.domain.workflow import TRANSITIONS, Role, apply
from urbangrid.history.records import CaseRecord

S = CaseState


@dataclass(frozen=True)
class Place:
    """A point inside a base cell, with the cell's four codes."""

    codes: tuple[str, str, str, str]
    lon: float
    lat: float


@dataclass(frozen=True)
class Kind:
    """A category as the generator needs it: its clocks' limits per stage (and whole case)."""

    code: str
    limits: Mapping[Stage, Limits]
    needs_verification: bool = False
    weight: float = 1.0

    @classmethod
    def of(
        cls,
        code: str,
        *,
        handle: str,
        file: str = "1wh",
        dispatch: str = "1wh",
        check: str = "1wd",
        case: str = "",
        needs_verification: bool = False,
        weight: float = 1.0,
    ) -> Kind:
        """A category from its limits as written in the taxonomy ("" chains the four stages)."""
        stages = {
            Stage.FILE: parse_limits(file),
            Stage.DISPATCH: parse_limits(dispatch),
            Stage.HANDLE: parse_limits(handle),
            Stage.CHECK: parse_limits(check),
        }
        whole = parse_limits(case) if case else sum(stages.values(), ())
        return cls(code, {**stages, Stage.CASE: whole}, needs_verification, weight)


@dataclass(frozen=True)
class Profile:
    """How one department works (drawn from its code, so stable across runs)."""

    median_share: float  # median handling time as a share of the time limit
    sigma: float  # log-normal spread of handling times
    p_return: float  # share of its dispatches that were misrouted to it and come back
    p_rework: float
    p_extend: float
    p_suspend: float
    p_stall: float  # share of accepted cases nobody gets round to (the backlog)
    satisfaction: float  # mean rating, 1..5

    @classmethod
    def of(cls, department: str, seed: int) -> Profile:
        rng = random.Random(zlib.crc32(department.encode()) ^ seed)
        return cls(
            median_share=rng.choice((0.25, 0.35, 0.45, 0.55, 0.7, 0.85, 1.05)),
            sigma=rng.uniform(0.45, 1.0),
            p_return=rng.uniform(0.01, 0.10),
            p_rework=rng.uniform(0.02, 0.14),
            p_extend=rng.uniform(0.01, 0.07),
            p_suspend=rng.uniform(0.003, 0.02),
            p_stall=rng.choice((0.0, 0.0, 0.003, 0.006, 0.015, 0.03)),
            satisfaction=rng.uniform(3.4, 4.7),
        )


@dataclass
class _Walk:
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

    def step(
        self,
        action: str,
        at: datetime,
        role: Role,
        actor: str,
        *,
        note: str = "",
        detail: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> bool:
        """Take a step unless it lies in the future; False once the walk has reached now."""
        if self.stopped:
            return False
        self.sweep(min(at, self.now))
        if at > self.now:
            self.stopped = True
            return False
        return self._record(action, at, role, actor, note=note, detail=detail, values=values)

    def _record(
        self,
        action: str,
        at: datetime,
        role: Role,
        actor: str,
        *,
        note: str = "",
        detail: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> bool:
        before = self.state
        after = apply(before, action, role) if action in TRANSITIONS else before
        assert after is not None
        changes = dict(values or {})
        department = changes.get("department_code") or self.case["department_code"]
        self.case.update(changes)
        self.case["state"] = after
        self.case["updated_at"] = at
        stamp = _STAMPS.get(action)
        if stamp:
            self.case[stamp] = at
        counter = _COUNTS.get(action)
        if counter:
            self.case[counter] += 1
        self.events.append(
            {
                "at": at,
                "action": action,
                "from_state": before,
                "to_state": after,
                "actor": actor,
                "role": role,
                "note": note,
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


# The milestone columns and counters ``urbangrid.cases.lifecycle.record`` keeps; a test replays
# synthetic logs through ``record`` and checks the columns come out the same.
_STAMPS = {
    "file": "filed_at",
    "dispatch": "dispatched_at",
    "redispatch": "dispatched_at",
    "handle": "handled_at",
    "close": "closed_at",
}
_COUNTS = {
    "check_fail": "rework_count",
    "return": "return_count",
    "extend": "extension_count",
    "reopen": "reopen_count",
    "escalate": "escalation_level",
}

_RETURN_REASONS = (
    "不属于本部门职责 not ours",
    "位置不在辖区 outside our area",
    "权属不清 owner unclear",
)
_DESCRIPTIONS = ("市民反映 reported by a resident", "网格巡查发现 found on patrol")


class Season:
    """Generates synthetic cases over ``[start, now)`` for a city's places and categories."""

    def __init__(
        self,
        *,
        places: Sequence[Place],
        kinds: Sequence[Kind],
        rules: Sequence[Rule],
        street_offices: Mapping[str, str],
        departments: Sequence[str],
        clock_rules: ClockRules,
        home_level: int = 3,
        seed: int = 2026,
    ) -> None:
        if not places or not kinds:
            raise ValueError("a season needs at least one place and one category")
        self.places = list(places)
        self.kinds = list(kinds)
        self.rules = list(rules)
        self.offices = dict(street_offices)
        self.departments = sorted(departments)
        self._known = frozenset(departments)
        # A season asks the calendar about the same few hundred days again and again.
        self.clock_rules = replace(clock_rules, calendar=_RememberingCalendar(clock_rules.calendar))
        self.home_level = home_level
        self.tz = clock_rules.tz
        self.seed = seed
        self._weights = [k.weight for k in kinds]
        self._decisions: dict[tuple[str, tuple[str, str, str, str]], str | None] = {}
        self._profiles: dict[str, Profile] = {}

    def profile(self, department: str) -> Profile:
        found = self._profiles.get(department)
        if found is None:
            found = self._profiles[department] = Profile.of(department, self.seed)
        return found

    def _department(self, kind: str, codes: tuple[str, str, str, str]) -> str | None:
        key = (kind, codes)
        if key not in self._decisions:
            decision = choose_department(
                self.rules, category_code=kind, cell_codes=list(codes), street_offices=self.offices
            )
            self._decisions[key] = decision.department_code if decision else None
        return self._decisions[key]

    def cases(
        self, count: int, *, start: datetime, now: datetime, first_id: int = 1
    ) -> Iterator[CaseRecord]:
        """``count`` cases reported between ``start`` and ``now``, each walked up to ``now``."""
        if now <= start:
            raise ValueError("a season must end after it starts")
        rng = random.Random(self.seed)
        span = (now - start).total_seconds()
        # Ids follow the order reports arrived in, as they do in a live system (which also keeps
        # each period's rows together on disk, as the pipeline's own inserts would).
        moments = sorted(self._created(rng, start, span) for _ in range(count))
        for number, created in enumerate(moments):
            yield self._walk(rng, first_id + number, created, now)

    def _created(self, rng: random.Random, start: datetime, span: float) -> datetime:
        # Reports follow the day: few at night, most in the morning and afternoon.
        moment = start + timedelta(seconds=rng.random() * span)
        hour = rng.choices(range(24), weights=_HOURLY)[0]
        local = moment.astimezone(self.tz).replace(
            hour=hour, minute=rng.randrange(60), second=rng.randrange(60)
        )
        shifted = local.astimezone(moment.tzinfo)
        return shifted if start <= shifted <= start + timedelta(seconds=span) else moment

    def _walk(
        self, rng: random.Random, case_id: int, created: datetime, now: datetime
    ) -> CaseRecord:
        kind = rng.choices(self.kinds, weights=self._weights)[0]
        place = rng.choice(self.places)
        citizen = rng.random() < 0.6
        department = self._department(kind.code, place.codes)
        case: dict[str, Any] = {
            "id": case_id,
            "tracking_token": f"synthetic-{self.seed}-{case_id}",
            "category_code": kind.code,
            "description": _DESCRIPTIONS[0 if citizen else 1],
            "input_crs": "wgs84",
            "input_lat": place.lat,
            "input_lon": place.lon,
            "lat": place.lat,
            "lon": place.lon,
            "state": None,
            "grid_version_id": None,
            "l1_code": None,
            "l2_code": None,
            "l3_code": None,
            "l4_code": None,
            "department_code": None,
            "routing_rule_id": None,
            "created_at": created,
            "updated_at": created,
            "deadline_at": None,
            "routed_at": None,
            "published_at": None,
            "publish_attempts": 0,
            "filed_at": None,
            "dispatched_at": None,
            "handled_at": None,
            "closed_at": None,
            "rework_count": 0,
            "return_count": 0,
            "extension_count": 0,
            "reopen_count": 0,
            "escalation_level": 0,
            "stage": None,
            "stage_deadline_at": None,
            "case_deadline_at": None,
            "escalated_to": None,
            "flag": None,
            "pending_request": None,
            # Intake's columns (migration 0003_intake): the channel, and no contact or link.
            "channel": "api",
            "client_id": None,
            "contact": None,
            "address": None,
            "media_url": None,
            "duplicate_of": None,
        }
        walk = _Walk(case, now, self.clock_rules, kind.limits, self.home_level)
        reporter = (Role.CITIZEN, "citizen") if citizen else (Role.SUPERVISOR, _supervisor(place))
        self._loop(rng, walk, kind, place, department, created, reporter)
        walk.sweep(now)
        case["state"] = walk.state
        for event in walk.events:
            event["case_id"] = case_id
        return CaseRecord(case, walk.events, list(walk.clocks.values()))

    def _loop(
        self,
        rng: random.Random,
        walk: _Walk,
        kind: Kind,
        place: Place,
        department: str | None,
        created: datetime,
        reporter: tuple[Role, str],
    ) -> None:
        minutes = _minutes
        t = created
        walk.step("submit", t, reporter[0], reporter[1], note=walk.case["description"])
        # Citizens' reports of a category that needs it are verified on site; operators send
        # a share of the others too, when the photo leaves doubt.
        doubtful = kind.needs_verification or rng.random() < 0.1
        if reporter[0] == Role.CITIZEN and doubtful:
            t += minutes(rng, 5, 40)
            if not walk.step("request_verification", t, Role.OPERATOR, "operator:1"):
                return
            t += minutes(rng, 30, 240)
            if rng.random() < 0.1:
                walk.step("not_found", t, Role.SUPERVISOR, _supervisor(place))
                return
            if not walk.step("verify", t, Role.SUPERVISOR, _supervisor(place)):
                return
        t += minutes(rng, 1, 20)
        if rng.random() < 0.04:
            walk.step("void", t, Role.SHIFT_LEAD, "shift_lead:1", note="重复 duplicate")
            return
        located = {
            "l1_code": place.codes[0],
            "l2_code": place.codes[1],
            "l3_code": place.codes[2],
            "l4_code": place.codes[3],
            "routed_at": t,
        }
        filed = walk.step(
            "file",
            t,
            Role.SYSTEM,
            "system:router",
            note="filed automatically",
            values=located,
        )
        if not filed or department is None:
            return
        profile = self.profile(department)
        t += minutes(rng, 0, 10)
        wrong = self._misroute(department, place)
        if wrong is not None and rng.random() < profile.p_return:
            if not walk.step(
                "dispatch",
                t,
                Role.SYSTEM,
                "system:router",
                detail={"department": wrong},
                values={"department_code": wrong},
            ):
                return
            t += minutes(rng, 30, 360)
            if not walk.step(
                "return", t, Role.DEPARTMENT, f"dept:{wrong}", note=rng.choice(_RETURN_REASONS)
            ):
                return
            t += minutes(rng, 20, 180)
            if not walk.step(
                "redispatch",
                t,
                Role.DISPATCHER,
                "dispatcher:1",
                detail={"department": department},
                values={"department_code": department},
            ):
                return
        elif not walk.step(
            "dispatch",
            t,
            Role.SYSTEM,
            "system:router",
            detail={"department": department},
            values={"department_code": department},
        ):
            return
        staff = f"dept:{department}"
        dispatched = t
        allowed = walk.deadline(Stage.HANDLE) - dispatched
        t += minutes(rng, 5, 120)
        if not walk.step("accept", t, Role.DEPARTMENT, staff):
            return
        if rng.random() < profile.p_stall:
            return  # accepted, then left: it stays open, and the sweep escalates it
        share = math.exp(rng.gauss(math.log(profile.median_share), profile.sigma))
        work = timedelta(seconds=max(600.0, allowed.total_seconds() * share))
        if rng.random() < profile.p_extend:
            by = format_limits(kind.limits[Stage.HANDLE])
            t += work * 0.5
            if not walk.step(
                "request_extension", t, Role.DEPARTMENT, staff, note="需要材料", detail={"by": by}
            ):
                return
            t += minutes(rng, 30, 240)
            if not walk.step("extend", t, Role.SHIFT_LEAD, "shift_lead:1", detail={"by": by}):
                return
            work = work * 0.6
        if rng.random() < profile.p_suspend:
            t += work * 0.3
            if not walk.step("request_suspension", t, Role.DEPARTMENT, staff, note="季节性"):
                return
            t += minutes(rng, 30, 240)
            if not walk.step("suspend", t, Role.SHIFT_LEAD, "shift_lead:1"):
                return
            # Most waits are days (materials, a permit); seasonal works wait for the season.
            seasonal = rng.random() < 0.3
            t += timedelta(days=rng.uniform(30, 120) if seasonal else rng.uniform(2, 20))
            if not walk.step("resume", t, Role.SHIFT_LEAD, "shift_lead:1"):
                return
        t += work
        if not walk.step("handle", t, Role.DEPARTMENT, staff, note="已处置 done"):
            return
        t += minutes(rng, 20, 240)
        if rng.random() < profile.p_rework:
            if not walk.step("check_fail", t, Role.SUPERVISOR, _supervisor(place), note="返工"):
                return
            t += work * rng.uniform(0.1, 0.5)
            if not walk.step("handle", t, Role.DEPARTMENT, staff, note="再次处置"):
                return
            t += minutes(rng, 20, 240)
        if not walk.step("check_pass", t, Role.SUPERVISOR, _supervisor(place)):
            return
        t += minutes(rng, 5, 120)
        if not walk.step("close", t, Role.SHIFT_LEAD, "shift_lead:1"):
            return
        if reporter[0] != Role.CITIZEN or rng.random() > 0.6:
            return
        t += minutes(rng, 60, 2880)
        late = walk.case["closed_at"] > walk.case["case_deadline_at"]
        mean = profile.satisfaction - (1.0 if late else 0.0)
        score = max(1, min(5, round(rng.gauss(mean, 0.9))))
        if not walk.step("rate", t, Role.CITIZEN, "citizen", detail={"score": score}):
            return
        if score <= 2 and rng.random() < 0.3:
            t += minutes(rng, 60, 1440)
            if not walk.step("reopen", t, Role.SHIFT_LEAD, "shift_lead:1", note="市民不满意"):
                return
            t += work * rng.uniform(0.2, 0.6)
            for action, role, actor in (
                ("handle", Role.DEPARTMENT, staff),
                ("check_pass", Role.SUPERVISOR, _supervisor(place)),
                ("close", Role.SHIFT_LEAD, "shift_lead:1"),
            ):
                if not walk.step(action, t, role, actor):
                    return
                t += minutes(rng, 30, 300)

    def _misroute(self, department: str, place: Place) -> str | None:
        """Where a wrong first dispatch goes: the locality for a professional department's case,
        the city's enforcement team for a locality's (the usual ping-pong of 属地 and 条线)."""
        office = self.offices.get(place.codes[1])
        if office is not None and office != department:
            return office
        fallback = "enforcement" if department != "enforcement" else None
        return fallback if fallback in self._known else None


# Share of reports per hour of the day (local time).
_HOURLY = (1, 1, 1, 1, 1, 2, 4, 7, 10, 11, 10, 8, 6, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1)


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(minutes=rng.uniform(low, high))


def _supervisor(place: Place) -> str:
    return f"supervisor:{place.codes[2] or place.codes[1]}"


SLA_ACTOR = "system:sla"


# A clock's deadline and next sweep time only change when the clock does, and a season asks
# for them at every step: remembered per (clock, rules), both being immutable values.
@lru_cache(maxsize=65536)
def _deadline(clock: Clock, rules: ClockRules) -> datetime:
    return sla.deadline(clock, rules)


@lru_cache(maxsize=65536)
def _next_due(clock: Clock, rules: ClockRules) -> datetime | None:
    return sla.next_due(clock, rules)


class _RememberingCalendar:
    """A work calendar that answers each day once (the official one looks each day up anew)."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self._calendar = calendar
        self._days: dict[date, bool] = {}

    def is_workday(self, day: date) -> bool:
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = self._calendar.is_workday(day)
        return found
