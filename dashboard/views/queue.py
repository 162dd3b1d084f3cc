"""Work queue: a staff member's open cases with the time left on each clock, the worst first.

With a staff token the list comes from the staff API (the token's scope, the clocks as the SLA
sweep sees them) and a case can be acted on through it; without one, or without a staff API,
the page reads the database and only shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.filters import current
from dashboard.i18n import t, title
from dashboard.loaders import QUEUE_COLUMNS
from dashboard.show import table
from dashboard.staff_client import StaffApiRefused, StaffApiUnavailable, StaffClient
from urbangrid.core.columns import utcnow
from urbangrid.domain.states import CaseState
from urbangrid.evaluation.formulas import CLOCK_ORDER
from urbangrid.evaluation.scope import UnknownFilter


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else None


def from_api(items: list[dict[str, Any]], overdue: set[int], at_risk: set[int]) -> pd.DataFrame:
    """The staff API's cases in the queue's columns, each clock as the API judges it."""
    now = utcnow()
    rows = []
    for item in items:
        deadline = _instant(item.get("stage_deadline_at") or item.get("deadline_at"))
        state = str(item.get("state", ""))
        case_id = int(item["id"])
        if state == CaseState.SUSPENDED:
            clock = "paused"
        elif case_id in overdue:
            clock = "overdue"
        elif case_id in at_risk:
            clock = "at_risk"
        else:
            clock = "on_track" if deadline else "no_deadline"
        rows.append(
            {
                "id": case_id,
                "clock": clock,
                "hours_left": None
                if deadline is None
                else round((deadline - now).total_seconds() / 3600, 1),
                "deadline": deadline,
                "case_deadline": _instant(item.get("case_deadline_at")),
                "state": state,
                "stage": item.get("stage"),
                "category": item.get("category"),
                "department": item.get("department"),
                "area": item.get("l4_code") or item.get("l2_code"),
                "escalation_level": item.get("escalation_level", 0),
            }
        )
    frame = pd.DataFrame(rows, columns=QUEUE_COLUMNS)
    order = frame["clock"].map(CLOCK_ORDER)
    return frame.assign(_order=order).sort_values(["_order", "hours_left"]).drop(columns="_order")


def local(column: pd.Series) -> pd.Series:
    times = pd.to_datetime(column, utc=True).dt.tz_convert(data.settings().city_timezone)
    return times.dt.strftime("%Y-%m-%d %H:%M")


filters = current()
lang = filters.lang
st.title(title("queue", lang))
token = st.text_input(
    t("token", lang), type="password", help=t("token_help", lang), key="queue_token"
)
api_url = data.settings().staff_api_url
client = StaffClient(api_url, token) if token else None
scope: dict[str, Any] = {
    "department": filters.department,
    "area": filters.area,
    "category": filters.category,
}

frame: pd.DataFrame | None = None
if client is not None:
    try:
        frame = from_api(
            client.queue(**scope),
            client.marked("overdue", **scope),
            client.marked("at_risk", **scope),
        )
        st.caption(f"{t('acting_as', lang)}: {api_url}")
    except StaffApiUnavailable:
        st.warning(t("read_only", lang))
    except StaffApiRefused as refused:
        st.error(str(refused))
if frame is None:
    client = None
    try:
        frame = data.queue(filters)
    except (UnknownFilter, ValueError) as problem:
        st.error(str(problem))
        st.stop()

shown = frame.assign(
    clock=frame["clock"].map(lambda c: t(f"clock_{c}", lang)),
    deadline=local(frame["deadline"]),
    case_deadline=local(frame["case_deadline"]),
)
counts = frame["clock"].value_counts()
row = st.columns(4)
for column, clock in zip(row, ("overdue", "at_risk", "on_track", "paused"), strict=True):
    column.metric(t(f"clock_{clock}", lang), int(counts.get(clock, 0)))
table(shown, QUEUE_COLUMNS, lang, key="queue_table", height=480)

st.subheader(t("queue_departments", lang))
if frame.empty:
    st.caption(t("empty", lang))
else:
    names = data.options(lang).departments
    per = frame.groupby("department")["clock"].value_counts().unstack(fill_value=0)
    per = per.reindex(columns=["overdue", "at_risk", "on_track", "paused"], fill_value=0)
    per = per.sort_values(["overdue", "at_risk"], ascending=False).head(10)
    per.index = [f"{names.get(str(code), code)} ({code})" for code in per.index]
    st.table(per.rename(columns={c: t(f"clock_{c}", lang) for c in per.columns}))

if client is not None and not frame.empty:
    st.subheader(t("act", lang))
    case_id = int(st.selectbox(t("id", lang), list(frame["id"]), key="queue_case"))
    try:
        allowed = client.allowed(case_id)
    except (StaffApiRefused, StaffApiUnavailable) as problem:
        st.error(str(problem))
        allowed = []
    with st.form("queue_act"):
        action = st.selectbox(t("action", lang), allowed, key="queue_action")
        note = st.text_input(t("note", lang), key="queue_note")
        reason = st.text_input(t("reason", lang), key="queue_reason")
        by = st.text_input(t("by", lang), key="queue_by")
        department = st.text_input(t("to_department", lang), key="queue_to")
        photos = st.text_input(t("photos", lang), key="queue_photos")
        if st.form_submit_button(t("submit", lang)) and action:
            body: dict[str, Any] = {"note": note}
            for name, value in (("reason", reason), ("by", by), ("department", department)):
                if value.strip():
                    body[name] = value.strip()
            refs = [ref.strip() for ref in photos.split(",") if ref.strip()]
            if refs:
                body["photos"] = refs
            try:
                answer = client.act(case_id, str(action), body)
                st.success(f"{t('done', lang)}: #{case_id} {action} → {answer.get('state')}")
                data.queue.clear()
            except (StaffApiRefused, StaffApiUnavailable) as problem:
                st.error(str(problem))
