"""Grid versions in the database: save a grid, load it back, keep the active one indexed.

The bridge between the database and the pure geometry of ``geo/``: nothing in ``geo/`` opens a
session.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import insert, select, update
from sqlmodel import Session, col

from geo.assign import GridIndex
from geo.boundary import Neighbour, StreetBoundaries
from geo.indexfile import IndexFileError, read_index, read_key, write_index
from geo.layer import Grid, Layer
from urbangrid.core.tables import GridArea, GridVersion

_INSERT_CHUNK = 5000

log = logging.getLogger(__name__)


def _as_multipolygon(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    return geom


def save_grid(session: Session, grid: Grid, *, label: str, activate: bool = True) -> int:
    """Store every level of ``grid`` as a new version; with ``activate``, make it the live one.

    Cases keep the codes and the version they were given: activating a new version never
    rewrites them.
    """
    version = GridVersion(label=label, is_active=False)
    session.add(version)
    session.flush()
    assert version.id is not None
    for level in sorted(grid):
        layer = grid[level]
        rows = [
            {
                "version_id": version.id,
                "level": level,
                "code": code,
                "name": name,
                "parent_code": parent,
                "source_id": source,
                "geom": _as_multipolygon(geom),
            }
            for code, name, parent, source, geom in zip(
                layer.codes,
                layer.names,
                layer.parents,
                layer.source_ids or [None] * len(layer),  # type: ignore[list-item]
                layer.geoms,
                strict=True,
            )
        ]
        for start in range(0, len(rows), _INSERT_CHUNK):
            session.execute(insert(GridArea), rows[start : start + _INSERT_CHUNK])
    if activate:
        activate_version(session, version.id)
    session.commit()
    return version.id


def activate_version(session: Session, version_id: int) -> None:
    session.execute(update(GridVersion).values(is_active=False))
    session.execute(
        update(GridVersion).where(col(GridVersion.id) == version_id).values(is_active=True)
    )


def active_version_id(session: Session) -> int | None:
    found = session.execute(
        select(col(GridVersion.id)).where(col(GridVersion.is_active).is_(True))
    ).scalar_one_or_none()
    return int(found) if found is not None else None


def load_grid(session: Session, version_id: int, *, levels: Iterable[int] = (1, 2, 3, 4)) -> Grid:
    """Read the levels of one grid version back as a :class:`Grid`."""
    grid: Grid = {}
    for level in levels:
        rows = session.execute(
            select(
                col(GridArea.code),
                col(GridArea.name),
                col(GridArea.parent_code),
                col(GridArea.geom),
                col(GridArea.source_id),
            )
            .where(col(GridArea.version_id) == version_id)
            .where(col(GridArea.level) == level)
            .order_by(col(GridArea.code))
        ).all()
        if not rows:
            continue
        geoms = np.empty(len(rows), dtype=object)
        geoms[:] = [row[3] for row in rows]
        grid[level] = Layer(
            level=level,
            codes=[row[0] for row in rows],
            names=[row[1] for row in rows],
            parents=[row[2] for row in rows],
            geoms=geoms,
            source_ids=[row[4] for row in rows] if any(row[4] for row in rows) else None,
        )
    return grid


def area_names(session: Session, version_id: int, codes: Iterable[str | None]) -> dict[str, str]:
    """Names of the given area codes in one grid version."""
    wanted = [code for code in codes if code]
    if not wanted:
        return {}
    rows = session.execute(
        select(col(GridArea.code), col(GridArea.name))
        .where(col(GridArea.version_id) == version_id)
        .where(col(GridArea.code).in_(wanted))
    ).all()
    return {str(code): str(name) for code, name in rows}


def index_key(session: Session, version_id: int) -> str:
    """What a grid version's index file is built from: its id, creation time and label.

    A version's areas never change once saved, so this names its index for good; another
    database's version with the same id differs in creation time, so a shared folder never hands
    one database the index of another.
    """
    row = session.get(GridVersion, version_id)
    if row is None:
        raise LookupError(f"grid version {version_id} does not exist")
    return f"v{version_id}|{row.created_at.isoformat()}|{row.label}"


def index_path(folder: Path, key: str) -> Path:
    version = key.split("|", 1)[0]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return folder / f"grid-{version}-{digest}.idx"


def ensure_index_file(session: Session, version_id: int, folder: Path) -> tuple[Path, bool]:
    """The path of the version's index file, built first if it is missing or stale, and whether
    this call built it.

    The build runs under an exclusive file lock beside the file: of many processes starting at
    once, one builds while the others wait, then all map the same file.
    """
    key = index_key(session, version_id)
    path = index_path(folder, key)
    if read_key(path) == key:
        return path, False
    built = False
    folder.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if read_key(path) != key:
                started = time.perf_counter()
                index = GridIndex.build(load_grid(session, version_id))
                write_index(index, path, key=key)
                built = True
                _prune(folder, keep=path)
                log.info(
                    "built the index of grid version %s in %.1f s: %s",
                    version_id,
                    time.perf_counter() - started,
                    path,
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path, built


#: Index files not written for this long are removed when another is built: versions replaced
#: long ago and scratch databases' files. A process still mapping one keeps its pages.
_STALE_AFTER_S = 7 * 24 * 3600


def _prune(folder: Path, *, keep: Path) -> None:
    cutoff = time.time() - _STALE_AFTER_S
    for old in folder.glob("grid-*.idx"):
        try:
            if old != keep and old.stat().st_mtime < cutoff:
                old.unlink()
                old.with_suffix(".lock").unlink(missing_ok=True)
        except OSError:
            continue  # another process pruned it first


def open_index(session: Session, version_id: int, folder: Path) -> GridIndex:
    """The version's index, mapped from its file (built once if missing or stale)."""
    key = index_key(session, version_id)
    for _ in range(2):
        path, _ = ensure_index_file(session, version_id, folder)
        try:
            return read_index(path, key=key)
        except IndexFileError:
            # Replaced between the check and the read (a rebuild after a format change): the
            # next round maps the new file.
            continue
    raise RuntimeError(f"the index file of grid version {version_id} keeps changing: {folder}")


