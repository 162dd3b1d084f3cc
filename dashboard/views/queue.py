"""Work queue: a staff member's open cases with the time left on each clock, the worst first.

With a staff token the list comes from the staff API (the token's scope) and a case can be
acted on through it; without one, or without a staff API, the page reads the database and
only shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.filters import current
from dashboard.i18n import t, title
from dashboard.show import table
from dashboard.staff_client import StaffApiRefused, StaffApiUnavailable, StaffClient
from urbangrid.columns import utcnow
from urbangrid.domain.metrics import CLOCK_ORDER, clock_status
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role, allowed_actions
from urbangrid.metrics import UnknownFilter

COLUMNS = [
    "id",
    "clock",
    "hours_left",
    "deadline",
    "state",
    "category",
    "department",
    "area",
    "escalation_level",
]


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else None


def from_api(items: list[dict[str, Any]]) -> pd.DataFrame:
    """The staff API's cases in the queue's columns, with the same clock rule as the database's."""
    now = utcnow()
    share = data.settings().sla_warn_share
    rows = []
    for item in items:
        deadline = _instant(item.get("deadline_at") or item.get("deadline"))
        started = _instant(
            item.get("dispatched_at") or item.get("filed_at") or item.get("created_at")
        )
        state = str(item.get("state", ""))
        clock = clock_status(
            now=now,
            started=started,
            deadline=deadline,
            suspended=state == CaseState.SUSPENDED,
            at_risk_share=share,
        )
        rows.append(
            {
                "id": item.get("id"),
                "clock": clock,
                "hours_left": None
                if deadline is None
                else round((deadline - now).total_seconds() / 3600, 1),
                "deadline": deadline,
                "state": state,
                "category": item.get("category_code") or item.get("category"),
                "department": item.get("department_code") or item.get("department"),
                "area": item.get("l4_code") or item.get("area"),
                "escalation_level": item.get("escalation_level", 0),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    order = frame["clock"].map(CLOCK_ORDER)
    return frame.assign(_order=order).sort_values(["_order", "hours_left"]).drop(columns="_order")


def staff_actions(state: str) -> list[str]:
    """Every step some member of staff may take in ``state``; the API checks who may."""
    found: list[str] = []
    for role in Role:
        if role in (Role.SYSTEM, Role.HEAD, Role.CITIZEN):
            continue
        for action in allowed_actions(CaseState(state), role):
            if action not in found:
                found.append(action)
    return found


filters = current()
lang = filters.lang
st.title(title("queue", lang))
token = st.text_input(
    t("token", lang), type="password", help=t("token_help", lang), key="queue_token"
)
client = StaffClient(data.settings().staff_api_url, token) if token else None

frame: pd.DataFrame | None = None
if client is not None:
    try:
        frame = from_api(
            client.queue(
                department=filters.department, area=filters.area, category=filters.category
            )
        )
        st.caption(f"{t('acting_as', lang)}: {data.settings().staff_api_url}")
    except StaffApiUnavailable:
        st.warning(t("read_only", lang))
    except StaffApiRefused as refused:
        st.error(str(refused))
if frame is None:
    try:
        frame = data.queue(filters)
    except (UnknownFilter, ValueError) as problem:
        st.error(str(problem))
        st.stop()
    client = None

local = pd.to_datetime(frame["deadline"], utc=True).dt.tz_convert(data.settings().city_timezone)
shown = frame.assign(
    clock=frame["clock"].map(lambda c: t(f"clock_{c}", lang)),
    deadline=local.dt.strftime("%Y-%m-%d %H:%M"),
)
counts = frame["clock"].value_counts()
row = st.columns(4)
for column, clock in zip(row, ("overdue", "at_risk", "on_track", "paused"), strict=True):
    column.metric(t(f"clock_{clock}", lang), int(counts.get(clock, 0)))
table(shown, COLUMNS, lang, key="queue_table", height=480)

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
    states = dict(zip(frame["id"], frame["state"], strict=True))
    with st.form("queue_act"):
        case_id = st.selectbox(t("id", lang), list(states), key="queue_case")
        action = st.selectbox(t("action", lang), staff_actions(states[case_id]), key="queue_action")
        note = st.text_input(t("note", lang), key="queue_note")
        if st.form_submit_button(t("submit", lang)):
            try:
                client.act(int(case_id), str(action), note=note)
                st.success(f"{t('done', lang)}: #{case_id} {action}")
                data.queue.clear()
            except (StaffApiRefused, StaffApiUnavailable) as problem:
                st.error(str(problem))
