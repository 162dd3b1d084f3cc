"""The story of one synthetic case, told as a short list of named steps: reported (and verified
on site when in doubt), filed, dispatched (maybe first to the wrong department), handled within a
share of its limit drawn from the department's profile, checked, closed, and rated by the
resident, who may have it reopened.

Every step goes through the walk, which stops the story once it reaches now; each step says
whether the story goes on.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from urbangrid.domain.sla import Stage
from urbangrid.domain.timelimits import format_limits
from urbangrid.domain.workflow import Role
from urbangrid.history.city import Kind, Place, Profile
from urbangrid.history.walk import Walk

_RETURN_REASONS = (
    "不属于本部门职责 not ours",
    "位置不在辖区 outside our area",
    "权属不清 owner unclear",
)
SHIFT_LEAD = "shift_lead:1"


def supervisor(place: Place) -> str:
    """The grid supervisor who patrols ``place``'s cell."""
    return f"supervisor:{place.codes[2] or place.codes[1]}"


def tell(
    rng: random.Random,
    walk: Walk,
    *,
    kind: Kind,
    place: Place,
    created: datetime,
    reporter: tuple[Role, str],
    department: str | None,
    profile: Profile | None,
    misrouted: str | None,
) -> None:
    """Walk a case reported at ``created`` through the loop, drawing each turn from ``rng``.

    ``department`` is where the routing rules send it (None: no rule, so it stays filed),
    ``profile`` how that department works, ``misrouted`` where a wrong first dispatch would go.
    """
    story = _Story(rng, walk, place, created)
    if not story.reported(kind, reporter) or department is None or profile is None:
        return
    staff = f"dept:{department}"
    if not (
        story.dispatched(department, profile, misrouted)
        and story.handled(kind, staff, profile)
        and story.checked(staff, profile)
    ):
        return
    if reporter[0] != Role.CITIZEN or rng.random() > 0.6:
        return
    story.rated(staff, profile)


