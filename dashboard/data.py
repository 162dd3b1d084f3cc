"""The pages' data: ``dashboard.loaders`` cached for a short while, apart from any layout.

A figure is cached for ``URBANGRID_DASHBOARD_CACHE_TTL_S`` seconds per filter combination, so
a room of department heads opening the same view costs one set of queries.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st
from sqlmodel import Session

from dashboard.loaders import case, lookups
from dashboard.loaders.case import CasePhoto
from dashboard.loaders.categories import CategoriesData, categories_data
from dashboard.loaders.departments import DepartmentsData, departments_data
from dashboard.loaders.figures import Filters
from dashboard.loaders.lookups import Names, Options
from dashboard.loaders.map import MapData, map_data
from dashboard.loaders.overview import OverviewData, overview_data
from dashboard.loaders.published import PublishedData, published_data
from dashboard.loaders.queue import queue_data
from dashboard.staff_client import StaffClient
from urbangrid.core.columns import utcnow
from urbangrid.core.db import get_engine
from urbangrid.core.settings import Settings, get_settings

TTL = get_settings().dashboard_cache_ttl_s


def settings() -> Settings:
    return get_settings()


def _session() -> Session:
    return Session(get_engine(get_settings()))


def _now() -> datetime:
    return utcnow()


@st.cache_data(ttl=TTL, show_spinner=False)
def overview(filters: Filters) -> OverviewData:
    with _session() as session:
        return overview_data(session, get_settings(), filters, _now())


@st.cache_data(ttl=TTL, show_spinner=False)
def departments(filters: Filters) -> DepartmentsData:
    with _session() as session:
        return departments_data(session, get_settings(), filters, _now())


@st.cache_data(ttl=TTL, show_spinner=False)
def area_map(filters: Filters) -> MapData:
    with _session() as session:
        return map_data(session, get_settings(), filters, _now())


@st.cache_data(ttl=TTL, show_spinner=False)
def categories(filters: Filters) -> CategoriesData:
    with _session() as session:
        return categories_data(session, get_settings(), filters, _now())


def queue(filters: Filters) -> pd.DataFrame:
    """Not cached: someone working the queue must see a case leave it as soon as it moves."""
    with _session() as session:
        return queue_data(session, get_settings(), filters, _now())


@st.cache_data(ttl=TTL, show_spinner=False)
def published(quarter: str, lang: str) -> PublishedData:
    with _session() as session:
        return published_data(session, get_settings(), quarter, lang, _now())


@st.cache_data(ttl=max(TTL, 300), show_spinner=False)
def names(lang: str) -> Names:
    with _session() as session:
        return lookups.names(session, lang)


def case_photos(case_id: int) -> list[CasePhoto]:
    with _session() as session:
        return case.case_photos(session, case_id)


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def photo_as_taken(base_url: str, token: str, case_id: int, photo_id: int) -> bytes:
    """A case's stored photo, fetched with a staff token once, not on every rerun of the page
    (a stored photo never changes; the token in the key keeps each person's scope)."""
    return StaffClient(base_url, token).photo(case_id, photo_id)


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def public_copy(base_url: str, digest: str) -> bytes:
    """A public copy, named by its content, so it never changes under its digest."""
    return StaffClient(base_url, "").public_copy(digest)


@st.cache_data(ttl=max(TTL, 300), show_spinner=False)
def place_shapes(codes: tuple[str, ...]) -> dict[str, object]:
    with _session() as session:
        return case.place_shapes(session, list(codes))


@st.cache_data(ttl=max(TTL, 300), show_spinner=False)
def options(lang: str) -> Options:
    with _session() as session:
        return lookups.filter_options(session, lang)


@st.cache_data(ttl=max(TTL, 300), show_spinner=False)
def cells_of(community: str) -> dict[str, str]:
    with _session() as session:
        return lookups.cells_of(session, community)


@st.cache_data(ttl=max(TTL, 300), show_spinner=False)
def parent_of(area: str) -> str | None:
    with _session() as session:
        return lookups.parent_of(session, area)
