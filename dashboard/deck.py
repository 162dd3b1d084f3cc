"""Names written on the dashboard's maps: one deck.gl text layer, built so that it draws.

pydeck sends every bare string argument of a layer to deck.gl as a JavaScript expression:
``character_set="auto"`` reaches the browser as the function ``auto`` and the text layer fails
to start (only the browser's console says so), and a font list such as ``"Noto Sans CJK SC",
sans-serif`` is read as code too. Literal strings are therefore wrapped in quotes pydeck strips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydeck as pdk

# The CJK face first: district and street names are Chinese (Debian's fonts-noto-cjk).
FONTS = "'Noto Sans CJK SC', 'Noto Sans SC', sans-serif"


def literal(text: str) -> str:
    """``text`` as pydeck passes a literal string to deck.gl, not as an expression.

    >>> literal("auto")
    '`auto`'
    >>> pdk.Layer("TextLayer", id="x", character_set=literal("auto")).character_set
    'auto'
    """
    if "`" in text:
        raise ValueError(f"{text!r}: a literal for pydeck cannot hold a backtick")
    return f"`{text}`"


def names_layer(
    labels: Sequence[dict[str, Any]],
    *,
    layer_id: str,
    size: int,
    position: str | list[str] = "position",
    offset: tuple[int, int] = (0, 0),
) -> pdk.Layer:
    """A layer writing each label's ``text`` at its ``position``, dark on a pale box.

    Every character the labels use is put in the font atlas (``character_set`` "auto"), so
    Chinese names draw, not only the ASCII deck.gl prepares by default.

    >>> layer = names_layer([{"position": [121.4, 31.2], "text": "黄浦区"}], layer_id="n", size=13)
    >>> layer.character_set, layer.font_family == FONTS, layer.get_text
    ('auto', True, '@@=text')
    """
    return pdk.Layer(
        "TextLayer",
        data=list(labels),
        id=layer_id,
        get_position=position,
        get_text="text",
        get_size=size,
        get_pixel_offset=list(offset),
        get_color=[20, 20, 20, 255],
        # A pale box behind each name keeps it legible on the deepest red; crisper at these
        # sizes than an outline, which needs the blurrier signed-distance glyphs.
        background=True,
        get_background_color=[255, 255, 255, 200],
        background_padding=[3, 1, 3, 1],
        character_set=literal("auto"),
        font_family=literal(FONTS),
    )