@dataclass
class _Story:
    """A case's story so far: ``t`` is the time it has reached, ``work`` the handling it takes."""

    rng: random.Random
    walk: Walk
    place: Place
    t: datetime
    work: timedelta = timedelta(0)

    def wait(self, low: float, high: float) -> None:
        self.t += timedelta(minutes=self.rng.uniform(low, high))

    def reported(self, kind: Kind, reporter: tuple[Role, str]) -> bool:
        """Submitted, verified on site when in doubt, and filed (or voided as a duplicate)."""
        rng, walk, place = self.rng, self.walk, self.place
        walk.step("submit", self.t, reporter[0], reporter[1], note=walk.case["description"])
        # Citizens' reports of a category that needs it are verified on site; operators send
        # a share of the others too, when the photo leaves doubt.
        doubtful = kind.needs_verification or rng.random() < 0.1
        if reporter[0] == Role.CITIZEN and doubtful:
            self.wait(5, 40)
            if not walk.step("request_verification", self.t, Role.OPERATOR, "operator:1"):
                return False
            self.wait(30, 240)
            if rng.random() < 0.1:
                walk.step("not_found", self.t, Role.SUPERVISOR, supervisor(place))
                return False
            if not walk.step("verify", self.t, Role.SUPERVISOR, supervisor(place)):
                return False
        self.wait(1, 20)
        if rng.random() < 0.04:
            walk.step("void", self.t, Role.SHIFT_LEAD, SHIFT_LEAD, note="重复 duplicate")
            return False
        located = {
            "l1_code": place.codes[0],
            "l2_code": place.codes[1],
            "l3_code": place.codes[2],
            "l4_code": place.codes[3],
            "routed_at": self.t,
        }
        return walk.step(
            "file",
            self.t,
            Role.SYSTEM,
            "system:router",
            note="filed automatically",
            values=located,
        )

    def dispatched(self, department: str, profile: Profile, misrouted: str | None) -> bool:
        """Dispatched to ``department``, or first to ``misrouted``, which returns it."""
        rng, walk = self.rng, self.walk
        self.wait(0, 10)
        if misrouted is not None and rng.random() < profile.p_return:
            if not self._dispatch("dispatch", Role.SYSTEM, "system:router", misrouted):
                return False
            self.wait(30, 360)
            reason = rng.choice(_RETURN_REASONS)
            if not walk.step("return", self.t, Role.DEPARTMENT, f"dept:{misrouted}", note=reason):
                return False
            self.wait(20, 180)
            return self._dispatch("redispatch", Role.DISPATCHER, "dispatcher:1", department)
        return self._dispatch("dispatch", Role.SYSTEM, "system:router", department)

    def _dispatch(self, action: str, role: Role, actor: str, department: str) -> bool:
        return self.walk.step(
            action,
            self.t,
            role,
            actor,
            detail={"department": department},
            values={"department_code": department},
        )

    def handled(self, kind: Kind, staff: str, profile: Profile) -> bool:
        """Accepted and handled within a share of the time allowed, extended or suspended on the
        way; or accepted and left (the backlog the sweep escalates)."""
        rng, walk = self.rng, self.walk
        allowed = walk.deadline(Stage.HANDLE) - self.t
        self.wait(5, 120)
        if not walk.step("accept", self.t, Role.DEPARTMENT, staff):
            return False
        if rng.random() < profile.p_stall:
            return False  # accepted, then left: it stays open, and the sweep escalates it
        share = math.exp(rng.gauss(math.log(profile.median_share), profile.sigma))
        self.work = timedelta(seconds=max(600.0, allowed.total_seconds() * share))
        if rng.random() < profile.p_extend:
            by = format_limits(kind.limits[Stage.HANDLE])
            self.t += self.work * 0.5
            if not walk.step(
                "request_extension",
                self.t,
                Role.DEPARTMENT,
                staff,
                note="需要材料",
                detail={"by": by},
            ):
                return False
            self.wait(30, 240)
            if not walk.step("extend", self.t, Role.SHIFT_LEAD, SHIFT_LEAD, detail={"by": by}):
                return False
            self.work = self.work * 0.6
        if rng.random() < profile.p_suspend:
            self.t += self.work * 0.3
            if not walk.step("request_suspension", self.t, Role.DEPARTMENT, staff, note="季节性"):
                return False
            self.wait(30, 240)
            if not walk.step("suspend", self.t, Role.SHIFT_LEAD, SHIFT_LEAD):
                return False
            # Most waits are days (materials, a permit); seasonal works wait for the season.
            seasonal = rng.random() < 0.3
            self.t += timedelta(days=rng.uniform(30, 120) if seasonal else rng.uniform(2, 20))
            if not walk.step("resume", self.t, Role.SHIFT_LEAD, SHIFT_LEAD):
                return False
        self.t += self.work
        return walk.step("handle", self.t, Role.DEPARTMENT, staff, note="已处置 done")

    def checked(self, staff: str, profile: Profile) -> bool:
        """Checked on site (reworked first, now and then) and closed."""
        rng, walk, checker = self.rng, self.walk, supervisor(self.place)
        self.wait(20, 240)
        if rng.random() < profile.p_rework:
            if not walk.step("check_fail", self.t, Role.SUPERVISOR, checker, note="返工"):
                return False
            self.t += self.work * rng.uniform(0.1, 0.5)
            if not walk.step("handle", self.t, Role.DEPARTMENT, staff, note="再次处置"):
                return False
            self.wait(20, 240)
        if not walk.step("check_pass", self.t, Role.SUPERVISOR, checker):
            return False
        self.wait(5, 120)
        return walk.step("close", self.t, Role.SHIFT_LEAD, SHIFT_LEAD)

    def rated(self, staff: str, profile: Profile) -> None:
        """Rated by the resident (lower when it closed late), and reopened now and then after a
        poor score: handled, checked and closed again."""
        rng, walk = self.rng, self.walk
        self.wait(60, 2880)
        late = walk.case["closed_at"] > walk.case["case_deadline_at"]
        mean = profile.satisfaction - (1.0 if late else 0.0)
        score = max(1, min(5, round(rng.gauss(mean, 0.9))))
        if not walk.step("rate", self.t, Role.CITIZEN, "citizen", detail={"score": score}):
            return
        if score <= 2 and rng.random() < 0.3:
            self.wait(60, 1440)
            if not walk.step("reopen", self.t, Role.SHIFT_LEAD, SHIFT_LEAD, note="市民不满意"):
                return
            self.t += self.work * rng.uniform(0.2, 0.6)
            for action, role, actor in (
                ("handle", Role.DEPARTMENT, staff),
                ("check_pass", Role.SUPERVISOR, supervisor(self.place)),
                ("close", Role.SHIFT_LEAD, SHIFT_LEAD),
            ):
                if not walk.step(action, self.t, role, actor):
                    return
                self.wait(30, 300)
