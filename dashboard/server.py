"""The dashboard's server: the Streamlit pages (``dashboard/app.py``) and the sign-in routes.

``urbangrid dashboard`` runs ``streamlit run`` on this file; Streamlit finds ``app`` and serves
the pages with ``dashboard.signin``'s routes beside them, on one address, so the session cookie
the sign-in sets is the dashboard's own.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.signin import ROUTES

app = st.App(Path(__file__).with_name("app.py"), routes=ROUTES)
