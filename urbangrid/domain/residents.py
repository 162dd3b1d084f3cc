"""What residents see and may do: duplicates nearby, the steps open to them (docs/domain.md §8)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from urbangrid.domain.states import OPEN_STATES, CaseState
from urbangrid.domain.timelimits import parse_limit

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine); ample for a few hundred metres.

    >>> round(distance_m(31.2304, 121.4737, 31.2304, 121.4747))  # 0.001° of longitude
    95
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) containing every point within ``radius_m``.

    A cheap indexed pre-filter; :func:`nearest_open_case` then measures exactly.

    >>> [round(v, 4) for v in bounding_box(31.23, 121.47, 250)]
    [31.2278, 31.2322, 121.4674, 121.4726]
    """
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


@dataclass(frozen=True)
class Nearby:
    case_id: int
    lat: float
    lon: float


def nearest_open_case(
    candidates: Iterable[Nearby], *, lat: float, lon: float, radius_m: float
) -> int | None:
    """The case a new report duplicates: the nearest within ``radius_m``, the older on a tie.

    The caller passes open cases of the same category reported within the time window.

    >>> here = (31.2304, 121.4737)
    >>> near = [Nearby(7, 31.2305, 121.4737), Nearby(3, 31.2310, 121.4737)]
    >>> nearest_open_case(near, lat=here[0], lon=here[1], radius_m=250)
    7
    >>> nearest_open_case(near, lat=here[0], lon=here[1], radius_m=5) is None
    True
    """
    best: tuple[float, int] | None = None
    for candidate in candidates:
        metres = distance_m(lat, lon, candidate.lat, candidate.lon)
        if metres <= radius_m and (best is None or (metres, candidate.case_id) < best):
            best = (metres, candidate.case_id)
    return None if best is None else best[1]


# The steps a reporter hears of: sent to a department, put on hold, fixed, closed, not taken
# up, reopened. Filing, acceptance and returns between departments stay internal.
NOTIFY_ACTIONS = frozenset(
    {"dispatch", "suspend", "handle", "close", "void", "not_found", "reopen"}
)


def open311_status(state: str) -> str:
    """Open311's two statuses: ``open`` until the case is closed or void.

    >>> open311_status("HANDLED"), open311_status("VOID")
    ('open', 'closed')
    """
    return "open" if CaseState(state) in OPEN_STATES else "closed"


@dataclass(frozen=True)
class ResidentView:
    """Where the case stands for its reporter: the facts the allowed steps depend on."""

    state: CaseState
    closed_at: datetime | None
    rated_since_closing: bool
    reopen_asked_since_closing: bool


def resident_actions(view: ResidentView, *, now: datetime, reopen_window: timedelta) -> list[str]:
    """The steps a reporter may take now: comment and photo while the case is open; after it is
    closed, one rating and, within the window, one request to reopen it.

    >>> from datetime import UTC
    >>> closed = datetime(2026, 3, 2, 9, tzinfo=UTC)
    >>> view = ResidentView(CaseState.CLOSED, closed, False, False)
    >>> resident_actions(view, now=closed + timedelta(days=1), reopen_window=timedelta(days=7))
    ['rate', 'reopen']
    >>> resident_actions(view, now=closed + timedelta(days=8), reopen_window=timedelta(days=7))
    ['rate']
    >>> resident_actions(ResidentView(CaseState.DISPATCHED, None, False, False),
    ...                  now=closed, reopen_window=timedelta(days=7))
    ['comment', 'photo']
    """
    if view.state in OPEN_STATES:
        return ["comment", "photo"]
    if view.state != CaseState.CLOSED:
        return []
    allowed = [] if view.rated_since_closing else ["rate"]
    if (
        view.closed_at is not None
        and now <= view.closed_at + reopen_window
        and not view.reopen_asked_since_closing
    ):
        allowed.append("reopen")
    return allowed


# What each state means to the person who reported the problem.
STATUS_TEXT: dict[CaseState, tuple[str, str]] = {
    CaseState.REPORTED: ("已受理，正在分派", "Received, being assigned"),
    CaseState.VERIFYING: ("网格员现场核实中", "A grid supervisor is checking on site"),
    CaseState.FILED: ("已立案，等待派遣", "Filed, waiting to be dispatched"),
    CaseState.DISPATCHED: ("已派遣至责任部门", "Sent to the responsible department"),
    CaseState.IN_PROGRESS: ("责任部门处置中", "The department is working on it"),
    CaseState.RETURNED: ("重新派遣中", "Being re-assigned"),
    CaseState.SUSPENDED: ("暂缓处置", "On hold"),
    CaseState.HANDLED: ("已处置，等待核查", "Fixed, waiting for an on-site check"),
    CaseState.CHECKED: ("核查通过，即将结案", "Checked, about to be closed"),
    CaseState.CLOSED: ("已结案", "Closed"),
    CaseState.VOID: ("未立案", "Not taken up"),
}


def status_text(state: str, language: str = "zh") -> str:
    """A resident's words for a state.

    >>> status_text("HANDLED", "en")
    'Fixed, waiting for an on-site check'
    """
    zh, en = STATUS_TEXT[CaseState(state)]
    return en if language == "en" else zh


_UNITS = {
    "min": ("分钟", "minutes"),
    "h": ("小时", "hours"),
    "wh": ("个工作时", "working hours"),
    "wd": ("个工作日", "working days"),
}


def describe_limit(limit: str, language: str = "zh") -> str:
    """A time limit in words, for residents and Open311's ``service_notice``.

    >>> describe_limit("4wh", "en"), describe_limit("2wd"), describe_limit("90min", "en")
    ('Handled within 4 working hours', '2个工作日内处置', 'Handled within 90 minutes')
    """
    parsed = parse_limit(limit)
    zh, en = _UNITS[parsed.unit]
    number = str(parsed).removesuffix(parsed.unit)
    return f"Handled within {number} {en}" if language == "en" else f"{number}{zh}内处置"
