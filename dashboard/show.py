"""How figures look on a page: percentages, counts and localised tables (layout helpers only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.i18n import t
from urbangrid.domain.metrics import RATE_NAMES

RATES = frozenset((*RATE_NAMES, "rate"))


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
        elif name in ("score", "average_handling_hours", "hours_left"):
            config[name] = st.column_config.NumberColumn(label, format="%.1f")
        else:
            config[name] = st.column_config.Column(label)
    options: dict[str, Any] = {"hide_index": True, "column_config": config, "key": key}
    if height is not None:
        options["height"] = height
    st.dataframe(shown, width="stretch", **options)
