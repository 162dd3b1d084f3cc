"""Where a report is: its coordinates as given, else its first photo's GPS, else the point of its
address in the city's address list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geo.gazetteer import FUZZY_MIN_SCORE, Gazetteer, Match
from intake.errors import FieldError
from intake.submission import Submission


@dataclass(frozen=True)
class Placed:
    """Where a report was placed: as given, in ``crs``, and in WGS84."""

    lat: float  # as given, in ``crs``
    lon: float
    crs: str
    wgs_lat: float
    wgs_lon: float
    match: Match | None = None


def locate(sub: Submission, gazetteer: Gazetteer) -> tuple[float, float, str, Match | None]:
    """The report's (lat, lon, crs, match): as given; else the first photo's EXIF GPS (WGS84);
    else the point of its address in the gazetteer (by the library's id, then by the words)."""
    if sub.lat is not None and sub.lon is not None:
        return sub.lat, sub.lon, sub.crs, None
    if (sub.lat is None) != (sub.lon is None):
        missing = "lon" if sub.lon is None else "lat"
        raise FieldError(missing, "give both lat and lon, or neither and a photo with GPS")
    for upload in sub.uploads:
        if upload.info.gps is not None:
            lat, lon = upload.info.gps
            return lat, lon, "wgs84", None
    text_field, id_field = sub.address_fields
    if sub.address_id:
        point = gazetteer.by_ref.get(sub.address_id)
        if point is None:
            raise FieldError(id_field, f"{sub.address_id!r} is not in the city's address list")
        return point.lat, point.lon, "wgs84", Match(point, 100.0, "address_id")
    if sub.address:
        if not len(gazetteer):
            raise FieldError(
                text_field,
                "this city has loaded no address list: give lat and lon",
                kind="not_found",
            )
        match = gazetteer.find(sub.address)
        if match is None:
            raise FieldError(
                text_field,
                f"{sub.address!r} matches no single address of the city's list (a fuzzy "
                f"match needs a score of {FUZZY_MIN_SCORE:g} and the same house numbers; "
                "without a district, the address must be in one district only): "
                "check it, or give the location's coordinates",
                kind="not_found",
            )
        return match.point.lat, match.point.lon, "wgs84", match
    raise FieldError(
        "lat",
        "location missing: give lat and lon, an address, or a photo that carries its GPS position",
        kind="missing",
    )


def address_match(match: Match) -> dict[str, Any]:
    """What a report located by address records of the gazetteer's answer."""
    return {
        "address_id": match.point.ref,
        "address": match.point.address,
        "score": round(match.score, 1),
        "method": match.method,
    }
