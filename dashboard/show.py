"""How figures look on a page: percentages, counts and localised tables (layout helpers only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
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


RANKING = [
    "rank",
    "name",
    "due",
    "closure_rate",
    "on_time_handling_rate",
    "rework_rate",
    "score",
    "grade",
]


def ranking_frame(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The quarterly ranking as read: one row per department, every figure in one format.

    A department the ranking leaves out (too few cases in the quarter: ``ranked`` false, or no
    rank) is listed after the ranked ones, with "unranked" where its place would be.

    >>> rows = pd.DataFrame([
    ...     {"rank": 1, "ranked": True, "name": "A", "due": 40, "closure_rate": 1.0,
    ...      "on_time_handling_rate": 0.5, "rework_rate": 0.0, "score": 94.0, "grade": "A"},
    ...     {"rank": None, "ranked": False, "name": "B", "due": 4, "closure_rate": 1.0,
    ...      "on_time_handling_rate": None, "rework_rate": 0.0, "score": 90.0, "grade": "A"}])
    >>> for row in ranking_frame(rows, "en").values.tolist():
    ...     print(row)
    ['1', 'A', '40', '100.0%', '50.0%', '0.0%', '94.0', 'A']
    ['unranked', 'B', '4', '100.0%', '—', '0.0%', '90.0', 'A']
    """
    ranked = (
        frame["ranked"].fillna(False).astype(bool) if "ranked" in frame else frame["rank"].notna()
    )
    ordered = frame.assign(_ranked=ranked).sort_values(
        ["_ranked", "rank", "due"], ascending=[False, True, False], na_position="last"
    )
    rows = []
    for _, row in ordered.iterrows():
        shown = {}
        for name in RANKING:
            value = row.get(name)
            if name == "rank":
                shown[name] = (
                    str(int(value)) if row["_ranked"] and pd.notna(value) else t("unranked", lang)
                )
            else:
                shown[name] = cell(name, value)
        rows.append(shown)
    return pd.DataFrame(rows, columns=RANKING).rename(columns={k: t(k, lang) for k in RANKING})


def ranking(frame: pd.DataFrame, lang: str) -> None:
    """The quarterly ranking, once: a static table of every department."""
    if frame.empty:
        st.caption(t("empty", lang))
        return
    st.table(ranking_frame(frame, lang).set_index(t("rank", lang)))


# A series keeps its colour in both languages: the colour follows the measure's key, only the
# legend's words change. (Charts coloured by their translated names reorder with the alphabet:
# "Closed" and 结案数 would swap colours when a head switches the language.)
SERIES_COLOURS = {
    "received": "#1f77b4",
    "closed": "#2ca02c",
    "overdue": "#d62728",
    "closure_rate": "#9467bd",
    "on_time_closure_rate": "#ff7f0e",
}
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def series_colours(keys: Sequence[str]) -> list[str]:
    """One colour per series key: the measure's own, else the palette's by the key's place.

    >>> series_colours(["closed", "received"])
    ['#2ca02c', '#1f77b4']
    >>> series_colours(["E01", "E02"]) == list(PALETTE[:2])
    True
    """
    return [SERIES_COLOURS.get(key, PALETTE[i % len(PALETTE)]) for i, key in enumerate(keys)]


def trend_chart(
    frame: pd.DataFrame, series: Mapping[str, str], *, x: str = "bucket", rate: bool = False
) -> alt.Chart:
    """A line per series over ``x``: ``series`` maps each column's key to the words shown.

    The colour scale's domain is the words in the order of the keys and its range the keys'
    colours, so each key has the same colour whatever the language.

    >>> weeks = pd.DataFrame({"bucket": ["W1", "W2"], "received": [3, 4], "closed": [1, 2]})
    >>> en = trend_chart(weeks, {"received": "Received", "closed": "Closed"}).to_dict()
    >>> zh = trend_chart(weeks, {"received": "受理数", "closed": "结案数"}).to_dict()
    >>> [en["encoding"]["color"]["scale"][k] for k in ("domain", "range")]
    [['Received', 'Closed'], ['#1f77b4', '#2ca02c']]
    >>> [zh["encoding"]["color"]["scale"][k] for k in ("domain", "range")]
    [['受理数', '结案数'], ['#1f77b4', '#2ca02c']]
    """
    keys = list(series)
    long = frame.melt(id_vars=[x], value_vars=keys, var_name="key", value_name="value")
    long["series"] = long["key"].map(series)
    axis = alt.Axis(format="%") if rate else alt.Axis(format=",d")
    chart: alt.Chart = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:O", title=None, sort="ascending"),
            y=alt.Y("value:Q", title=None, axis=axis),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(domain=[series[k] for k in keys], range=series_colours(keys)),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip(f"{x}:O", title=""),
                alt.Tooltip("series:N", title=""),
                alt.Tooltip("value:Q", title="", format=".1%" if rate else ",d"),
            ],
        )
    )
    return chart
