"""Area codes: check and normalise them, and number areas that arrive without one.

A code is the parent's code plus the digits of its own level (`layer.LEVEL_DIGITS`): district 6
(GB/T 2260 county code), street 9, community 12, cell 15. The older 14-digit cell form of CJ/T 213
(a 2-digit final sequence) is accepted and widened to 15 digits by a leading zero on the sequence.

Generated numbers follow the national conventions where there are some:

- streets (level 2) take their number from the range of their kind, read off the name's suffix:
  001-099 街道, 100-199 镇, 200-399 乡; a name with none of these suffixes gets the 街道 range;
- communities and cells (levels 3 and 4) are numbered 001.. in reading order: rows north to south,
  west to east within a row, skipping numbers already in use under the same parent;
- a district (level 1) with no code gets one from 900001 upwards: GB/T 2260 assigns no province
  code starting with 9, so these never collide with a real county code. This is how areas outside
  China (a US city, say) enter the grid: their own identifiers are kept as source ids, not codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from geo.layer import LEVEL_DIGITS, code_length

__all__ = [
    "PRIVATE_L1_START",
    "STREET_RANGES",
    "CodeError",
    "code_problem",
    "generate_codes",
    "normalize_code",
    "reading_order",
    "street_range",
]

#: Number ranges for street-level units by the suffix of their name (inclusive).
STREET_RANGES: dict[str, tuple[int, int]] = {"街道": (1, 99), "镇": (100, 199), "乡": (200, 399)}

#: First generated district code (see the module docstring).
PRIVATE_L1_START = 900001


class CodeError(ValueError):
    """A code that does not fit the grid's code scheme, or numbers that have run out."""


def code_problem(code: str, level: int, parent: str | None = None) -> str | None:
    """What is wrong with a stored `code` at `level` under `parent`, or None if nothing.

    >>> code_problem("310115125", 2, "310115") is None
    True
    >>> code_problem("31011512", 2)
    'has 8 digits, level 2 needs 9'
    >>> code_problem("310104125", 2, "310115")
    "does not start with its parent's code 310115"
    """
    expected = code_length(level)
    if not code.isascii() or not code.isdigit():
        return "is not all digits"
    if len(code) != expected:
        return f"has {len(code)} digits, level {level} needs {expected}"
    if parent is not None and not code.startswith(parent):
        return f"does not start with its parent's code {parent}"
    if int(code[-LEVEL_DIGITS[level - 1] :]) == 0:
        return "ends in a zero sequence number"
    return None


def normalize_code(code: object, level: int, *, parent: str | None = None) -> str:
    """The stored form of a code read from a file: trimmed, digits only, 15-digit cells.

    Integers are accepted (GeoJSON often carries `adcode` as a number). Raises `CodeError` naming
    the problem.

    >>> normalize_code(310101, 1)
    '310101'
    >>> normalize_code("31011512500314", 4)          # 14-digit CJ/T 213 cell
    '310115125003014'
    >>> normalize_code("3101151", 2)
    Traceback (most recent call last):
    ...
    geo.codes.CodeError: code '3101151' at level 2 has 7 digits, level 2 needs 9
    """
    if isinstance(code, bool) or code is None:
        raise CodeError(f"code {code!r} at level {level} is not a code")
    if isinstance(code, float):
        if not code.is_integer():
            raise CodeError(f"code {code!r} at level {level} is not a whole number")
        code = int(code)
    text = str(code).strip()
    if level == 4 and len(text) == code_length(4) - 1 and text.isascii() and text.isdigit():
        text = text[: code_length(3)] + "0" + text[code_length(3) :]
    problem = code_problem(text, level, parent)
    if problem is not None:
        raise CodeError(f"code {str(code)!r} at level {level} {problem}")
    return text


def street_range(name: str) -> tuple[int, int]:
    """The inclusive number range for a street-level unit called `name` (by its suffix).

    >>> [street_range(name) for name in ("张江镇", "外滩街道", "新村乡", "菊园新区")]
    [(100, 199), (1, 99), (200, 399), (1, 99)]
    """
    stripped = name.strip()
    for suffix, bounds in STREET_RANGES.items():
        if stripped.endswith(suffix):
            return bounds
    return STREET_RANGES["街道"]


