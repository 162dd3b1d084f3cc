"""Map: cases, open and overdue counts per area at one grid level, coloured, with drill-down.

Drawn by pydeck with no base map (no tiles from the internet): the grid's own polygons are the
map. Clicking an area, or choosing it below, opens its children: district → street →
community → base cell.
"""

from __future__ import annotations

import math
from typing import Any

import pydeck as pdk
import streamlit as st

from dashboard import data
from dashboard.deck import names_layer
from dashboard.filters import current, drill
from dashboard.i18n import t, title
from dashboard.loaders.map import MAP_COLUMNS
from dashboard.show import count, percent, summary, table
from urbangrid.evaluation.scope import UnknownFilter

COLOUR_BY = ["overdue_now", "open", "received", "closure_rate", "on_time_closure_rate"]
LOW, HIGH = (255, 237, 160), (189, 0, 38)  # pale yellow → deep red


def legend(measure: str, low: float, high: float, *, rate: bool, lang: str) -> str:
    """The colour scale as a bar with its two ends in the measure's units (HTML)."""
    pale, deep = (f"rgb{LOW}", f"rgb{HIGH}")
    start, end = (deep, pale) if rate else (pale, deep)
    shown = percent if rate else count
    unit = "" if rate else t("cases_unit", lang)
    return (
        '<div style="font-size:0.9rem">'
        f"<b>{t(measure, lang)}</b>"
        '<div style="display:flex;align-items:center;gap:0.5rem;margin-top:0.2rem">'
        f"<span>{shown(low)}{unit}</span>"
        f'<span style="flex:1;height:0.8rem;border-radius:0.2rem;'
        f'background:linear-gradient(to right,{start},{end})"></span>'
        f"<span>{shown(high)}{unit}</span>"
        '<span style="display:inline-block;width:0.8rem;height:0.8rem;background:rgb(200,200,200)">'
        f"</span><span>{t('no_figure', lang)}</span></div></div>"
    )


def colour(value: Any, low: float, high: float, *, rate: bool) -> list[int]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return [200, 200, 200, 120]
    share = 0.0 if high <= low else (float(value) - low) / (high - low)
    if rate:  # a low closure rate is the alarming end
        share = 1.0 - share
    return [round(a + (b - a) * share) for a, b in zip(LOW, HIGH, strict=True)] + [190]


filters = current()
lang = filters.lang
st.title(title("map", lang))
try:
    view = data.area_map(filters)
except (UnknownFilter, ValueError) as problem:
    st.error(str(problem))
    st.stop()

level_name = t(f"level_{view.level}", lang)
st.caption(f"{t('map_level', lang)}: {level_name}" + (f" · {view.parent}" if view.parent else ""))
if not view.features["features"]:
    st.info(t("no_grid", lang))
    st.stop()

measure = st.selectbox(
    t("colour_by", lang), COLOUR_BY, format_func=lambda k: t(k, lang), key="map_colour"
)
rate = measure.endswith("_rate")
values = [f["properties"].get(measure) for f in view.features["features"]]
known = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
low, high = (min(known), max(known)) if known else (0.0, 0.0)
for feature, value in zip(view.features["features"], values, strict=True):
    properties = feature["properties"]
    properties["fill"] = colour(value, low, high, rate=rate)
    properties["shown"] = percent(value) if rate else count(value)
    properties["label"] = t(measure, lang)

assert view.bounds is not None
minx, miny, maxx, maxy = view.bounds
span = max(maxx - minx, (maxy - miny) * 1.2, 1e-4)
# Names on the areas: districts and streets always; communities and cells are too many and
# too small to label legibly, their names are in the tooltip and the table below.
labels = [
    {"position": f["properties"]["anchor"], "text": f["properties"]["name"]}
    for f in view.features["features"]
    if view.level <= 2 and f["properties"].get("name")
]
deck = pdk.Deck(
    layers=[
        pdk.Layer(
            "GeoJsonLayer",
            data=view.features,
            id="areas",
            pickable=True,
            stroked=True,
            filled=True,
            get_fill_color="properties.fill",
            get_line_color=[90, 90, 90, 200],
            line_width_min_pixels=1,
        ),
        names_layer(labels, layer_id="names", size=14 if view.level == 1 else 12),
    ],
    initial_view_state=pdk.ViewState(
        longitude=(minx + maxx) / 2,
        latitude=(miny + maxy) / 2,
        zoom=max(1.0, math.log2(360 / span) - 0.4),  # deck.gl: the world is 512 px at zoom 0
    ),
    # No base map: nothing is fetched from the internet. (Passing map_style=None instead would
    # make Streamlit fill in a Carto base map from its CDN.)
    map_provider=None,
    tooltip={"html": "<b>{name}</b><br/>{label}: {shown}"},
)
event = st.pydeck_chart(
    deck,
    on_select="rerun",
    selection_mode="single-object",
    # A chart per view, so a click made on the districts is not replayed on their streets.
    key=f"map_chart_{view.level}_{view.parent}",
    height=520,
)
st.html(legend(measure, low, high, rate=rate, lang=lang))
chosen = event.selection.objects.get("areas") if event else None
picked: dict[str, Any] | None = chosen[0] if chosen else None
if picked and view.level < 4:
    code = (picked.get("properties") or picked).get("key")
    if code and code != filters.area:
        drill(code)

left, right = st.columns([3, 1])
names = dict(zip(view.table["key"], view.table["name"], strict=True))
if view.level < 4:
    target = left.selectbox(
        t("drill_down", lang),
        ["", *names],
        format_func=lambda code: f"{names[code]} ({code})" if code else "—",
        key=f"map_drill_{view.level}_{view.parent}",
    )
    if target:
        drill(target)
if view.parent and right.button(t("back_up", lang), key="map_up"):
    drill(data.parent_of(view.parent))

table(
    view.table,
    MAP_COLUMNS,
    lang,
    key="map_table",
)

st.subheader(t("map_departments", lang))
summary(view.departments, lang)
