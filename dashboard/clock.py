"""One clock per case, read one way everywhere: its mark and the time left always agree.

The work queue's list (``evaluation.queue.work_queue``) judges a case by the deadline of the
stage it is in and when that stage began; the case page judges it from the same columns with
the same function, and both put it in words here. So a case marked overdue never shows hours
left, and one on track never shows a negative time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dashboard.i18n import t
from urbangrid.domain.states import CaseState
from urbangrid.evaluation.formulas import ClockStatus, clock_status

S = CaseState
# A closed case's clock stopped when it closed: judged then, never against the time now.
Status = ClockStatus | Literal["closed_on_time", "closed_late"]


@dataclass(frozen=True)
class Clock:
    status: Status
    deadline: datetime | None
    seconds_left: float | None


def stage_clock(case: dict[str, Any], *, now: datetime, at_risk_share: float) -> Clock:
    """The clock of the stage a case is in, from a staff API case (its milestone columns).

    The same rule as the work queue's SQL: the stage deadline (or the handling deadline of
    older rows), started at the milestone that opened the stage.

    >>> from datetime import UTC
    >>> t0 = datetime(2026, 3, 2, 1, tzinfo=UTC)
    >>> case = {"state": "IN_PROGRESS", "dispatched_at": t0.isoformat(),
    ...         "stage_deadline_at": "2026-03-02T11:00:00+00:00", "created_at": t0.isoformat()}
    >>> stage_clock(case, now=t0.replace(hour=10), at_risk_share=0.8).status
    'at_risk'
    >>> c = stage_clock(case, now=t0.replace(hour=12), at_risk_share=0.8)
    >>> c.status, c.seconds_left
    ('overdue', -3600.0)

    A closed case is judged when it closed, against the whole case's deadline, however late
    the page is read; a void one has no clock.

    >>> closed = {"state": "CLOSED", "closed_at": "2026-03-04T01:00:00+00:00",
    ...           "case_deadline_at": "2026-03-03T01:00:00+00:00", "deadline_at": None}
    >>> c = stage_clock(closed, now=t0.replace(year=2027), at_risk_share=0.8)
    >>> c.status, c.seconds_left
    ('closed_late', -86400.0)
    >>> stage_clock({"state": "VOID"}, now=t0, at_risk_share=0.8).status
    'no_deadline'
    """
    state = str(case.get("state", ""))
    if state == S.VOID:
        return Clock("no_deadline", None, None)
    if state == S.CLOSED:
        closed = instant(case.get("closed_at"))
        due = instant(case.get("case_deadline_at") or case.get("deadline_at"))
        if closed is None or due is None:
            return Clock("no_deadline", None, None)
        late = closed > due
        return Clock(
            "closed_late" if late else "closed_on_time", due, (due - closed).total_seconds()
        )
    deadline = instant(case.get("stage_deadline_at") or case.get("deadline_at"))
    milestone = {
        S.HANDLED: "handled_at",
        S.CHECKED: "handled_at",
        S.DISPATCHED: "dispatched_at",
        S.IN_PROGRESS: "dispatched_at",
        S.SUSPENDED: "dispatched_at",
        S.FILED: "filed_at",
        S.RETURNED: "filed_at",
    }.get(S(state) if state in S.__members__ else S.REPORTED, "created_at")
    started = instant(case.get(milestone)) or instant(case.get("created_at"))
    status = clock_status(
        now=now,
        started=started,
        deadline=deadline,
        suspended=state == S.SUSPENDED,
        at_risk_share=at_risk_share,
    )
    left = (deadline - now).total_seconds() if deadline is not None else None
    return Clock(status, deadline, left)


def instant(value: Any) -> datetime | None:
    """An aware datetime from the API's ISO text (or a datetime); None for nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:  # SQLite gives back naive UTC
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment


def span(seconds: float, lang: str) -> str:
    """A length of time as people say it: days and hours, or hours and minutes.

    >>> span(3 * 86400 + 5 * 3600 + 60, "en"), span(2 * 3600 + 15 * 60, "zh"), span(40, "en")
    ('3 d 5 h', '2小时15分钟', '1 min')
    """
    seconds = abs(seconds)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = max(1, rest // 60) if not days and not hours else rest // 60
    parts = [("days", days), ("hours", hours)] if days else [("hours", hours), ("minutes", minutes)]
    glue = "" if lang == "zh" else " "
    return glue.join(t(unit, lang).format(n=n) for unit, n in parts if n)


COLOURS = {
    "overdue": "red",
    "at_risk": "orange",
    "on_track": "green",
    "paused": "violet",
    "no_deadline": "gray",
    "closed_on_time": "green",
    "closed_late": "red",
}


def badge(status: str, lang: str, suffix: str = "") -> str:
    """The clock's mark as a coloured Streamlit badge (markdown).

    >>> badge("overdue", "en"), badge("on_track", "zh", " 3")
    (':red-badge[Overdue]', ':green-badge[正常 3]')
    """
    return f":{COLOURS.get(status, 'gray')}-badge[{t(f'clock_{status}', lang)}{suffix}]"


def words(clock: Clock, lang: str, tz: str) -> str:
    """The time left (or how late) and the local deadline, agreeing with the clock's mark.

    >>> from datetime import UTC, timedelta
    >>> due = datetime(2026, 3, 2, 9, tzinfo=UTC)
    >>> words(Clock("overdue", due, -7200.0), "en", "Asia/Shanghai")
    'overdue by 2 h · due 03-02 17:00'
    >>> words(Clock("on_track", due, 90000.0), "zh", "Asia/Shanghai")
    '剩余 1天1小时 · 时限 03-02 17:00'
    >>> words(Clock("no_deadline", None, None), "en", "Asia/Shanghai")
    'No deadline'
    >>> words(Clock("closed_late", due, -86400.0), "en", "Asia/Shanghai")
    'closed 1 d late · due 03-02 17:00'
    >>> words(Clock("closed_on_time", due, 3600.0), "zh", "Asia/Shanghai")
    '时限 03-02 17:00'
    """
    if clock.status == "paused":
        return t("paused_since", lang)
    if clock.deadline is None or clock.seconds_left is None:
        return t("clock_no_deadline", lang)
    if clock.status == "closed_late":
        left = t("closed_late_by", lang).format(t=span(clock.seconds_left, lang))
    elif clock.status == "closed_on_time":  # the mark says it all; only the deadline follows
        return t("due_at", lang).format(at=local(clock.deadline, tz))
    elif clock.status == "overdue":
        left = t("late_by", lang).format(t=span(clock.seconds_left, lang))
    else:
        left = t("left", lang).format(t=span(max(clock.seconds_left, 0), lang))
    return f"{left} · {t('due_at', lang).format(at=local(clock.deadline, tz))}"


def local(moment: datetime | None, tz: str, *, year: bool = False) -> str:
    """A moment in the city's time, short: month-day hour:minute (and the year if asked)."""
    if moment is None:
        return "—"
    shown = moment.astimezone(ZoneInfo(tz))
    return shown.strftime("%Y-%m-%d %H:%M" if year else "%m-%d %H:%M")
