"""A synthetic season of cases: every state of the closed loop, with departments that differ.

Pure and deterministic: the same inputs and seed give the same cases and events, built only from
the domain's rules (routing, time limits, the transition table), so the history looks like what
the pipeline itself would have recorded. ``urbangrid demo seed`` lays down a few thousand cases
so every dashboard page has figures on the first run; ``urbangrid bench dashboard`` a million.

Each department gets a profile from its code: how fast it handles cases relative to their time
limit (a log-normal spread around its own median), and how often it returns, reworks, extends and
suspends, so that closure and on-time rates spread the way a real city's do.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from urbangrid.domain.routing import Rule, choose_department
from urbangrid.domain.states import CaseState
from urbangrid.domain.timelimits import TimeLimit, WorkCalendar, add_limit, parse_limit
from urbangrid.domain.workflow import TRANSITIONS, Role, apply

S = CaseState


@dataclass(frozen=True)
class Place:
    """A point inside a base cell, with the cell's four codes."""

    codes: tuple[str, str, str, str]
    lon: float
    lat: float


@dataclass(frozen=True)
class Kind:
    """A category as the generator needs it."""

    code: str
    time_limit: str
    needs_verification: bool = False
    weight: float = 1.0


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
class SyntheticCase:
    """One case's column values and its events, in order (ids are the caller's)."""

    case: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Walk:
    """A case being walked through the loop: it applies each step the way ``record`` does."""

    case: dict[str, Any]
    now: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
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
        if self.stopped or at > self.now:
            self.stopped = True
            return False
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
        return True


# The milestone columns and counters ``urbangrid.lifecycle.record`` keeps; a test replays
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
        tz: ZoneInfo,
        calendar: WorkCalendar,
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
        self.tz = tz
        self.calendar = calendar
        self.seed = seed
        self._limits: dict[str, TimeLimit] = {k.code: parse_limit(k.time_limit) for k in kinds}
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
    ) -> Iterator[SyntheticCase]:
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
    ) -> SyntheticCase:
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
        }
        walk = _Walk(case, now)
        reporter = (Role.CITIZEN, "citizen") if citizen else (Role.SUPERVISOR, _supervisor(place))
        self._loop(rng, walk, kind, place, department, created, reporter)
        case["state"] = walk.state
        for event in walk.events:
            event["case_id"] = case_id
        return SyntheticCase(case, walk.events)

    def _misroute(self, department: str, place: Place) -> str | None:
        """Where a wrong first dispatch goes: the locality for a professional department's case,
        the city's enforcement team for a locality's (the usual ping-pong of 属地 and 条线)."""
        office = self.offices.get(place.codes[1])
        if office is not None and office != department:
            return office
        fallback = "enforcement" if department != "enforcement" else None
        return fallback if fallback in self._known else None

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
        limit = self._limits[kind.code]
        deadline = add_limit(created, limit, calendar=self.calendar, tz=self.tz)
        located = {
            "l1_code": place.codes[0],
            "l2_code": place.codes[1],
            "l3_code": place.codes[2],
            "l4_code": place.codes[3],
            "routed_at": t,
            "deadline_at": deadline,
        }
        filed = walk.step(
            "file",
            t,
            Role.SYSTEM,
            "system:router",
            note="filed automatically",
            detail={"time_limit": str(limit), "deadline": deadline.isoformat()},
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
        t += minutes(rng, 5, 120)
        if not walk.step("accept", t, Role.DEPARTMENT, staff):
            return
        if rng.random() < profile.p_stall:
            # Accepted, then left: it stays open, goes overdue and is escalated (督办) a level
            # up at its deadline and again one time limit later, as the SLA sweep does.
            span = deadline - created
            for level, at in enumerate((deadline, deadline + span)):
                if level == 0 and not walk.step("overdue", max(t, at), Role.SYSTEM, "system:sla"):
                    return
                if not walk.step("escalate", max(t, at), Role.SYSTEM, "system:sla", note="督办"):
                    return
            return
        allowed = (deadline - created).total_seconds()
        share = math.exp(rng.gauss(math.log(profile.median_share), profile.sigma))
        work = timedelta(seconds=max(600.0, allowed * share))
        if rng.random() < profile.p_extend:
            t += work * 0.5
            if not walk.step("request_extension", t, Role.DEPARTMENT, staff, note="需要材料"):
                return
            t += minutes(rng, 30, 240)
            deadline = add_limit(deadline, limit, calendar=self.calendar, tz=self.tz)
            if not walk.step(
                "extend",
                t,
                Role.SHIFT_LEAD,
                "shift_lead:1",
                detail={"deadline": deadline.isoformat()},
                values={"deadline_at": deadline},
            ):
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
            paused = timedelta(days=rng.uniform(30, 120) if seasonal else rng.uniform(2, 20))
            t += paused
            deadline = deadline + paused  # the clock does not run while suspended
            if not walk.step(
                "resume",
                t,
                Role.SHIFT_LEAD,
                "shift_lead:1",
                detail={"deadline": deadline.isoformat()},
                values={"deadline_at": deadline},
            ):
                return
        handled = t + work
        if handled > deadline:
            t = max(t, deadline)
            if not walk.step("overdue", t, Role.SYSTEM, "system:sla"):
                return
            if not walk.step("escalate", t, Role.SYSTEM, "system:sla", note="督办"):
                return
        t = max(t, handled)
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
        late = walk.case["closed_at"] > walk.case["deadline_at"]
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


# Share of reports per hour of the day (local time).
_HOURLY = (1, 1, 1, 1, 1, 2, 4, 7, 10, 11, 10, 8, 6, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1)


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(minutes=rng.uniform(low, high))


def _supervisor(place: Place) -> str:
    return f"supervisor:{place.codes[2] or place.codes[1]}"
