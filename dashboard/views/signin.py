"""The only page for someone not signed in when the city publishes nothing: the way in."""

from __future__ import annotations

import streamlit as st

from dashboard.filters import language, link, signin_address
from dashboard.i18n import t, title

lang = language()
st.title(title("app", lang))
st.info(t("signin_needed", lang))
link(signin_address(lang), t("signin", lang) + " →")
