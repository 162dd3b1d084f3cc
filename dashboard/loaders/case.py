"""The case page: a case's photos staff may see, and the shapes of its street, community and
cell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from sqlalchemy import func, select
from sqlmodel import Session

from dashboard.loaders.figures import active_version
from urbangrid.evaluation.scope import AREAS


@dataclass(frozen=True)
class CasePhoto:
    id: int
    kind: str  # before | after
    ready: bool
    digest: str | None  # the public copy's (faces blurred, parts covered)
    report: int  # the case it was sent with: this one, or a report that joined it
    hidden: bool = False  # hidden from the public by a shift lead; staff still see it
    # Rectangles a shift lead covered on the public copy, in the stored photo's pixels.
    covers: tuple[tuple[int, int, int, int], ...] = ()


def case_photos(session: Session, case_id: int) -> list[CasePhoto]:
    """A case's photos that may be shown to staff, with those of the reports that joined it
    (all the evidence of the case): processed or on their way, none rejected."""
    from urbangrid.cases.moderation import covers
    from urbangrid.core.tables import Case, Photo

    joined = select(Case.id).where(Case.duplicate_of == case_id)  # type: ignore[call-overload]
    # The copy a browser can load without a token is the public one (faces blurred, parts
    # covered); the page fetches the stored original with the staff member's token.
    shown = func.coalesce(Photo.public_digest, Photo.digest)
    rows = session.execute(
        select(  # type: ignore[call-overload]
            Photo.id, Photo.kind, Photo.state, shown, Photo.case_id, Photo.hidden, Photo.redactions
        )
        .where(
            (Photo.case_id == case_id) | Photo.case_id.in_(joined),  # type: ignore[attr-defined]
            Photo.state != "rejected",
        )
        .order_by(Photo.id)
    ).all()
    return [
        CasePhoto(
            int(i),
            str(kind),
            state == "ready" and digest is not None,
            digest,
            int(report),
            bool(hidden),
            tuple(covers(redactions)),
        )
        for i, kind, state, digest, report, hidden, redactions in rows
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
