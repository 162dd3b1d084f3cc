"""Overview: received, filed, closed, open and overdue; closure and on-time rates; weekly trend."""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.filters import current
from dashboard.i18n import t, title
from dashboard.show import SUMMARY, count, percent, summary, trend_chart
from urbangrid.evaluation.scope import UnknownFilter

filters = current()
lang = filters.lang
st.title(title("overview", lang))
try:
    view = data.overview(filters)
except (UnknownFilter, ValueError) as problem:
    st.error(str(problem))
    st.stop()

total = view.total
row = st.columns(5)
row[0].metric(t("received", lang), count(total["received"]))
row[1].metric(t("filed", lang), count(total["filed"]))
row[2].metric(t("closed", lang), count(total["closed"]))
row[3].metric(t("open_now", lang), count(view.open_now["open"]))
row[4].metric(t("overdue_now", lang), count(view.open_now["overdue"]))
row = st.columns(5)
row[0].metric(t("closure_rate", lang), percent(total["closure_rate"]))
row[1].metric(t("on_time_closure_rate", lang), percent(total["on_time_closure_rate"]))
row[2].metric(t("on_time_handling_rate", lang), percent(total["on_time_handling_rate"]))
row[3].metric(t("satisfaction_rate", lang), percent(total["satisfaction_rate"]))
row[4].metric(t("at_risk", lang), count(view.open_now["at_risk"]))

st.subheader(t("weekly_trend", lang))
if view.weekly.empty:
    st.info(t("empty", lang))
else:
    left, right = st.columns(2)
    counts = ("received", "closed", "overdue")
    rates = ("closure_rate", "on_time_closure_rate")
    left.altair_chart(trend_chart(view.weekly, {k: t(k, lang) for k in counts}), width="stretch")
    right.altair_chart(
        trend_chart(view.weekly, {k: t(k, lang) for k in rates}, rate=True), width="stretch"
    )

st.subheader(t("top_departments", lang))
summary(view.departments, lang, [*SUMMARY, "score", "grade"])
