"""The urbangrid dashboard: department heads and grid staff read the city's cases here.

``urbangrid dashboard`` serves it (``dashboard/server.py``: these pages and the sign-in). What a
visitor sees follows who they are: without signing in, only what the city publishes (or
nothing); signed in, the figures of their scope, and for those who work cases their work queue
and the case pages, where they act through the staff API with their own session.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import viewer as viewers
from dashboard.filters import account, language, sidebar
from dashboard.i18n import t

HERE = Path(__file__).resolve().parent
VIEWS = HERE / "views"

st.set_page_config(page_title="urbangrid 城市网格", layout="wide")
lang = language()
viewer = viewers.current()
reader = viewers.reader(viewer)
st.session_state["viewer"] = viewer
st.session_state["reader"] = reader

# The addresses of the staff's pages (the overview is the dashboard's own address).
STAFF_PATHS = ("departments", "map", "categories", "queue", "case")

if not reader.signed_in:
    # Nobody signed in: the published figures when the city publishes them, else only the door.
    # Either stands at every staff page's address too, so a link to a case (/case?id=…) keeps
    # its address, and signing in from there leads back to it.
    door, name = ("published.py", "published") if reader.published else ("signin.py", "signin")
    doors = [st.Page(VIEWS / door, title=t(name, lang), url_path=name, default=True)]
    doors += [
        st.Page(VIEWS / door, title=t(name, lang), url_path=path, visibility="hidden")
        for path in STAFF_PATHS
    ]
    page = st.navigation(doors, position="hidden")
    account(None, lang)
    page.run()
    st.stop()

pages = [
    st.Page(VIEWS / "overview.py", title=t("overview", lang), url_path="overview", default=True),
    st.Page(VIEWS / "departments.py", title=t("departments", lang), url_path="departments"),
    st.Page(VIEWS / "map.py", title=t("map", lang), url_path="map"),
    st.Page(VIEWS / "categories.py", title=t("categories", lang), url_path="categories"),
]
if reader.sees_cases:
    pages += [
        st.Page(VIEWS / "queue.py", title=t("queue", lang), url_path="queue"),
        st.Page(VIEWS / "case.py", title=t("id", lang), url_path="case", visibility="hidden"),
    ]
page = st.navigation(pages)
account(viewer, lang)
sidebar()  # the filters: drawn here, so they are the same on every page
page.run()
