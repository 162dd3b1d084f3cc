"""A grid's assignment index as one memory-mappable file, built once and shared by every process.

Building the index of a city-sized grid (a million cells) takes a minute and two gigabytes; mapping
this file takes milliseconds, and the pages are shared by every process on the machine through the
page cache. The file holds exactly the arrays :class:`geo.assign.GridIndex` answers from (raster,
candidate lists, leaf bounds, codes, names, parent chains) and the WKB of the leaves that are not
plain rectangles, which the exact test on a boundary tile decodes on demand. Answers read from a
mapped index are the ones the built index gives: same arrays, same order, same tie-break.

Layout: the magic ``UGRIDIDX``, a little-endian uint64 header length, a UTF-8 JSON header
(format, key, scalars, and each array's dtype, shape and offset), then the arrays, each aligned
to 64 bytes. A file is written under a temporary name and renamed into place, so a reader sees a
whole file or none.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.assign import GridIndex

__all__ = ["FORMAT", "IndexFileError", "read_index", "read_key", "write_index"]

#: Bumped whenever the layout or the meaning of an array changes: older files are then stale.
FORMAT = 1
_MAGIC = b"UGRIDIDX"
_ALIGN = 64
_SCALARS = ("x0", "y0", "dx", "dy", "nx", "ny", "tile_m")
_ARRAYS = (
    "raster",
    "cand_offsets",
    "candidates",
    "leaf_rect",
    "leaf_bounds",
    "leaf_codes",
    "leaf_wkb",
    "leaf_wkb_offsets",
)


class IndexFileError(ValueError):
    """The file is not a grid index this code can read (missing, truncated, other format)."""


def _arrays(index: GridIndex) -> dict[str, npt.NDArray[Any]]:
    out: dict[str, npt.NDArray[Any]] = {name: getattr(index, name) for name in _ARRAYS}
    for level in index.levels:
        out[f"codes_{level}"] = index.level_codes[level]
        out[f"names_{level}"] = index.level_names[level]
        out[f"ancestors_{level}"] = index.ancestors[level]
    return out


def write_index(index: GridIndex, path: Path, *, key: str) -> None:
    """Write ``index`` to ``path`` (atomically: a temporary file renamed into place).

    ``key`` names what the index was built from (a grid version); :func:`read_index` refuses a
    file whose key differs, which is how a stale file is told from a current one.

    >>> import shapely, tempfile
    >>> from geo.layer import Layer
    >>> grid = {1: Layer(1, ["310101"], ["黄浦区"], [None], [shapely.box(0, 0, 1, 1)])}
    >>> path = Path(tempfile.mkdtemp()) / "grid.idx"
    >>> write_index(GridIndex.build(grid), path, key="v1")
    >>> read_index(path, key="v1").assign([0.5, 2.0], [0.5, 0.5]).codes[1].tolist()
    ['310101', '']
    """
    arrays = {name: np.ascontiguousarray(a) for name, a in _arrays(index).items()}
    specs: dict[str, dict[str, Any]] = {}
    offset = 0
    for name, a in arrays.items():
        specs[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset}
        offset += -(-a.nbytes // _ALIGN) * _ALIGN
    header: dict[str, Any] = {
        "format": FORMAT,
        "key": key,
        "levels": index.levels,
        "scalars": {name: getattr(index, name) for name in _SCALARS},
        "arrays": specs,
    }
    raw = json.dumps(header, ensure_ascii=False).encode("utf-8")
    start = -(-(len(_MAGIC) + 8 + len(raw)) // _ALIGN) * _ALIGN
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + struct.pack("<Q", len(raw)) + raw)
            for name, a in arrays.items():
                f.seek(start + specs[name]["offset"])
                f.write(a.tobytes())
            f.truncate(start + offset)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _header(path: Path) -> tuple[dict[str, Any], int]:
    try:
        with path.open("rb") as f:
            head = f.read(len(_MAGIC) + 8)
            if len(head) < len(_MAGIC) + 8 or head[: len(_MAGIC)] != _MAGIC:
                raise IndexFileError(f"{path} is not a grid index file")
            (length,) = struct.unpack("<Q", head[len(_MAGIC) :])
            raw = f.read(length)
    except FileNotFoundError:
        raise IndexFileError(f"{path} does not exist") from None
    if len(raw) != length:
        raise IndexFileError(f"{path} is truncated")
    try:
        header: dict[str, Any] = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise IndexFileError(f"{path} has an unreadable header") from None
    if header.get("format") != FORMAT:
        raise IndexFileError(f"{path} has format {header.get('format')}, this code reads {FORMAT}")
    return header, -(-(len(_MAGIC) + 8 + length) // _ALIGN) * _ALIGN


def read_key(path: Path) -> str | None:
    """The key a readable index file was written with; None if missing or unreadable."""
    try:
        return str(_header(path)[0]["key"])
    except (IndexFileError, ValueError, KeyError):
        return None


def read_index(path: Path, *, key: str | None = None) -> GridIndex:
    """Map the index at ``path`` read-only; its arrays are views of the file, not copies.

    Raises :class:`IndexFileError` when the file is missing, truncated, of another format, or
    written for another ``key`` (when one is given).
    """
    header, start = _header(path)
    if key is not None and header.get("key") != key:
        raise IndexFileError(f"{path} was built for {header.get('key')!r}, not {key!r}")
    size = path.stat().st_size
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, spec in header["arrays"].items():
        dtype = np.dtype(spec["dtype"])
        shape = tuple(int(n) for n in spec["shape"])
        count = int(np.prod(shape)) if shape else 1
        offset = start + int(spec["offset"])
        if offset + count * dtype.itemsize > size:
            raise IndexFileError(f"{path} is truncated (array {name})")
        if count == 0:
            arrays[name] = np.empty(shape, dtype=dtype)
        else:
            arrays[name] = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    levels = [int(level) for level in header["levels"]]
    scalars = header["scalars"]
    return GridIndex(
        levels=levels,
        level_codes={lv: arrays[f"codes_{lv}"] for lv in levels},
        level_names={lv: arrays[f"names_{lv}"] for lv in levels},
        ancestors={lv: arrays[f"ancestors_{lv}"] for lv in levels},
        x0=float(scalars["x0"]),
        y0=float(scalars["y0"]),
        dx=float(scalars["dx"]),
        dy=float(scalars["dy"]),
        nx=int(scalars["nx"]),
        ny=int(scalars["ny"]),
        tile_m=float(scalars["tile_m"]),
        raster=arrays["raster"],
        cand_offsets=arrays["cand_offsets"],
        candidates=arrays["candidates"],
        leaf_rect=arrays["leaf_rect"],
        leaf_bounds=arrays["leaf_bounds"],
        leaf_codes=arrays["leaf_codes"],
        leaf_wkb=arrays["leaf_wkb"],
        leaf_wkb_offsets=arrays["leaf_wkb_offsets"],
    )
