"""Loading the city's address points into the gazetteer's table, and reading them back.

The file is the address library's export: a CSV with ``address``, ``lon`` and ``lat`` columns in
any order, an optional ``address_id`` (or ``id``) column naming each point in the library, and
any other columns, which are kept with the point. Importing again updates what moved and adds
what is new: one row per address as :func:`geo.gazetteer.normalise` writes it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import func, insert, select, update
from sqlmodel import Session, col

from geo.crs import to_wgs84
from geo.gazetteer import AddressPoint, Gazetteer, normalise
from geo.layer import Grid
from urbangrid.core.columns import utcnow
from urbangrid.core.tables import Address

REQUIRED = ("address", "lon", "lat")
ID_COLUMNS = ("address_id", "id")


class AddressFileError(ValueError):
    """The file cannot be imported; the message names the line and the column."""


@dataclass(frozen=True)
class Row:
    ref: str
    address: str
    key: str
    lon: float  # WGS84
    lat: float
    crs: str
    extra: dict[str, str]


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    repeated: int  # rows of the file whose address an earlier row already gave


def read_file(
    path: Path, crs: str = "wgs84", names: dict[str, str] | None = None
) -> tuple[list[Row], int, list[int]]:
    """The file's points (converted to WGS84), how many rows repeated an earlier address (the
    first row of an address wins) and the lines without an address (left out); raises
    :class:`AddressFileError` naming the line of a bad point.

    ``names`` gives the file's own names of the ``address``, ``lon`` and ``lat`` columns, for
    an address library exported as, say, ``complete_address, wgs84_lng, wgs84_lat``.
    """
    column = {c: (names or {}).get(c) or c for c in REQUIRED}
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [column[c] for c in REQUIRED if column[c] not in columns]
        if missing:
            raise AddressFileError(f"{path.name}: missing column(s) {', '.join(missing)}")
        id_column = next((c for c in ID_COLUMNS if c in columns), None)
        raw: list[tuple[str, str, float, float, dict[str, str]]] = []
        keys: set[str] = set()
        refs: set[str] = set()
        blank: list[int] = []
        repeated = 0
        for line, record in enumerate(reader, start=2):
            values = {(k or "").strip(): (v or "").strip() for k, v in record.items()}
            address = values[column["address"]]
            key = normalise(address)
            if not key:  # nothing to find it by: left out and counted, not fatal
                blank.append(line)
                continue
            if len(address) > 500:
                raise AddressFileError(f"line {line}: address is longer than 500 characters")
            try:
                lon, lat = float(values[column["lon"]]), float(values[column["lat"]])
            except ValueError as exc:
                raise AddressFileError(f"line {line}: lon/lat are not numbers") from exc
            if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
                raise AddressFileError(f"line {line}: ({lon}, {lat}) is not a point on Earth")
            if key in keys:
                repeated += 1
                continue
            keys.add(key)
            ref = values.get(id_column, "") if id_column else ""
            if len(ref) > 100:
                raise AddressFileError(f"line {line}: {id_column} is longer than 100 characters")
            if ref and ref in refs:
                raise AddressFileError(f"line {line}: {id_column} {ref!r} names an earlier address")
            refs.add(ref)
            extra = {
                k: v for k, v in values.items() if k not in (*column.values(), id_column) and k
            }
            raw.append((ref or _derived_ref(key), address, lon, lat, extra))
    if not raw:
        return [], repeated, blank
    x, y = to_wgs84(np.array([r[2] for r in raw]), np.array([r[3] for r in raw]), crs)
    rows = [
        Row(ref, address, normalise(address), float(lon), float(lat), crs, extra)
        for (ref, address, _, _, extra), lon, lat in zip(raw, x, y, strict=True)
    ]
    return rows, repeated, blank


def demo_addresses(grid: Grid) -> list[Row]:
    """An address list for a grid that came without one (the demo city): one door per
    community, on a road named after its street, numbered along it, at a point inside the
    community, so a resident of the demo can place a report by address as in a real city.

    >>> from geo.demo import demo_city
    >>> rows = demo_addresses(demo_city())
    >>> rows[0].address, len(rows) == len(demo_city()[3])
    ('黄浦区梅桥路1号', True)
    """
    districts = dict(zip(grid[1].codes, grid[1].names, strict=True))
    streets = dict(zip(grid[2].codes, grid[2].names, strict=True))
    communities = grid[3]
    points = shapely.point_on_surface(np.asarray(communities.geoms, dtype=object))
    numbers: dict[str, int] = {}
    rows = []
    for code, parent, point in zip(communities.codes, communities.parents, points, strict=True):
        street = parent or code[:9]
        numbers[street] = numbers.get(street, -1) + 1
        road = streets.get(street, "").removesuffix("街道").removesuffix("镇") + "路"
        address = f"{districts.get(street[:6], '')}{road}{numbers[street] * 10 + 1}号"
        lon, lat = float(shapely.get_x(point)), float(shapely.get_y(point))
        key = normalise(address)
        rows.append(Row(f"demo-{code}", address, key, lon, lat, "wgs84", {"community": code}))
    return rows


def _derived_ref(key: str) -> str:
    """A stable id for a point the library gave none: the same address keeps it on re-import.

    >>> _derived_ref("黄浦区人民大道200号") == _derived_ref("黄浦区人民大道200号")
    True
    """
    return "a" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:15]


def import_rows(session: Session, rows: Iterable[Row]) -> ImportResult:
    """Add new addresses and move changed ones, in the caller's transaction."""
    existing = {
        key: (row_id, ref, lon, lat, extra)
        for row_id, key, ref, lon, lat, extra in session.execute(
            select(
                col(Address.id),
                col(Address.key),
                col(Address.ref),
                col(Address.lon),
                col(Address.lat),
                col(Address.extra),
            )
        )
    }
    now = utcnow()
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged = 0
    for row in rows:
        values = {
            "ref": row.ref,
            "address": row.address,
            "key": row.key,
            "lon": row.lon,
            "lat": row.lat,
            "input_crs": row.crs,
            "extra": json.dumps(row.extra, ensure_ascii=False, sort_keys=True),
            "imported_at": now,
        }
        before = existing.get(row.key)
        if before is None:
            new.append(values)
        elif before[1:] != (row.ref, row.lon, row.lat, values["extra"]):
            changed.append({"id": before[0], **values})
        else:
            unchanged += 1
    if new:
        session.execute(insert(Address), new)
    for values in changed:
        session.execute(update(Address).where(col(Address.id) == values.pop("id")).values(values))
    return ImportResult(len(new), len(changed), unchanged, 0)


def signature(session: Session) -> tuple[int, str]:
    """Changes whenever an import adds or moves a point (both read from indexes, so asking
    every few seconds costs nothing): the API reloads its gazetteer then."""
    latest_id, latest = session.execute(
        select(func.max(col(Address.id)), func.max(col(Address.imported_at)))
    ).one()
    return int(latest_id or 0), str(latest or "")


def load_gazetteer(session: Session) -> Gazetteer:
    """The gazetteer of every stored point, the oldest first (the first of an address wins)."""
    rows = session.execute(
        select(col(Address.ref), col(Address.address), col(Address.lon), col(Address.lat)).order_by(
            col(Address.id)
        )
    )
    return Gazetteer.build(AddressPoint(str(r), str(a), float(x), float(y)) for r, a, x, y in rows)
