"""A synthetic season of cases: every state of the closed loop, with departments that differ.

Pure and deterministic: the same inputs and seed give the same cases and events, built only from
the domain's rules (routing, time limits, the transition table), so the history looks like what
the pipeline itself would have recorded. ``urbangrid demo seed`` lays down a few thousand cases
so every dashboard page has figures on the first run; ``urbangrid bench dashboard`` a million.

The season draws who reports what, where and when; ``story`` tells each case's steps and
``walk`` applies them as ``record`` would.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from urbangrid.domain.routing import Rule, choose_department
from urbangrid.domain.sla import ClockRules
from urbangrid.domain.timelimits import WorkCalendar
from urbangrid.domain.workflow import Role
from urbangrid.history.city import Kind, Place, Profile
from urbangrid.history.records import CaseRecord, case_columns
from urbangrid.history.story import supervisor, tell
from urbangrid.history.walk import Walk

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
        case = case_columns(
            place.lon,
            place.lat,
            id=case_id,
            tracking_token=f"synthetic-{self.seed}-{case_id}",
            category_code=kind.code,
            description=_DESCRIPTIONS[0 if citizen else 1],
            state=None,
            created_at=created,
            updated_at=created,
            channel="api",
        )
        walk = Walk(case, now, self.clock_rules, kind.limits, self.home_level)
        reporter = (Role.CITIZEN, "citizen") if citizen else (Role.SUPERVISOR, supervisor(place))
        tell(
            rng,
            walk,
            kind=kind,
            place=place,
            created=created,
            reporter=reporter,
            department=department,
            profile=self.profile(department) if department is not None else None,
            misrouted=self._misroute(department, place) if department is not None else None,
        )
        walk.sweep(now)
        case["state"] = walk.state
        for event in walk.events:
            event["case_id"] = case_id
        return CaseRecord(case, walk.events, list(walk.clocks.values()))

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
