"""Overview page: where the city's cases stand, per department."""

from __future__ import annotations

import streamlit as st

from dashboard.data import cases_by_department_and_state

st.set_page_config(page_title="urbangrid 城市网格", layout="wide")
st.title("urbangrid · 城市网格管理 Overview")


@st.cache_data(ttl=30)
def _load() -> object:
    return cases_by_department_and_state()


frame = _load()
st.subheader("Cases by department and state 各部门案件")
st.dataframe(frame, use_container_width=True)
