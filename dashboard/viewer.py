"""Who is looking at the dashboard: the staff member signed in by the session cookie, or nobody.

Signing in happens on the dashboard's own sign-in page (``dashboard.signin``), which asks the
staff API for a token and keeps it in an HttpOnly cookie. Every run of a page reads that cookie
(``st.context.cookies``: the one the browser sent when it opened the page) and checks the token
against the staff tables, so a signed-out or revoked token stops working at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from sqlmodel import Session

from urbangrid.db import get_engine
from urbangrid.domain.access import Scope
from urbangrid.domain.readers import Reader
from urbangrid.domain.workflow import Role
from urbangrid.settings import get_settings
from urbangrid.staff import authenticate

COOKIE = "urbangrid_staff"


@dataclass(frozen=True)
class Viewer:
    """A signed-in member of staff, with the token the staff API knows them by."""

    name: str
    role: Role
    scope: Scope
    token: str


def cookie_token() -> str | None:
    """The session cookie's token, as the browser sent it when it opened the page."""
    value = st.context.cookies.get(COOKIE)
    return str(value) if value else None


def current() -> Viewer | None:
    """The signed-in member of staff, or None (no cookie, or its token is no longer valid)."""
    token = cookie_token()
    if not token:
        return None
    with Session(get_engine(get_settings())) as session:
        principal = authenticate(session, token)
    if principal is None:
        return None
    return Viewer(principal.name, principal.role, principal.scope, token)


def reader(viewer: Viewer | None) -> Reader:
    """What ``viewer`` may read, with the city's publishing setting for those not signed in."""
    published = get_settings().public_dashboard
    if viewer is None:
        return Reader(None, None, published=published)
    return Reader(viewer.role, viewer.scope, published=published)
