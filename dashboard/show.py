"""How figures look on a page: percentages, counts and localised tables (layout helpers only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.i18n import t
from urbangrid.domain.scoring import RATE_NAMES

RATES = frozenset((*RATE_NAMES, "rate", "step_on_time_rate", "step_overdue_rate"))


def percent(value: Any) -> str:
    """A rate as the dashboard shows it: one decimal of a percent, or a dash.

    >>> percent(0.8182), percent(None), percent(1.0)
    ('81.8%', '—', '100.0%')
    """
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return f"{float(value) * 100:.1f}%"


def count(value: Any) -> str:
    """A count with thousands separators.

    >>> count(12345), count(None)
    ('12,345', '0')
    """
    if value is None or (isinstance(value, float) and value != value):
        return "0"
    return f"{int(value):,}"


def table(
    frame: pd.DataFrame, keys: Sequence[str], lang: str, *, key: str, height: int | None = None
) -> None:
    """A sortable table of ``keys`` with localised headers; rates shown as percentages."""
    shown = frame[list(keys)]
    config: dict[str, Any] = {}
    for name in keys:
        label = t(name, lang)
        if name in RATES:
            config[name] = st.column_config.NumberColumn(label, format="percent")
        elif name in ("score", "average_handling_hours", "step_average_hours", "hours_left"):
            config[name] = st.column_config.NumberColumn(label, format="%.1f")
        else:
            config[name] = st.column_config.Column(label)
    options: dict[str, Any] = {"hide_index": True, "column_config": config, "key": key}
    if height is not None:
        options["height"] = height
    st.dataframe(shown, width="stretch", **options)


SUMMARY = ["name", "due", "closed", "closure_rate", "on_time_closure_rate", "open", "overdue_now"]


def summary(frame: pd.DataFrame, lang: str, keys: Sequence[str] = SUMMARY) -> None:
    """A short static table of departments (a few rows, figures formatted for reading)."""
    if frame.empty:
        st.caption(t("empty", lang))
        return
    shown = pd.DataFrame({t(name, lang): [cell(name, v) for v in frame[name]] for name in keys})
    st.table(shown.set_index(t("name", lang)))


def cell(name: str, value: Any) -> str:
    """One figure of a static table, formatted for reading.

    >>> cell("closure_rate", 0.5), cell("score", 71.5764), cell("grade", "C"), cell("due", 1200)
    ('50.0%', '71.6', 'C', '1,200')
    """
    if name in RATES:
        return percent(value)
    missing = value is None or (isinstance(value, float) and value != value)
    if name in ("score", "average_handling_hours"):
        return "—" if missing else f"{float(value):.1f}"
    if name in ("name", "grade", "key", "state", "clock"):
        return "—" if missing else str(value)
    return count(value)
