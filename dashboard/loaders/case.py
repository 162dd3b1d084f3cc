"""The case page: a case's photos staff may see, and the shapes of its street, community and
cell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from sqlalchemy import select
from sqlmodel import Session

from dashboard.loaders.figures import active_version
from urbangrid.evaluation.scope import AREAS


@dataclass(frozen=True)
class CasePhoto:
    id: int
    kind: str  # before | after
    ready: bool
    digest: str | None


def case_photos(session: Session, case_id: int) -> list[CasePhoto]:
    """A case's photos that may be shown to staff: processed or on their way, none rejected."""
    from urbangrid.core.tables import Photo

    rows = session.execute(
        select(Photo.id, Photo.kind, Photo.state, Photo.digest)  # type: ignore[call-overload]
        .where(Photo.case_id == case_id, Photo.state != "rejected")
        .order_by(Photo.id)
    ).all()
    return [
        CasePhoto(int(i), str(kind), state == "ready" and digest is not None, digest)
        for i, kind, state, digest in rows
    ]


def place_shapes(session: Session, codes: list[str]) -> dict[str, Any]:
    """GeoJSON of the named areas of the active grid (a case's street, community and cell)."""
    version = active_version(session)
    features: list[dict[str, Any]] = []
    if version is None or not codes:
        return {"type": "FeatureCollection", "features": features}
    rows = session.execute(
        select(AREAS.code, AREAS.name, AREAS.level, AREAS.geom).where(
            AREAS.version_id == version, AREAS.code.in_(codes)
        )
    )
    for code, name, level, geom in rows:
        shape = shapely.geometry.mapping(shapely.set_precision(geom, 1e-6))
        features.append(
            {
                "type": "Feature",
                "geometry": shape,
                "properties": {"key": str(code), "name": str(name), "level": int(level)},
            }
        )
    features.sort(key=lambda f: f["properties"]["level"])
    return {"type": "FeatureCollection", "features": features}
