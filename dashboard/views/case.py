"""A case page: what and where, before and after photos, its clock, its timeline, and the steps
open to the signed-in staff member, each with the fields it needs.

Everything about the case comes from the staff API with the viewer's own session, so the API
decides what this person may see and do; the page only adds names, the map and the words.
"""

from __future__ import annotations

from typing import Any

import pydeck as pdk
import streamlit as st

from dashboard import data, moderation
from dashboard.clock import badge, instant, local, span, stage_clock, words
from dashboard.deck import names_layer
from dashboard.filters import current
from dashboard.i18n import label, t
from dashboard.staff_client import StaffApiRefused, StaffApiUnavailable, StaffClient, Upload
from dashboard.viewer import Viewer
from urbangrid.cases.moderation import MODERATORS
from urbangrid.core.columns import utcnow
from urbangrid.domain.workflow import REQUIRED_FIELDS

# Besides the note: the fields each step asks for (required ones from the transition table).
FIELDS: dict[str, tuple[str, ...]] = {
    "void": ("reason", "public_note"),
    "not_found": ("reason", "public_note"),
    "return": ("reason", "public_note"),
    "request_extension": ("by", "reason"),
    "extend": ("by",),
    "deny_extension": ("reason",),
    "request_suspension": ("reason",),
    "deny_suspension": ("reason",),
    "suspend": ("public_note",),
    "handle": ("after_photo", "public_note"),
    "check_pass": ("check_photo", "public_note"),
    "check_fail": ("reason", "check_photo"),
    "close": ("public_note",),
    "reopen": ("reason", "public_note"),
    "recategorize": ("category",),
    "dispatch": ("department",),
    "redispatch": ("department",),
    "reroute": ("department",),
}
PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif"]
# The keys of the step form's widgets, cleared once a step is taken.
FORM_KEYS = (
    "case_department",
    "case_category",
    "case_by",
    "case_reason",
    "case_photos",
    "case_public_note",
    "case_note",
)

filters = current()
lang = filters.lang
settings = data.settings()
tz = settings.city_timezone
viewer = st.session_state.get("viewer")
assert isinstance(viewer, Viewer)  # the entrypoint shows this page only to signed-in staff
client = StaffClient(settings.staff_api_url, viewer.token)

st.page_link("views/queue.py", label="← " + t("back_to_queue", lang), query_params={"lang": lang})
raw_id = st.query_params.get("id", "")
if not raw_id.isdigit():
    st.info(t("case_missing", lang))
    st.stop()
case_id = int(raw_id)

try:
    case = client.case(case_id)
except StaffApiRefused as refused:
    st.error(f"#{case_id}: {refused}")
    st.stop()
except StaffApiUnavailable:
    st.warning(t("read_only", lang))
    st.stop()

names = data.names(lang)
category = names.categories.get(str(case["category"]), str(case["category"]))
st.title(f"#{case_id} · {category}")
clock = stage_clock(case, now=utcnow(), at_risk_share=settings.sla_warn_share)
state = label("state", case.get("state"), lang)
stage = label("stage", case.get("stage"), lang) if case.get("stage") else ""
st.markdown(
    f"**{state}**"
    + (f" · {stage}" if stage else "")
    + f"  \n{badge(clock.status, lang)} {words(clock, lang, tz)}"
)
if case.get("case_deadline_at"):
    due = instant(case["case_deadline_at"])
    whole = t("case_due", lang).format(at=local(due, tz, year=True))
    if due is not None and due < utcnow() and case.get("state") not in ("CLOSED", "VOID"):
        whole += " · " + t("late_by", lang).format(t=span((utcnow() - due).total_seconds(), lang))
    st.caption(whole)
# The step just taken, said once after the reload, in a slot that is there whether or not it
# speaks: a message that came and went moved everything below it, and while the page reran
# Streamlit showed the photo's controls twice, old place and new.
done_slot = st.empty()
if st.session_state.get("case_done"):
    done_slot.success(st.session_state.pop("case_done"))


def area_name(ref: Any) -> str | None:
    if isinstance(ref, dict):
        return str(ref.get("name") or ref.get("code") or "") or None
    return None


