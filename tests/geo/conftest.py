"""Fixtures for the geo tests: small hand-made grids and GeoJSON files written on the fly."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry.base import BaseGeometry

from geo.layer import Grid, Layer

WriteFC = Callable[..., Path]


def layer(
    level: int,
    codes: Sequence[str],
    geoms: Sequence[BaseGeometry],
    parents: Sequence[str | None] | None = None,
    names: Sequence[str] | None = None,
) -> Layer:
    """A layer from plain lists; names default to the codes, parents to the codes' prefixes."""
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)
    cut = {1: 0, 2: 6, 3: 9, 4: 12}[level]
    return Layer(
        level,
        list(codes),
        list(names) if names is not None else list(codes),
        list(parents) if parents is not None else [c[:cut] or None for c in codes],
        arr,
    )


def feature(props: dict[str, Any], geom: BaseGeometry | dict[str, Any] | None) -> dict[str, Any]:
    geometry = shapely.geometry.mapping(geom) if isinstance(geom, BaseGeometry) else geom
    return {"type": "Feature", "properties": props, "geometry": geometry}


@pytest.fixture
def write_fc(tmp_path: Path) -> WriteFC:
    """Write features (or any JSON document / raw text) to a .geojson file; returns its path."""
    counter = iter(range(1_000_000))

    def write(features: Any = None, *, raw: str | None = None, doc: Any = None) -> Path:
        path = tmp_path / f"layer{next(counter)}.geojson"
        if raw is not None:
            path.write_text(raw, encoding="utf-8")
        else:
            body = doc if doc is not None else {"type": "FeatureCollection", "features": features}
            path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def two_by_two() -> Grid:
    """One district, one street, one community, four 0.01° cells meeting at (121.41, 31.21)."""
    x0, y0, d = 121.40, 31.20, 0.01
    whole = shapely.box(x0, y0, x0 + 2 * d, y0 + 2 * d)
    cells = [
        shapely.box(x0, y0 + d, x0 + d, y0 + 2 * d),  # NW
        shapely.box(x0 + d, y0 + d, x0 + 2 * d, y0 + 2 * d),  # NE
        shapely.box(x0, y0, x0 + d, y0 + d),  # SW
        shapely.box(x0 + d, y0, x0 + 2 * d, y0 + d),  # SE
    ]
    return {
        1: layer(1, ["310101"], [whole]),
        2: layer(2, ["310101001"], [whole]),
        3: layer(3, ["310101001001"], [whole]),
        4: layer(4, [f"310101001001{i:03d}" for i in (1, 2, 3, 4)], cells),
    }
