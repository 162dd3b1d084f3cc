"""Filters kept in the URL (``?period=2026-Q3&dept=…&area=…&cat=…&lang=en``).

Every page reads the same filters from the address, offers them in the sidebar, and writes any
change back, so a view can be bookmarked or sent to a colleague as it is.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import data
from dashboard.i18n import LANGS, t
from dashboard.loaders.figures import Filters
from dashboard.loaders.lookups import Options
from dashboard.viewer import Viewer
from urbangrid.core.columns import utcnow
from urbangrid.domain.access import ScopeKind
from urbangrid.domain.readers import OutOfScope, Reader
from urbangrid.evaluation.formulas import ROLLING_WINDOWS, parse_period, quarter_of

PARAMS = {"period": "period", "department": "dept", "area": "area", "category": "cat"}
CUSTOM = "custom"
STATE = "filters"


def language() -> str:
    """The language in the URL (``lang``), Chinese by default."""
    lang = st.query_params.get("lang", "zh")
    return lang if lang in LANGS else "zh"


def _today() -> date:
    return utcnow().astimezone(ZoneInfo(data.settings().city_timezone)).date()


def period_choices(today: date) -> list[str]:
    """Rolling windows, this and last quarter, this and last month, this year."""
    this_quarter = quarter_of(today)
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last_quarter = quarter_of(quarter_start - timedelta(days=1))
    month_start = today.replace(day=1)
    last_month = (month_start - timedelta(days=1)).strftime("%Y-%m")
    found = [
        *(f"{days}d" for days in ROLLING_WINDOWS),
        this_quarter,
        last_quarter,
        today.strftime("%Y-%m"),
        last_month,
        str(today.year),
    ]
    return list(dict.fromkeys(found))


def _valid_period(label: str) -> bool:
    try:
        parse_period(label, tz=ZoneInfo(data.settings().city_timezone), today=_today())
    except ValueError:
        return False
    return True


def link(href: str, text: str) -> None:
    """A link that opens in this tab (the sign-in and sign-out pages are this dashboard's)."""
    st.html(f'<a href="{href}" target="_self" style="font-weight:600">{text}</a>')


def scope_name(viewer: Viewer, lang: str) -> str:
    """A staff member's scope in words: the whole city, a department or an area, by name."""
    scope = viewer.scope
    if scope.kind is ScopeKind.CITY:
        return t("scope_city", lang)
    options = data.options(lang)
    if scope.kind is ScopeKind.DEPARTMENT:
        return options.departments.get(scope.value, scope.value)
    for level in (3, 2, 1):
        if scope.value in options.areas[level]:
            return options.areas[level][scope.value][0]
    return scope.value


def account(viewer: Viewer | None, lang: str) -> None:
    """Who is signed in, and the way in or out, at the top of the sidebar."""
    with st.sidebar:
        if viewer is None:
            link(f"/staff/signin?lang={lang}", t("signin", lang))
            return
        role = t(f"role_{viewer.role}", lang)
        st.caption(
            f"{t('signed_in_as', lang)}: **{viewer.name}** · {role} · {scope_name(viewer, lang)}"
        )
        link(f"/staff/signout?lang={lang}", t("signout", lang))


def reader() -> Reader:
    found = st.session_state.get("reader")
    return found if isinstance(found, Reader) else Reader(None, None)


def _init(key: str, value: object) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def current() -> Filters:
    """The view the entrypoint's sidebar chose (a page run on its own draws the sidebar itself)."""
    found = st.session_state.get(STATE)
    return found if isinstance(found, Filters) else sidebar()


def sidebar(*, area_filter: bool = True) -> Filters:
    """Draw the filters in the sidebar, initialised from the URL; returns the chosen view.

    The entrypoint draws them once per run, before the page, so that they are the same widgets
    on every page and a choice survives moving between pages.
    """
    lang = language()
    options = data.options(lang)
    params = st.query_params
    default_period = data.settings().dashboard_default_period
    period = params.get("period", default_period)
    if not _valid_period(period):
        st.sidebar.warning(f"{t('period', lang)}: {period!r} ?")
        period = default_period

    with st.sidebar:
        st.header(t("filters", lang))
        chosen_lang = st.radio(
            t("language", lang),
            LANGS,
            index=LANGS.index(lang),
            format_func=lambda code: "中文" if code == "zh" else "English",
            horizontal=True,
            key="f_lang",
        )
        choices = period_choices(_today())
        if period not in choices:
            choices = [period, *choices]
        _init("f_period", period)
        picked = st.selectbox(
            t("period", lang),
            [*choices, CUSTOM],
            format_func=lambda label: (
                t(label, lang) if label in ("7d", "30d", "90d", "365d", CUSTOM) else label
            ),
            key="f_period",
        )
        if picked == CUSTOM:
            today = _today()
            span = st.date_input(
                t("custom", lang), value=(today - timedelta(days=29), today), key="f_custom"
            )
            if isinstance(span, tuple) and len(span) == 2:
                picked = f"{span[0].isoformat()}..{span[1].isoformat()}"
            else:
                picked = period

        who = reader()
        fixed = who.scope.value if who.scope and who.scope.kind is ScopeKind.DEPARTMENT else None
        within = who.scope.value if who.scope and who.scope.kind is ScopeKind.GRID else None
        departments = (
            {fixed: options.departments.get(fixed, fixed)} if fixed else options.departments
        )
        department = _select(
            t("department", lang),
            departments,
            fixed or params.get("dept"),
            "f_department",
            lang,
            everything=fixed is None,
        )
        area = params.get("area") if area_filter else None
        if within and not (area or "").startswith(within):
            area = within
        area = _area_selects(options, area, lang, within=within) if area_filter else None
        category_options = {
            **{major: f"{major} {name}" for major, name in options.majors.items()},
            **{code: f"{code} {name}" for code, name in options.categories.items()},
        }
        category = _select(
            t("category", lang), category_options, params.get("cat"), "f_category", lang, raw=True
        )
        st.caption(t("share_view", lang))

    if who.signed_in:  # the pages read only the reader's scope, whatever the address asked
        try:
            department, area = who.narrow(department, area)
        except OutOfScope:
            department, area = who.narrow(None, None)
    filters = Filters(
        period=str(picked),
        department=department,
        area=area,
        category=category,
        lang=str(chosen_lang),
    )
    _write_back(filters)
    st.session_state[STATE] = filters
    return filters


def _select(
    label: str,
    choices: dict[str, str],
    current: str | None,
    key: str,
    lang: str,
    *,
    raw: bool = False,
    everything: bool = True,
) -> str | None:
    keys = ["", *choices] if everything else list(choices)
    _init(key, current if current in choices else keys[0])
    if st.session_state[key] not in keys:  # the list above it changed: start from "all"
        st.session_state[key] = keys[0]

    def show(code: str) -> str:
        if not code:
            return t("all", lang)
        return choices[code] if raw else f"{choices[code]} ({code})"

    picked = st.selectbox(label, keys, format_func=show, key=key)
    return str(picked) or None


def _area_selects(
    options: Options, current: str | None, lang: str, *, within: str | None = None
) -> str | None:
    """District → street → community → cell: each list holds the children of the one above.

    A grid scope (``within``) starts the lists below its own area, which is always chosen.
    """
    if within:
        return _within_selects(options, current, lang, within)
    chain: list[str | None] = [None, None, None, None]
    if current:
        code: str | None = current
        for level in (3, 2, 1):
            if code in options.areas[level]:
                chain[level - 1] = code
                code = options.areas[level][code][1]
        if chain[2] is None and chain[1] is None and chain[0] is None:
            # A base cell: its community is found through the parent chain of the grid.
            for community in options.areas[3]:
                if current.startswith(community):
                    chain[3] = current
                    chain[2] = community
                    street = options.areas[3][community][1]
                    chain[1] = street
                    chain[0] = options.areas[2][street][1] if street in options.areas[2] else None
                    break
    parent: str | None = None
    chosen: str | None = None
    for level, key_name in ((1, "district"), (2, "street"), (3, "community")):
        children = {code: name for code, (name, up) in options.areas[level].items() if up == parent}
        if level > 1 and parent is None:
            break
        picked = _select(t(key_name, lang), children, chain[level - 1], f"f_area{level}", lang)
        if picked is None:
            break
        chosen = parent = picked
    if chosen is not None and chosen == chain[2]:
        cells = data.cells_of(chosen)
        picked = _select(t("level_4", lang), cells, chain[3], "f_area4", lang)
        if picked:
            chosen = picked
    return chosen


def _within_selects(options: Options, current: str | None, lang: str, within: str) -> str:
    """The area selects of a grid scope: its own area, then the children below it."""
    top = next((level for level in (1, 2, 3) if within in options.areas[level]), 4)
    chosen = parent = within
    for level, key_name in ((2, "street"), (3, "community")):
        if level <= top:
            continue
        children = {code: name for code, (name, up) in options.areas[level].items() if up == parent}
        wanted = next((c for c in children if current and current.startswith(c)), None)
        picked = _select(t(key_name, lang), children, wanted, f"f_area{level}", lang)
        if picked is None:
            return chosen
        chosen = parent = picked
    if top <= 3 and chosen in options.areas[3]:
        cells = data.cells_of(chosen)
        wanted = current if current in cells else None
        picked = _select(t("level_4", lang), cells, wanted, "f_area4", lang)
        if picked:
            chosen = picked
    return chosen


def _write_back(filters: Filters) -> None:
    wanted = {
        "period": filters.period,
        "dept": filters.department,
        "area": filters.area,
        "cat": filters.category,
        "lang": filters.lang,
    }
    for name, value in wanted.items():
        if value and st.query_params.get(name) != value:
            st.query_params[name] = value
        elif not value and name in st.query_params:
            del st.query_params[name]


def drill(area: str | None) -> None:
    """Open another area's view: the URL's area wins over the sidebar's last choice."""
    for level in (1, 2, 3, 4):
        st.session_state.pop(f"f_area{level}", None)
    if area:
        st.query_params["area"] = area
    elif "area" in st.query_params:
        del st.query_params["area"]
    st.rerun()