place = [area_name(case.get(level)) for level in ("district", "street", "community", "cell")]
department = names.departments.get(str(case.get("department") or ""), "")
facts = [" › ".join(p for p in place if p) or "—"]
if department:
    facts.append(department)
st.caption(" · ".join(facts))
neighbour = area_name(case.get("neighbour_street")) if case.get("near_boundary") else None
if neighbour:
    st.warning(t("near_boundary_page", lang).format(own=place[1] or "—", street=neighbour))
if case.get("description"):
    st.markdown(f"**{t('description', lang)}**: {case['description']}")


# ---- photos: before and after -----------------------------------------------------------------
def said(words: str) -> None:
    """A step just taken on the case: said once, after the page reloads with it."""
    st.session_state["case_done"] = words
    st.rerun()


photos = data.case_photos(case_id)
base = settings.staff_api_url.rstrip("/")
left, right = st.columns(2)
for column, kind, heading in ((left, "before", "before_photos"), (right, "after", "after_photos")):
    column.markdown(f"**{t(heading, lang)}**")
    mine = [p for p in photos if p.kind == kind]
    if not mine:
        column.caption(t("no_photos", lang))
    for photo in mine:
        notes = [t("photo_joined", lang).format(id=photo.report)] if photo.report != case_id else []
        if photo.hidden:
            notes.append(t("photo_hidden", lang))
        caption = " · ".join(notes) or None
        if not (photo.ready and photo.digest):
            column.caption(" · ".join([t("photo_pending", lang), *notes]))
            continue
        # Staff judge a report by the photo as taken: the original, with the staff token,
        # asked for under this case (a joined report's own case may lie outside their scope).
        try:
            original = data.photo_as_taken(client.base_url, client.token, case_id, photo.id)
            column.image(moderation.inline(original), caption=caption, width="stretch")
            if viewer.role in MODERATORS:
                with column:
                    moderation.panel(client, case_id, photo, original, lang, said)
        except (StaffApiRefused, StaffApiUnavailable):
            if photo.hidden:
                column.caption(caption or "")
            else:  # the public copy, which needs no token
                column.image(
                    f"{base}/api/v1/photos/{photo.digest}.jpg", caption=caption, width="stretch"
                )

# ---- its place on the map ---------------------------------------------------------------------
codes = tuple(
    str(ref["code"])
    for ref in (case.get("street"), case.get("community"), case.get("cell"))
    if isinstance(ref, dict) and ref.get("code")
)
shapes = data.place_shapes(codes)
lat, lon = float(case["lat"]), float(case["lon"])
st.markdown(f"**{t('location', lang)}**")
st.pydeck_chart(
    pdk.Deck(
        layers=[
            pdk.Layer(
                "GeoJsonLayer",
                data=shapes,
                stroked=True,
                filled=True,
                get_fill_color=[11, 92, 173, 25],
                get_line_color=[11, 92, 173, 200],
                line_width_min_pixels=2,
            ),
            pdk.Layer(
                "ScatterplotLayer",
                data=[{"lon": lon, "lat": lat}],
                get_position=["lon", "lat"],
                get_fill_color=[200, 30, 30, 230],
                get_radius=12,
                radius_min_pixels=7,
            ),
            names_layer(
                [{"lon": lon, "lat": lat, "text": place[3] or place[2] or ""}],
                layer_id="place",
                size=15,
                position=["lon", "lat"],
                offset=(0, -22),
            ),
        ],
        initial_view_state=pdk.ViewState(longitude=lon, latitude=lat, zoom=15),
        map_provider=None,  # no base map from the internet: the grid's own outlines
    ),
    height=300,
)


# ---- the timeline ---------------------------------------------------------------------------
def change(before: str | None, after: str | None) -> str:
    if before and before != after:
        return f"{label('state', before, lang)} → {label('state', after, lang)}"
    return label("state", after, lang)


