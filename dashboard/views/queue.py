"""Work queue: the signed-in staff member's open cases, worst first, one card per case.

Made for a phone in the street: names rather than codes, states in the chosen language, and one
clock per case read one way (``dashboard.clock``), so its mark, the time left and the deadline
always agree. A card opens the case page, where the steps open to this person are taken.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.clock import Clock, badge, instant, words
from dashboard.filters import current
from dashboard.i18n import label, t, title
from urbangrid.evaluation.scope import UnknownFilter

PAGE = 30
CLOCKS = ("overdue", "at_risk", "on_track", "paused")

filters = current()
lang = filters.lang
tz = data.settings().city_timezone
st.title(title("queue", lang))
try:
    frame = data.queue(filters)
except (UnknownFilter, ValueError) as problem:
    st.error(str(problem))
    st.stop()
names = data.names(lang)

counts = frame["clock"].value_counts()
st.markdown(" ".join(badge(clock, lang, f" {int(counts.get(clock, 0))}") for clock in CLOCKS))

flagged = frame["near_boundary"].notna()
# Reports near a street's boundary wait for a dispatcher to confirm the street or move them.
views = ["all", "overdue", "at_risk", *(["near_boundary"] if flagged.any() else [])]
words_of = {"all": t("all", lang), "near_boundary": t("queue_near_boundary", lang)}
wanted = st.radio(
    t("queue_show", lang),
    views,
    format_func=lambda k: words_of.get(k) or t(f"clock_{k}", lang),
    horizontal=True,
    key="queue_clock",
)
if wanted == "near_boundary":
    shown = frame[flagged]
else:
    shown = frame if wanted == "all" else frame[frame["clock"] == wanted]
if shown.empty:
    st.info(t("no_cases", lang))
    st.stop()

limit = int(st.session_state.get("queue_limit", PAGE))
st.caption(t("queue_shown", lang).format(shown=min(limit, len(shown)), total=len(shown)))


def card(case: pd.Series) -> None:
    case_id = int(case["id"])
    seconds = case["seconds_left"]
    clock = Clock(
        case["clock"],
        instant(case["deadline"]),
        None if seconds is None or pd.isna(seconds) else float(seconds),
    )
    category = names.categories.get(str(case["category"]), str(case["category"]))
    department = names.departments.get(str(case["department"]), "") if case["department"] else ""
    with st.container(border=True):
        st.markdown(f"**#{case_id} · {category}**")
        st.markdown(f"{badge(clock.status, lang)} {words(clock, lang, tz)}")
        facts = [label("state", str(case["state"]), lang), names.area_path(tuple(case["areas"]))]
        if department:
            facts.append(department)
        if int(case["escalation_level"] or 0) > 0:
            facts.append(t("escalated", lang).format(n=int(case["escalation_level"])))
        st.caption(" · ".join(facts))
        neighbour = case["near_boundary"]
        if isinstance(neighbour, str) and neighbour:
            street = names.areas.get(neighbour, neighbour)
            st.markdown(f":orange-badge[{t('near_boundary_of', lang).format(street=street)}]")
        st.page_link(
            "views/case.py",
            label=t("open_case", lang) + " →",
            query_params={"id": str(case_id), "lang": lang},
        )


for _, case in shown.head(limit).iterrows():
    card(case)
if len(shown) > limit and st.button(t("queue_more", lang), key="queue_more"):
    st.session_state["queue_limit"] = limit + PAGE
    st.rerun()
