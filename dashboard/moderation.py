"""A shift lead's controls for one photo on the case page: what the public sees of it, taking
it down or publishing it again, covering a part the detector left sharp, and taking a cover off
again.

The detector blurs the faces and plates it finds on the public copy; what it misses (a face
turned away, a plate on a grey photo, a phone number on a shopfront) a shift lead covers here.
Every step goes through the staff API with the viewer's own session, which decides who may
moderate and records the step, with its reason, on the case's timeline.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import streamlit as st
from PIL import Image, ImageDraw

from dashboard import data
from dashboard.i18n import t
from dashboard.loaders.case import CasePhoto
from dashboard.staff_client import StaffApiRefused, StaffApiUnavailable, StaffClient


def inline(jpeg: bytes) -> str:
    """A picture handed to the page inside it, never through Streamlit's media store, which
    serves what it holds to anyone who asks for minutes after."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def cover_box(width: int, height: int, across: tuple[int, int], down: tuple[int, int]) -> list[int]:
    """The rectangle, in the stored photo's pixels, that spans ``across`` and ``down`` (shares
    of the width and height, in per cent), at least a pixel each way.

    >>> cover_box(2048, 1536, (25, 50), (0, 100))
    [512, 0, 1024, 1536]
    >>> cover_box(2048, 1536, (40, 40), (10, 10))
    [819, 154, 820, 155]
    """
    left, right = (round(width * v / 100) for v in across)
    top, bottom = (round(height * v / 100) for v in down)
    return [left, top, max(right, left + 1), max(bottom, top + 1)]


def shares(width: int, height: int, box: tuple[int, int, int, int]) -> tuple[str, str]:
    """Where a cover lies, as the sliders that drew it read: shares of the width and height.

    >>> shares(2048, 1536, (512, 0, 1024, 1536))
    ('25-50 %', '0-100 %')
    """
    left, top, right, bottom = box
    return (
        f"{round(100 * left / width)}-{round(100 * right / width)} %",
        f"{round(100 * top / height)}-{round(100 * bottom / height)} %",
    )


def preview(original: bytes, box: list[int], side: int = 960) -> bytes:
    """The photo as taken, shrunk, with the rectangle about to be covered shaded on it."""
    with Image.open(io.BytesIO(original)) as opened:
        picture = opened.convert("RGB")
    k = min(1.0, side / max(picture.size))
    picture = picture.resize((max(1, round(picture.width * k)), max(1, round(picture.height * k))))
    shade = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    scaled = [round(v * k) for v in box]
    ImageDraw.Draw(shade).rectangle(scaled, fill=(200, 30, 30, 110), outline=(200, 30, 30, 255))
    shown = Image.alpha_composite(picture.convert("RGBA"), shade).convert("RGB")
    out = io.BytesIO()
    shown.save(out, "JPEG", quality=85)
    return out.getvalue()


def panel(
    client: StaffClient,
    case_id: int,
    photo: CasePhoto,
    original: bytes,
    lang: str,
    done: Callable[[str], None],
) -> None:
    """The controls, under a switch beneath the photo; ``done`` is told what was done.

    A switch rather than an expander: an expander closes again on the rerun a button starts,
    hiding the answer (a missing reason, a refusal) inside it."""
    key = f"moderate_{case_id}_{photo.id}"
    if not st.toggle(t("moderate_photo", lang), key=f"{key}_open"):
        return
    with st.container(border=True):
        if photo.hidden:
            st.caption(t("public_sees_nothing", lang))
        elif photo.digest:
            try:
                public = data.public_copy(client.base_url, photo.digest)
                st.image(inline(public), caption=t("public_sees", lang), width="stretch")
            except (StaffApiRefused, StaffApiUnavailable):
                st.caption(t("public_copy_unavailable", lang))

        # A step that went through empties the field before it is drawn again, so a reason is
        # never sent with the next step unless it is typed again. One field under one key: a
        # new key per step showed the old field beside the new one until the rerun finished.
        if st.session_state.pop(f"{key}_sent", False):
            st.session_state[f"{key}_reason"] = ""
        reason = st.text_input(t("moderation_reason", lang), key=f"{key}_reason", max_chars=2000)
        step = "show" if photo.hidden else "hide"
        if st.button(t(f"{step}_photo", lang), key=f"{key}_{step}"):
            _send(client, case_id, photo, step, {"reason": reason}, lang, done)

        st.markdown(f"**{t('cover_part', lang)}**")
        with Image.open(io.BytesIO(original)) as opened:
            width, height = opened.size
        across = st.slider(t("cover_across", lang), 0, 100, (40, 60), key=f"{key}_across")
        down = st.slider(t("cover_down", lang), 0, 100, (40, 60), key=f"{key}_down")
        box = cover_box(width, height, across, down)
        empty = across[0] == across[1] or down[0] == down[1]
        st.image(inline(preview(original, box)), caption=t("cover_preview", lang), width="stretch")
        st.caption(t("cover_choose_area", lang) if empty else t("cover_is_final", lang))
        if st.button(t("cover_photo", lang), key=f"{key}_cover", type="primary", disabled=empty):
            _send(
                client,
                case_id,
                photo,
                "redact",
                {"rectangles": [box], "reason": reason},
                lang,
                done,
            )

        # Covers already on the public copy, each with a way to take it off: one drawn over
        # the problem itself leaves the public a photo of nothing.
        if photo.covers:
            st.markdown(f"**{t('covers_on_photo', lang)}**")
        for n, cover in enumerate(photo.covers, start=1):
            across_at, down_at = shares(width, height, cover)
            line, button = st.columns([3, 2], vertical_alignment="center")
            line.caption(t("cover_at", lang).format(n=n, across=across_at, down=down_at))
            if button.button(
                t("uncover_photo", lang), key=f"{key}_uncover_{'_'.join(map(str, cover))}"
            ):
                _send(
                    client,
                    case_id,
                    photo,
                    "uncover",
                    {"rectangles": [list(cover)], "reason": reason},
                    lang,
                    done,
                )


def _send(
    client: StaffClient,
    case_id: int,
    photo: CasePhoto,
    step: str,
    body: dict[str, Any],
    lang: str,
    done: Callable[[str], None],
) -> None:
    if not str(body.get("reason") or "").strip():
        st.error(t("needs", lang) + t("moderation_reason", lang))
        return
    body["reason"] = str(body["reason"]).strip()
    try:
        answer = client.moderate(case_id, photo.id, step, body)
    except StaffApiRefused as refused:
        st.error(str(refused))
    except StaffApiUnavailable:
        st.warning(t("read_only", lang))
    else:
        st.session_state[f"moderate_{case_id}_{photo.id}_sent"] = True
        # A step the API found already taken (another lead's, or this one's sent twice)
        # records nothing, and is not reported as done.
        unchanged = isinstance(answer, dict) and answer.get("event_id") is None
        done(t("photo_unchanged" if unchanged else f"photo_{step}_done", lang))