def reading_order(
    x: npt.ArrayLike, y: npt.ArrayLike, row_height: float | None = None
) -> npt.NDArray[np.intp]:
    """Indices that sort points in reading order: rows north to south, west to east in a row.

    Rows are bands of `row_height` (same unit as `y`) counted down from the northernmost point.
    Without it, the band is the side of a square holding one point on average over the points'
    bounding box, so irregular areas are read in rows of roughly one area's height.

    >>> reading_order([0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0], row_height=0.5).tolist()
    [0, 1, 2, 3]
    """
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y, dtype=np.float64).reshape(-1)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in shape: {xs.shape} vs {ys.shape}")
    n = len(xs)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    top = float(ys.max())
    if row_height is None:
        mid = np.radians((top + float(ys.min())) / 2.0)
        # A degree of longitude is cos(lat) of a degree of latitude; y beyond 90 means the points
        # are already in metres.
        width = float(np.ptp(xs)) * (float(np.cos(mid)) if abs(top) <= 90 else 1.0)
        height = float(np.ptp(ys))
        row_height = float(np.sqrt(width * height / n)) if width * height > 0 else 0.0
        if row_height <= 0.0:
            row_height = max(height, width, 1.0) / max(n, 1)
    if row_height <= 0:
        raise ValueError(f"row_height must be positive, got {row_height}")
    rows = np.floor((top - ys) / row_height)
    return np.lexsort((xs, rows)).astype(np.intp)


def _numbers_in_use(existing: Iterable[str], prefix: str, width: int) -> set[int]:
    used: set[int] = set()
    for code in existing:
        if code.startswith(prefix) and len(code) == len(prefix) + width and code.isdigit():
            used.add(int(code[len(prefix) :]))
    return used


def generate_codes(
    parent_code: str | None,
    level: int,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    names: Sequence[str] | None = None,
    existing: Iterable[str] = (),
    row_height: float | None = None,
) -> list[str]:
    """New codes for areas at `level` under `parent_code`, one per point (x, y) given.

    The points are representative points of the areas (lon/lat). Numbers already used by
    `existing` codes under the same parent are skipped. Street names (`names`, level 2) choose the
    number range; other levels use 001-999 (districts: 900001 upwards). Raises `CodeError` when a
    range runs out.

    >>> generate_codes("310115", 2, [121.5, 121.6, 121.7], [31.2, 31.2, 31.2],
    ...                names=["张江镇", "花木街道", "川沙新镇"], existing=["310115125"])
    ['310115100', '310115001', '310115101']
    >>> generate_codes("310115125003", 4, [0.1, 0.0, 0.0], [0.0, 0.0, 0.1], row_height=0.05)
    ['310115125003003', '310115125003002', '310115125003001']
    """
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y, dtype=np.float64).reshape(-1)
    n = len(xs)
    if names is not None and len(names) != n:
        raise ValueError(f"{len(names)} names for {n} areas")
    if level == 1:
        if parent_code is not None:
            raise ValueError("a district has no parent code")
        prefix, width = "", LEVEL_DIGITS[0]
        groups: dict[tuple[int, int], list[int]] = {(PRIVATE_L1_START, 999999): list(range(n))}
    else:
        if parent_code is None:
            raise ValueError(f"level {level} codes need the parent's code")
        if len(parent_code) != code_length(level - 1):
            raise CodeError(
                f"parent code {parent_code!r} has {len(parent_code)} digits, "
                f"level {level - 1} needs {code_length(level - 1)}"
            )
        prefix, width = parent_code, LEVEL_DIGITS[level - 1]
        groups = {}
        for i in range(n):
            bounds = street_range(names[i]) if level == 2 and names is not None else (1, 999)
            groups.setdefault(bounds, []).append(i)
    used = _numbers_in_use(existing, prefix, width)
    out = [""] * n
    for (low, high), members in groups.items():
        idx = np.asarray(members, dtype=np.intp)
        order = idx[reading_order(xs[idx], ys[idx], row_height)]
        number = low
        for i in order:
            while number in used:
                number += 1
            if number > high:
                where = f"under {parent_code}" if parent_code else "for districts"
                raise CodeError(
                    f"no free level {level} number left in {low:0{width}d}-{high:0{width}d} {where}"
                    f" ({len(members)} areas to number)"
                )
            out[int(i)] = f"{prefix}{number:0{width}d}"
            used.add(number)
    return out
