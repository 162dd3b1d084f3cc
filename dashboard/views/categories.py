"""Categories: counts and rates per major and minor class, weekly trends, top categories by area.

The automatic statistics a city centre plans with: what is reported where, and how fast each
kind of problem is closed.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.filters import current
from dashboard.i18n import t, title
from dashboard.loaders.figures import HEADLINE_COLUMNS
from dashboard.show import summary, table, trend_chart
from urbangrid.evaluation.scope import UnknownFilter

COLUMNS = [
    *HEADLINE_COLUMNS,
    "on_time_handling_rate",
    "rework_rate",
    "satisfaction_rate",
    "average_handling_hours",
]

filters = current()
lang = filters.lang
st.title(title("categories", lang))
try:
    view = data.categories(filters)
except (UnknownFilter, ValueError) as problem:
    st.error(str(problem))
    st.stop()

majors, minors = st.tabs([t("by_major", lang), t("by_minor", lang)])
with majors:
    if view.majors.empty:
        st.info(t("empty", lang))
    else:
        table(view.majors, COLUMNS, lang, key="categories_majors")
        chart = view.majors.assign(label=view.majors["key"] + " " + view.majors["name"])
        st.bar_chart(
            chart.set_index("label")[["received"]].rename(columns={"received": t("received", lang)})
        )
with minors:
    if view.minors.empty:
        st.info(t("empty", lang))
    else:
        table(view.minors, COLUMNS, lang, key="categories_minors")

st.subheader(t("weekly_by_major", lang))
if not view.weekly.empty:
    wide = view.weekly.pivot_table(
        index="bucket", columns="major", values="received", fill_value=0
    ).reset_index()
    # Each class's label starts with its code, so sorted labels keep one order (and one
    # colour per class) in both languages.
    classes = sorted(str(c) for c in wide.columns if c != "bucket")
    st.altair_chart(trend_chart(wide, {c: c for c in classes}), width="stretch")

st.subheader(t("top_per_area", lang))
table(
    view.top,
    ["area", "area_name", "place", "category", "category_name", "received"],
    lang,
    key="categories_top",
)

st.subheader(t("category_departments", lang))
summary(view.departments, lang)
