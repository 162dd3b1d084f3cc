"""The urbangrid dashboard: department heads and grid staff read the city's cases here.

``streamlit run dashboard/app.py`` (or ``urbangrid dashboard``). The pages only read; acting on a
case happens through the staff API, from the work queue, with a staff member's token.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.filters import language, sidebar
from dashboard.i18n import t

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="urbangrid 城市网格", layout="wide")
lang = language()
pages = [
    st.Page(
        HERE / "views" / "overview.py", title=t("overview", lang), url_path="overview", default=True
    ),
    st.Page(
        HERE / "views" / "departments.py", title=t("departments", lang), url_path="departments"
    ),
    st.Page(HERE / "views" / "map.py", title=t("map", lang), url_path="map"),
    st.Page(HERE / "views" / "categories.py", title=t("categories", lang), url_path="categories"),
    st.Page(HERE / "views" / "queue.py", title=t("queue", lang), url_path="queue"),
]
page = st.navigation(pages)
sidebar()  # the filters: drawn here, so they are the same on every page
page.run()
