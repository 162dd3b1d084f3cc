"""Departments: every measure per department, sortable; the quarter's ranking; CSV and Excel."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.filters import current, reader
from dashboard.i18n import t, title
from dashboard.show import ranking, table
from urbangrid.domain.metrics import LOWER_IS_BETTER
from urbangrid.metrics import FLAT_COLUMNS, UnknownFilter

MEASURES = [
    "key",
    "name",
    "received",
    "filed",
    "due",
    "closed",
    "closed_on_time",
    "overdue",
    "closure_rate",
    "on_time_closure_rate",
    "on_time_handling_rate",
    "overdue_rate",
    "extension_rate",
    "rework_rate",
    "reopen_rate",
    "return_rate",
    "accurate_dispatch_rate",
    "satisfaction_rate",
    "average_handling_hours",
    "score",
    "grade",
]


def excel(frame: pd.DataFrame, sheet: str) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name=sheet[:31], index=False)
    return buffer.getvalue()


def downloads(frame: pd.DataFrame, name: str, lang: str, key: str) -> None:
    labelled = frame[list(FLAT_COLUMNS)].rename(columns={c: t(c, lang) for c in FLAT_COLUMNS})
    left, right = st.columns(2)
    left.download_button(
        t("download_csv", lang),
        labelled.to_csv(index=False).encode("utf-8-sig"),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
    )
    right.download_button(
        t("download_xlsx", lang),
        excel(labelled, name),
        file_name=f"{name}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}_xlsx",
    )


filters = current()
lang = filters.lang
st.title(title("departments", lang))
try:
    view = data.departments(filters)
except (UnknownFilter, ValueError) as problem:
    st.error(str(problem))
    st.stop()

st.subheader(f"{t('all_measures', lang)} · {filters.period}")
if view.table.empty:
    st.info(t("empty", lang))
else:
    table(view.table, MEASURES, lang, key="departments_table")
    downloads(view.table, f"departments-{filters.period}", lang, "departments")

st.subheader(f"{t('ranking', lang)} · {view.ranking_period}")
ranking(view.ranking, lang)
st.caption(t("unranked_note", lang).format(n=data.settings().ranking_min_cases))
downloads(view.ranking, f"ranking-{view.ranking_period}", lang, "ranking")

STEPS = [
    "stage_name",
    "role",
    "step_due",
    "step_done",
    "step_on_time",
    "step_overdue",
    "step_on_time_rate",
    "step_overdue_rate",
    "step_average_hours",
]

st.subheader(f"{t('by_role', lang)} · {filters.period}")
st.caption(t("by_role_note", lang))
if view.roles.empty:
    st.info(t("empty", lang))
else:
    table(view.roles, STEPS, lang, key="departments_roles")
    if reader().sees_people:  # each person's figures: for those who lead people
        with st.expander(t("by_staff", lang)):
            table(view.staff, ["stage_name", "role", "actor", *STEPS[2:]], lang, key="staff")

policy = data.settings().score_policy
with st.expander(t("formula", lang)):
    terms = [
        f"{weight:g} × " + (f"(1 − {t(name, lang)})" if name in LOWER_IS_BETTER else t(name, lang))
        for name, weight in policy.weights.items()
    ]
    bands = ", ".join(f"≥ {minimum}: {points:g}" for minimum, points in policy.volume_bands)
    grades = ", ".join(f"{g} ≥ {m:g}" for g, m in policy.grades)
    st.markdown(f"{' + '.join(terms)} + volume ({bands})  \n{grades}, {policy.lowest_grade} <")