st.subheader(t("timeline", lang))
# A list rather than a table: it reads on a phone, each step on its own lines.
for event in case.get("timeline", []):
    when = local(instant(event.get("at")), tz)
    who = f"{event.get('actor') or '—'} ({label('role', event.get('role'), lang)})"
    step = label("action", event.get("action"), lang)
    st.markdown(f"**{when}** · {step} · {change(event.get('from_state'), event.get('to_state'))}")
    note = event.get("note") or (event.get("detail") or {}).get("reason") or ""
    st.caption(who + (f" — {note}" if note else ""))
if not case.get("timeline"):
    st.caption("—")

# ---- the steps open to this person ----------------------------------------------------------
st.subheader(t("actions_open", lang))
allowed = [str(a) for a in case.get("allowed_actions", [])]
if not allowed:
    st.caption(t("no_actions", lang))
    st.stop()
# The boundary steps name the street each would leave the case in.
streets = {"confirm_street": place[1], "move_to_neighbour": neighbour}


def step_words(action: str) -> str:
    street = streets.get(action)
    return label("action", action, lang) + (f" ({street})" if street else "")


action = st.radio(
    t("action", lang),
    allowed,
    format_func=step_words,
    horizontal=True,
    key=f"case_action_{case_id}",
)
needs = FIELDS.get(action, ())
required = set(REQUIRED_FIELDS.get(action, ()))
with st.form(f"case_form_{case_id}_{action}", clear_on_submit=True):
    given: dict[str, Any] = {}
    if "department" in needs:
        suggestion = (case.get("suggestion") or {}).get("department")
        choices = list(names.departments)
        given["department"] = st.selectbox(
            t("to_department", lang),
            choices,
            index=choices.index(suggestion) if suggestion in choices else 0,
            format_func=lambda c: (
                names.departments[c] + (f" ({t('suggested', lang)})" if c == suggestion else "")
            ),
            key="case_department",
        )
    if "category" in needs:
        codes_ = list(names.categories)
        given["category"] = st.selectbox(
            t("new_category", lang),
            codes_,
            format_func=lambda c: f"{names.categories[c]} ({c})",
            key="case_category",
        )
    if "by" in needs:
        given["by"] = st.text_input(t("by", lang), help=t("by_help", lang), key="case_by")
    if "reason" in needs:
        given["reason"] = st.text_area(t("reason", lang), key="case_reason", max_chars=2000)
    files = []
    if "after_photo" in needs or "check_photo" in needs:
        files = (
            st.file_uploader(
                t("after_photo" if "after_photo" in needs else "check_photo", lang),
                type=PHOTO_TYPES,
                accept_multiple_files=True,
                key="case_photos",
            )
            or []
        )
    if "public_note" in needs:
        given["public_note"] = st.text_area(
            t("public_note", lang), key="case_public_note", max_chars=2000
        )
    given["note"] = st.text_area(t("note", lang), key="case_note", max_chars=4000)
    submitted = st.form_submit_button(step_words(action), type="primary", width="stretch")

if submitted:
    body = {k: v.strip() if isinstance(v, str) else v for k, v in given.items()}
    body = {k: v for k, v in body.items() if v not in ("", None)}
    missing = [
        f for f in required if (f == "photos" and not files) or (f != "photos" and not body.get(f))
    ]
    if missing:
        words_ = {"photos": t("after_photo", lang), "reason": t("reason", lang)}
        st.error(t("needs", lang) + ", ".join(words_.get(f, t(f, lang)) for f in missing))
        st.stop()
    try:
        if files:
            uploads = [Upload(f.name, f.getvalue(), f.type or "image/jpeg") for f in files]
            kind = "after" if action == "handle" else "before"
            body["photos"] = client.upload(case_id, uploads, kind=kind)
        answer = client.act(case_id, action, body)
    except StaffApiRefused as refused:
        st.error(str(refused))
    except StaffApiUnavailable:
        st.warning(t("read_only", lang))
    else:
        new_state = label("state", (answer or {}).get("state"), lang)
        st.session_state["case_done"] = (
            f"{t('done', lang)}: {label('action', action, lang)} → {new_state}"
        )
        # Every step's form shares these widgets: what was typed for this step must not wait in
        # the next one (a handling note would otherwise be sent again as a comment).
        for key in FORM_KEYS:
            st.session_state.pop(key, None)
        st.rerun()
