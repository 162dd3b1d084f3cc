"""Photos are checked by their bytes, located by their EXIF, and stored without any metadata."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from tests.intake.helpers import cut_short, grained, grey16_png, jpeg, png, png_bomb, webp
from urbangrid.cases.photos import HEIC, PhotoRejected, inspect, normalise, sniff

LIMITS = {"max_bytes": 15 * 1024 * 1024, "max_pixels": 60_000_000}


def test_type_comes_from_the_content_not_the_name() -> None:
    assert sniff(jpeg()) == "jpeg"
    assert sniff(png()) == "png"
    assert sniff(webp()) == "webp"
    with pytest.raises(PhotoRejected, match="not a JPEG"):
        inspect(b"this is a text file called photo.jpg\n" * 10, **LIMITS)
    # JPEG magic followed by rubbish is not a photo either.
    with pytest.raises(PhotoRejected, match="unreadable"):
        inspect(b"\xff\xd8\xff\xe0" + b"rubbish" * 100, **LIMITS)


def test_exif_gps_is_read_in_degrees() -> None:
    info = inspect(jpeg(gps=(31.230416, 121.473701)), **LIMITS)
    assert info.format == "jpeg" and (info.width, info.height) == (640, 480)
    assert info.gps is not None
    assert info.gps[0] == pytest.approx(31.230416, abs=1e-5)
    assert info.gps[1] == pytest.approx(121.473701, abs=1e-5)
    assert inspect(jpeg(), **LIMITS).gps is None
    south_west = inspect(jpeg(gps=(-33.8688, -70.6693)), **LIMITS).gps
    assert south_west is not None and south_west[0] < 0 and south_west[1] < 0


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = png_bomb()
    assert len(bomb) < 2_000_000  # a few hundred KB on the wire, 400 megapixels decoded
    with pytest.raises(PhotoRejected, match="400,000,000 pixels is more than the 60,000,000"):
        inspect(bomb, **LIMITS)
    # Below Pillow's own threshold our limit speaks with the exact size.
    with pytest.raises(PhotoRejected, match="10000 × 10000 pixels is more than"):
        inspect(png_bomb(10_000), **LIMITS)
    with pytest.raises(PhotoRejected):
        normalise(bomb, max_side=2048, thumb_side=320, max_pixels=LIMITS["max_pixels"])


def test_size_limit_is_on_the_bytes() -> None:
    with pytest.raises(PhotoRejected, match="byte limit"):
        inspect(jpeg(), max_bytes=1000, max_pixels=LIMITS["max_pixels"])


def test_stored_copy_is_upright_shrunk_and_carries_no_metadata() -> None:
    # 3000 x 1000 landscape pixels tagged "rotate 90° clockwise" (orientation 6): the resident
    # held the phone upright, so the stored photo is portrait, at most 2048 px.
    raw = jpeg((3000, 1000), gps=(31.2304, 121.4737), orientation=6)
    made = normalise(raw, max_side=2048, thumb_side=320, max_pixels=LIMITS["max_pixels"])
    stored = Image.open(io.BytesIO(made.image))
    assert stored.format == "JPEG"
    assert stored.size == (made.width, made.height) and max(stored.size) == 2048
    assert stored.size[1] > stored.size[0]  # portrait: turned upright
    # The coloured half was on the left of the raw pixels; orientation 6 puts it on top.
    top = stored.getpixel((stored.width // 2, stored.height // 8))
    bottom = stored.getpixel((stored.width // 2, stored.height * 7 // 8))
    assert top[1] < 120 and bottom[1] > 200
    assert len(stored.getexif()) == 0 and "exif" not in stored.info
    assert b"Exif" not in made.image and b"UrbangridTestCam" not in made.image
    thumb = Image.open(io.BytesIO(made.thumbnail))
    assert max(thumb.size) == 320 and len(thumb.getexif()) == 0
    assert made.digest == __import__("hashlib").sha256(made.image).hexdigest()


def test_transparent_png_is_laid_on_white() -> None:
    made = normalise(png(), max_side=2048, thumb_side=320, max_pixels=LIMITS["max_pixels"])
    assert Image.open(io.BytesIO(made.image)).mode == "RGB"


@pytest.mark.skipif(not HEIC, reason="pillow-heif wheel not installed")
def test_heic_is_accepted_where_the_wheel_serves() -> None:
    out = io.BytesIO()
    Image.new("RGB", (200, 100), (1, 2, 3)).save(out, "HEIF")
    data = out.getvalue()
    assert sniff(data) == "heic"
    assert inspect(data, **LIMITS).format == "heic"
    made = normalise(data, max_side=2048, thumb_side=320, max_pixels=LIMITS["max_pixels"])
    assert Image.open(io.BytesIO(made.image)).size == (200, 100)


# Where the coloured left half of jpeg()'s raw pixels ends up once each orientation is applied.
COLOURED_SIDE = {1: "left", 2: "right", 3: "right", 4: "left", 5: "top", 6: "top", 7: "bottom"}
COLOURED_SIDE[8] = "bottom"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_upright(orientation: int) -> None:
    made = normalise(
        jpeg((600, 200), orientation=orientation),
        max_side=300,
        thumb_side=100,
        max_pixels=LIMITS["max_pixels"],
    )
    stored = Image.open(io.BytesIO(made.image)).convert("RGB")
    portrait = orientation >= 5
    assert (stored.height > stored.width) == portrait
    w, h = stored.size
    probes = (
        {"top": (w // 2, h // 8), "bottom": (w // 2, h * 7 // 8)}
        if portrait
        else {"left": (w // 8, h // 2), "right": (w * 7 // 8, h // 2)}
    )
    coloured = [side for side, at in probes.items() if stored.getpixel(at)[1] < 120]
    assert coloured == [COLOURED_SIDE[orientation]]


def test_a_large_sparse_png_is_shrunk_without_a_full_size_copy_per_step() -> None:
    # A few hundred kilobytes that decode to 36 megapixels with an alpha channel: the kind of
    # file that cost 11 s and 800 MB when every step worked at full size.
    image = Image.new("RGBA", (6000, 6000), (30, 200, 30, 0))
    image.paste((200, 30, 30, 255), (0, 0, 3000, 6000))
    out = io.BytesIO()
    image.save(out, "PNG")
    made = normalise(out.getvalue(), max_side=2048, thumb_side=320, max_pixels=50_000_000)
    stored = Image.open(io.BytesIO(made.image))
    assert stored.size == (2048, 2048) and stored.mode == "RGB"
    assert stored.getpixel((100, 1000))[0] > 180  # the opaque red half
    assert min(stored.getpixel((1900, 1000))) > 240  # the transparent half laid on white


def test_the_default_pixel_cap_refuses_the_7700_square_png() -> None:
    from urbangrid.core.settings import Settings

    cap = Settings().photo_max_pixels
    bomb = png_bomb(7700)
    with pytest.raises(PhotoRejected, match="pixel"):
        inspect(bomb, max_bytes=LIMITS["max_bytes"], max_pixels=cap)
    assert cap >= 8064 * 6048  # a 48-megapixel phone photo is still taken


# Each format the intake takes, as phones and apps send it (HEIC where the wheel serves).
WHOLE = {
    "jpeg": lambda: grained(fmt="JPEG", quality=90),
    "progressive jpeg": lambda: grained(fmt="JPEG", quality=90, progressive=True),
    "png": lambda: grained(fmt="PNG"),
    "webp": lambda: grained(fmt="WEBP", quality=85),
    "heic": lambda: grained(fmt="HEIF", quality=85),
}


@pytest.mark.parametrize("name", WHOLE)
def test_a_photo_cut_short_is_refused_in_the_request(name: str) -> None:
    # Its header is whole, so its type and size read as before: only the picture is missing.
    if name == "heic" and not HEIC:
        pytest.skip("pillow-heif wheel not installed")
    whole = WHOLE[name]()
    kind = name.split()[-1]
    assert inspect(whole, **LIMITS).format == kind
    for cut in (cut_short(whole), whole[:-100]):
        with pytest.raises(PhotoRejected, match=f"incomplete or damaged {kind} image"):
            inspect(cut, **LIMITS)


def test_a_damaged_png_chunk_is_refused() -> None:
    data = bytearray(grained(fmt="PNG"))
    data[data.index(b"IDAT") + 1000] ^= 0x55  # one byte changed on the way: its CRC says so
    with pytest.raises(PhotoRejected, match="incomplete or damaged png image"):
        inspect(bytes(data), **LIMITS)


def test_data_after_the_picture_is_no_reason_to_refuse() -> None:
    # A motion photo (Pixel, Samsung) carries its video after the JPEG's end.
    motion = grained() + b"\x00\x00\x00\x18ftypmp42" + bytes(4096)
    assert inspect(motion, **LIMITS).format == "jpeg"


def test_png_gps_is_read_before_or_after_the_pixels_without_decoding_them() -> None:
    exif = Image.open(io.BytesIO(jpeg(gps=(31.230416, 121.473701)))).getexif()
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(out, "PNG", exif=exif)
    early = out.getvalue()
    assert early.index(b"eXIf") < early.index(b"IDAT")
    # The same chunks with eXIf moved after the pixels, as libpng may write it.
    chunks, at = [], 8
    while at < len(early):
        length = struct.unpack_from(">I", early, at)[0]
        chunks.append(early[at : at + 12 + length])
        at += 12 + length
    exif_chunk = next(c for c in chunks if c[4:8] == b"eXIf")
    rest = [c for c in chunks if c is not exif_chunk]
    late = early[:8] + b"".join(rest[:-1]) + exif_chunk + rest[-1]
    for data in (early, late):
        gps = inspect(data, **LIMITS).gps
        assert gps == pytest.approx((31.230416, 121.473701), abs=1e-5)


@pytest.mark.parametrize("size", [(1024, 256), (4400, 300)])
def test_a_sixteen_bit_grey_png_keeps_its_grey_levels(size: tuple[int, int]) -> None:
    # Pillow converted its 65,536 levels to RGB by clipping at 255: a white page. The wider one
    # is shrunk first, which failed outright ("image has wrong mode").
    made = normalise(grey16_png(size), max_side=2048, thumb_side=320, max_pixels=50_000_000)
    stored = np.asarray(Image.open(io.BytesIO(made.image)).convert("L"))
    assert stored.shape[1] == min(size[0], 2048)
    row = stored[stored.shape[0] // 2]
    assert row[2] < 12  # black at the left edge
    assert 116 < row[len(row) // 2] < 140  # mid-grey in the middle
    assert row[-3] > 243  # white at the right edge
