"""Photos, points and servers for the intake tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import shapely
from PIL import Image
from sqlmodel import Session

from geo.layer import Grid
from tests.ports import answers, free_port
from tests.processes import urbangrid_process, wait_until
from urbangrid.cases.addresses import import_rows, read_file
from urbangrid.core.db import make_engine


def jpeg(
    size: tuple[int, int] = (640, 480),
    *,
    gps: tuple[float, float] | None = None,
    orientation: int | None = None,
    colour: tuple[int, int, int] = (200, 60, 40),
) -> bytes:
    """A JPEG photo, optionally with an EXIF GPS position (lat, lon) and an orientation tag.

    The left half is coloured and the right half white, so that rotation can be checked.
    """
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste(colour, (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "UrbangridTestCam"  # Make: metadata that must not survive
    exif[0x0131] = "test-firmware-1.0"
    if orientation is not None:
        exif[0x0112] = orientation
    if gps is not None:
        lat, lon = gps
        ifd = exif.get_ifd(0x8825)
        ifd[1] = "N" if lat >= 0 else "S"
        ifd[2] = _dms(abs(lat))
        ifd[3] = "E" if lon >= 0 else "W"
        ifd[4] = _dms(abs(lon))
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return float(degrees), float(minutes), seconds


def png(size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 128, 255, 128)).save(out, "PNG")
    return out.getvalue()


def webp(size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(out, "WEBP")
    return out.getvalue()


def grained(size: tuple[int, int] = (1024, 768), fmt: str = "JPEG", **options: object) -> bytes:
    """A photo with a camera's grain in ``fmt``: nearly all of its bytes are the picture, as in a
    phone's photo, so a cut past its first few hundred bytes lands in the picture."""
    width, height = size
    ramp = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    grain = np.random.default_rng(width * height).normal(0, 12, (height, width, 3))
    pixels = np.clip(ramp + 30 + grain, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, fmt, **options)
    return out.getvalue()


def cut_short(data: bytes) -> bytes:
    """The first third of a photo: what arrives when a phone loses its signal mid-upload."""
    return data[: len(data) // 3]


def grey16_png(size: tuple[int, int] = (1024, 256)) -> bytes:
    """A 16-bit greyscale PNG (Pillow opens it as ``I;16``): black at the left edge to white at
    the right, all 65,536 levels apart, mid-grey in the middle."""
    width, height = size
    ramp = np.linspace(0, 65535, width).round().astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(np.tile(ramp, (height, 1))).save(out, "PNG")
    return out.getvalue()


def png_bomb(side: int = 20_000) -> bytes:
    """A real decompression bomb: a side × side greyscale PNG of zeros, a few hundred KB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def cell_points(grid: Grid, count: int, seed: int) -> list[tuple[float, float]]:
    """(lon, lat) strictly inside ``count`` distinct random base cells."""
    cells = grid[max(grid)].geoms
    chosen = np.random.default_rng(seed).choice(len(cells), size=count, replace=False)
    return [(p.x, p.y) for p in shapely.point_on_surface(cells[chosen])]


@contextmanager
def api_process(values: Mapping[str, str], log: Path) -> Iterator[str]:
    """``urbangrid api`` on a free port; yields its base URL."""
    port = free_port()
    env = {**values, "URBANGRID_API_PORT": str(port)}
    with urbangrid_process(["api"], env, log) as process:
        base = f"http://127.0.0.1:{port}"
        up = wait_until(lambda: answers(f"{base}/healthz") or process.poll() is not None, 90, 0.2)
        assert up and process.poll() is None, log.read_text()[-3000:]
        yield base


def load_addresses(url: str, tmp_path: Path, points: list[tuple[str, float, float]]) -> None:
    """The city's address list, imported as ``urbangrid address import`` does."""
    path = tmp_path / "addresses.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["address", "lon", "lat", "address_id", "building"])
        for n, (address, lon, lat) in enumerate(points):
            writer.writerow([address, lon, lat, f"{address}-id", f"楼{n}"])
    rows, _, _ = read_file(path)
    engine = make_engine(url)
    with Session(engine) as session:
        import_rows(session, rows)
        session.commit()
    engine.dispose()