# Mapped indexes, shared by every ActiveGrid of the process: one per (database, grid version).
_indexes: dict[tuple[str, int, str], GridIndex] = {}
_streets: dict[tuple[str, int], StreetBoundaries] = {}
_build_lock = threading.Lock()


class ActiveGrid:
    """The active grid version's index, mapped from its file once per process, and again when
    another version becomes active.

    ``folder`` is where the index files are kept (default: the settings' grid index folder).
    ``boundary_margin_m`` is how close to its street's boundary a report is flagged as near it
    (``URBANGRID_BOUNDARY_MARGIN_M``); 0 flags none.
    """

    def __init__(self, folder: Path | None = None, *, boundary_margin_m: float = 30.0) -> None:
        self._folder = folder
        self.boundary_margin_m = boundary_margin_m

    @property
    def folder(self) -> Path:
        if self._folder is None:
            from urbangrid.core.settings import get_settings

            self._folder = get_settings().effective_grid_index_dir
        return self._folder

    def near_boundary(
        self, session: Session, version_id: int, lon: float, lat: float, street: str
    ) -> Neighbour | None:
        """The neighbouring street within the margin of a point located in ``street``."""
        if self.boundary_margin_m <= 0 or not street:
            return None
        key = (str(session.get_bind().engine.url), version_id)
        streets = _streets.get(key)
        if streets is None:
            with _build_lock:
                streets = _streets.get(key)
                if streets is None:
                    layer = load_grid(session, version_id, levels=(2,)).get(2)
                    if layer is None:
                        return None
                    streets = _streets[key] = StreetBoundaries.build(layer)
        return streets.neighbour(lon, lat, street, margin_m=self.boundary_margin_m)

    def current(self, session: Session) -> tuple[int, GridIndex]:
        version = active_version_id(session)
        if version is None:
            raise LookupError("no grid version is active: import or seed a grid first")
        # Per folder too: an index is mapped from the folder this grid was told to use.
        key = (str(session.get_bind().engine.url), version, str(self.folder))
        index = _indexes.get(key)
        if index is None:
            with _build_lock:
                index = _indexes.get(key)
                if index is None:
                    index = _indexes[key] = open_index(session, version, self.folder)
        return version, index
