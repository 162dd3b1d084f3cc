"""Residents' photos: checked by content, located by their EXIF, then stripped and shrunk.

Two steps with different costs. :func:`inspect` runs in the request: it reads the file's header
(type, pixel size, EXIF GPS) so that a text file named ``.jpg`` or a 20,000 × 20,000 PNG is
refused before anything is decoded, then makes sure the file holds the whole picture, as cheaply
as each format allows: a photo cut short by a phone's weak signal is refused while the resident
is there to send it again, instead of being dropped later by the worker without a word.
:func:`normalise` runs in the media worker: it decodes the photo, turns it upright from its EXIF
orientation, shrinks it, and writes a JPEG that carries no metadata at all (no GPS, no camera
serial), with a thumbnail.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import struct
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

try:  # HEIC (iPhones) where the maintained pillow-heif wheel is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC = True
except ImportError:  # pragma: no cover - the wheel is a dependency; this guards odd platforms
    HEIC = False

FORMATS = ("jpeg", "png", "webp", "heic")
_PIL_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
_HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class PhotoRejected(ValueError):
    """A photo that is not accepted; the message says why, for the resident."""


@dataclass(frozen=True)
class PhotoInfo:
    format: str
    width: int
    height: int
    gps: tuple[float, float] | None  # (lat, lon) in WGS84


@dataclass(frozen=True)
class Normalised:
    image: bytes
    thumbnail: bytes
    width: int
    height: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.image).hexdigest()


def sniff(data: bytes) -> str | None:
    """The image format the bytes themselves announce, whatever the file is called.

    >>> sniff(b"\\xff\\xd8\\xff\\xe0" + bytes(20)), sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(20))
    ('jpeg', 'png')
    >>> sniff(b"RIFF\\x00\\x00\\x00\\x00WEBPVP8 "), sniff(b"\\x00\\x00\\x00\\x18ftypheic")
    ('webp', 'heic')
    >>> sniff(b"rubbish by the road, honest") is None
    True
    """
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIC_BRANDS:
        return "heic" if HEIC else None
    return None


def inspect(data: bytes, *, max_bytes: int, max_pixels: int) -> PhotoInfo:
    """Check a photo by its content and read its size and EXIF GPS, without decoding it at full
    size.

    Raises :class:`PhotoRejected` for anything that is not a whole JPEG, PNG, WebP (or HEIC)
    photo of a sane size.

    >>> inspect(b"hello", max_bytes=100, max_pixels=100)
    Traceback (most recent call last):
    ...
    urbangrid.cases.photos.PhotoRejected: not a JPEG, PNG, WebP or HEIC image
    """
    if len(data) > max_bytes:
        raise PhotoRejected(f"{len(data)} bytes is more than the {max_bytes}-byte limit")
    kind = sniff(data)
    if kind is None:
        raise PhotoRejected("not a JPEG, PNG, WebP or HEIC image")
    # The containers whose every part says how long it is are checked from the bytes alone.
    late_exif = _whole_png(data) if kind == "png" else None
    if kind == "webp":
        _whole_riff(data)
    elif kind == "heic":
        _whole_isobmff(data)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning is ours to decide on, from the header's size below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                found = _PIL_FORMATS.get(image.format or "")
                width, height = image.size
                if found != kind:
                    raise PhotoRejected(f"content looks like {kind} but does not read as one")
                if width < 1 or height < 1:
                    raise PhotoRejected("image has no pixels")
                if width * height > max_pixels:
                    raise PhotoRejected(
                        f"{width} × {height} pixels is more than the {max_pixels:,}-pixel limit"
                    )
                if kind == "png":
                    if late_exif is not None and "exif" not in image.info:
                        image.info["exif"] = late_exif
                    # Not PngImageFile.getexif: that one decodes every pixel to look for an
                    # eXIf chunk after them, which _whole_png has already found.
                    exif = Image.Image.getexif(image)
                else:
                    exif = image.getexif()
                gps = gps_position(exif.get_ifd(_GPS_IFD)) if exif else None
                if kind == "jpeg":
                    _whole_jpeg(image)
    except PhotoRejected:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow refuses far past its own limit before we see the size: say it our way.
        found_pixels = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found_pixels.group(1)):,} pixels" if found_pixels else "its size"
        raise PhotoRejected(f"image of {size} is more than the {max_pixels:,}-pixel limit") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise PhotoRejected(f"unreadable {kind} image") from exc
    return PhotoInfo(kind, width, height, gps)


def _cut_short(kind: str) -> PhotoRejected:
    return PhotoRejected(f"incomplete or damaged {kind} image; send the whole photo again")


def _whole_jpeg(image: Image.Image) -> None:
    """Decode the JPEG at 1/8 scale: libjpeg still reads every byte of the compressed picture,
    so a file that stops early fails, but makes one pixel of each 8 × 8 block, which costs a
    fraction of a full decode (and of its memory, for a baseline JPEG)."""
    image.draft(image.mode, (1, 1))  # the smallest scale libjpeg offers: 1/8
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise _cut_short("jpeg") from exc


def _whole_png(data: bytes) -> bytes | None:
    """Walk every chunk of a PNG up to IEND and check its CRC, without inflating the pixels;
    the EXIF of an eXIf chunk, wherever it stands (Pillow finds one after the pixels only by
    decoding them all).

    >>> _whole_png(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(20))  # the signature, then nothing whole
    Traceback (most recent call last):
    ...
    urbangrid.cases.photos.PhotoRejected: incomplete or damaged png image; send the whole ...
    """
    view = memoryview(data)
    exif = None
    at = 8  # after the signature
    while True:
        if at + 12 > len(data):
            raise _cut_short("png")
        length, name = struct.unpack_from(">I4s", data, at)
        end = at + 12 + length
        if end > len(data):
            raise _cut_short("png")
        if zlib.crc32(view[at + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            raise _cut_short("png")
        if name == b"eXIf":
            exif = b"Exif\x00\x00" + bytes(view[at + 8 : end - 4])
        if name == b"IEND":
            return exif
        at = end


def _whole_riff(data: bytes) -> None:
    """A WebP holds as many bytes as its RIFF header says (Pillow's opener reads the whole
    container too; this says why, in the resident's words)."""
    if len(data) < 12 or struct.unpack_from("<I", data, 4)[0] + 8 > len(data):
        raise _cut_short("webp")


def _whole_isobmff(data: bytes) -> None:
    """Every top-level box of a HEIC lies within the file. The coded picture is in the ``mdat``
    box, usually the last one: a file cut short ends inside it, which libheif would only find
    when decoding, at several times the cost of a JPEG's full decode."""
    at = 0
    while at < len(data):
        rest = len(data) - at
        if rest < 8:
            if any(data[at:]):  # a few zero bytes of padding are harmless
                raise _cut_short("heic")
            return
        size = struct.unpack_from(">I", data, at)[0]
        header = 8
        if size == 1:  # a 64-bit size follows the box's type
            if rest < 16:
                raise _cut_short("heic")
            size, header = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:  # the box runs to the end of the file
            return
        if size < header or size > rest:
            raise _cut_short("heic")
        at += size


def gps_position(gps: Mapping[int, Any]) -> tuple[float, float] | None:
    """(lat, lon) from an EXIF GPS directory, or None when absent or implausible.

    >>> gps_position({1: "N", 2: (31.0, 13.0, 49.5), 3: "E", 4: (121.0, 28.0, 25.2)})
    (31.230417, 121.473667)
    >>> gps_position({1: "S", 2: (33.0, 52.0, 0.0), 3: "W", 4: (70.0, 0.0, 0.0)})
    (-33.866667, -70.0)
    >>> gps_position({2: (0.0, 0.0, 0.0), 4: (0.0, 0.0, 0.0)}) is None  # a camera without a fix
    True
    """
    try:
        lat = _degrees(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lon = _degrees(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if abs(lat) > 90 or abs(lon) > 180 or (lat == 0 and lon == 0):
        return None
    return round(lat, 6), round(lon, 6)


def _degrees(value: Any) -> float:
    parts = [float(part) for part in value]
    if len(parts) != 3:
        raise ValueError("GPS coordinate is not degrees, minutes, seconds")
    return parts[0] + parts[1] / 60 + parts[2] / 3600


def normalise(
    data: bytes, *, max_side: int, thumb_side: int, max_pixels: int, quality: int = 85
) -> Normalised:
    """Decode, turn upright, shrink to ``max_side``, and write JPEGs that carry no metadata.

    Raises :class:`PhotoRejected` when the photo cannot be decoded after all.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own guard, as a second line behind inspect()
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.size[0] * opened.size[1] > max_pixels:
                raise PhotoRejected(f"{opened.size[0]} × {opened.size[1]} pixels is too large")
            exif = opened.getexif()
            if opened.format == "JPEG":
                # Let the decoder skip detail the shrunk copy cannot show anyway.
                opened.draft("RGB", (max_side, max_side))
            # Shrink first, turn and flatten after: every later step then works on at most
            # max_side² pixels. A JPEG decodes straight at 1/2 to 1/8 scale (draft); other
            # formats decode once at full size and are box-reduced at once, so a 50-megapixel
            # PNG costs one full-size copy instead of four.
            source: Image.Image = opened
            if source.mode in ("1", "P"):  # palette images would be shrunk by nearest pixel
                source = source.convert("RGBA" if "transparency" in source.info else "RGB")
            source = _eight_bit(source)  # Pillow shrinks no 16-bit greyscale
            factor = max(source.size) // max_side
            if factor >= 2:  # a box average, the cheapest shrink, before the careful one
                source = source.reduce(factor)
            source.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            image = _flatten(_upright(source, exif.get(_ORIENTATION, 1)))
    except Image.DecompressionBombError as exc:
        raise PhotoRejected(f"image is too large to decode safely: {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise PhotoRejected(f"photo could not be decoded: {exc}") from exc
    full = _jpeg(image, quality)
    thumb = image.copy()
    thumb.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
    return Normalised(full, _jpeg(thumb, 80), image.width, image.height)


def _upright(image: Image.Image, orientation: object) -> Image.Image:
    """``image`` turned as its EXIF orientation (1-8) says."""
    method = _TRANSPOSE.get(orientation if isinstance(orientation, int) else 1)
    return image.transpose(method) if method is not None else image


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit greyscale picture (how Pillow opens a 16-bit greyscale PNG: ``I;16``, or ``I``)
    scaled to 8 bits. Pillow's own conversion clips instead, so all but the darkest 256 of the
    65,536 grey levels came out white. Pillow opens every other 16-bit PNG (colour, or with
    alpha) at 8 bits already, and pillow-heif a 10- or 12-bit HEIC.

    >>> _eight_bit(Image.new("I;16", (1, 1), 32768)).getpixel((0, 0))
    128
    """
    if image.mode == "I" or image.mode.startswith("I;16"):
        if image.mode not in ("I", "I;16"):  # the byte orders Pillow's point() does not take
            image = image.convert("I")
        return image.point(lambda value: value / 256).convert("L")
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """An RGB copy with no metadata attached; transparency is laid on white."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
    else:
        flat = image.convert("RGB")
    flat.info = {}
    return flat


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    # Nothing but pixels: no exif=, no icc_profile=, no comment.
    image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


# A rectangle of a stored photo, in its pixels: (left, top, right, bottom), right and bottom
# exclusive.
Box = tuple[int, int, int, int]
# What covers a rectangle on the public copy: flat, so nothing of what is under it shows.
COVER_COLOUR = (0, 0, 0)


def clip_boxes(boxes: Sequence[Sequence[float]], width: int, height: int) -> list[Box]:
    """Rectangles clipped to a ``width`` × ``height`` photo; empty ones are dropped.

    Raises :class:`ValueError` for a rectangle that is not four numbers with left < right and
    top < bottom.

    >>> clip_boxes([(10, 10, 50, 40), (-5, 0, 20, 900), (700, 0, 800, 10)], 640, 480)
    [(10, 10, 50, 40), (0, 0, 20, 480)]
    """
    found: list[Box] = []
    for box in boxes:
        if len(box) != 4 or not all(math.isfinite(float(v)) for v in box):
            raise ValueError(f"a rectangle is [left, top, right, bottom], got {list(box)}")
        left, top, right, bottom = (round(float(v)) for v in box)
        if left >= right or top >= bottom:
            raise ValueError(f"rectangle {list(box)} has no area (left < right, top < bottom)")
        clipped = (max(0, left), max(0, top), min(width, right), min(height, bottom))
        if clipped[0] < clipped[2] and clipped[1] < clipped[3]:
            found.append(clipped)
    return found


def render_public(
    stored: bytes,
    cover: Sequence[Box],
    *,
    thumb_side: int,
    quality: int = 85,
    blur: Sequence[tuple[str, Box]] = (),
) -> Normalised:
    """The public copy of a stored photo: ``cover``'s rectangles filled, ``blur``'s blurred.

    The one place a public copy is made, whoever found the rectangles (a shift lead redacting
    a face by hand fills it; the detector of faces and number plates blurs what it found, each
    rectangle named by its kind, "face" or "plate"). ``stored`` is the stripped, upright copy
    :func:`normalise` made; it is kept as it is for staff.

    >>> import io
    >>> white = io.BytesIO()
    >>> Image.new("RGB", (64, 48), (255, 255, 255)).save(white, "JPEG")
    >>> made = render_public(white.getvalue(), [(0, 0, 32, 48)], thumb_side=16)
    >>> with Image.open(io.BytesIO(made.image)) as shown:
    ...     shown.getpixel((8, 24))[0] < 16, shown.getpixel((56, 24))[0] > 240
    (True, True)
    """
    try:
        with Image.open(io.BytesIO(stored)) as opened:
            image = _flatten(opened)
    except (OSError, ValueError, SyntaxError) as exc:
        raise PhotoRejected(f"stored photo could not be decoded: {exc}") from exc
    for kind, box in blur:
        for clipped in clip_boxes([box], image.width, image.height):
            blur_region(image, clipped, kind)
    draw = ImageDraw.Draw(image)
    for left, top, right, bottom in clip_boxes(cover, image.width, image.height):
        draw.rectangle((left, top, right - 1, bottom - 1), fill=COVER_COLOUR)
    thumb = image.copy()
    thumb.thumbnail((thumb_side, thumb_side), Image.Resampling.LANCZOS)
    return Normalised(_jpeg(image, quality), _jpeg(thumb, 80), image.width, image.height)


def blur_region(image: Image.Image, box: Box, kind: str) -> None:
    """Blur one rectangle of ``image`` in place: a coarse mosaic, then a Gaussian a cell wide
    (a face's a cell and a half).

    A plate becomes two rows of at most eight cells, fewer cells than it has characters, each
    an average over more than one character; a face five by five cells. The Gaussian then
    smooths the cells' edges, so the mosaic's grid does not lend itself to matching attacks
    that guess the text cell by cell. Anything but "face" gets the plate's coarser mosaic.
    A face's rectangle hugs the face, so its outer cells hold hair, an ear or background beside
    skin: smoothed only a cell wide, 0.61 of the face's contrast stood in the blurred copy (of
    the test photo's; 0.58 when the rectangle took in the neck too), 0.55 a cell and a half wide.

    >>> im = Image.new("RGB", (40, 20), (0, 0, 0))
    >>> for x in range(0, 40, 2):
    ...     im.paste((255, 255, 255), (x, 0, x + 1, 20))
    >>> blur_region(im, (0, 0, 40, 20), "plate")
    >>> values = [im.getpixel((x, 10))[0] for x in range(4, 36)]
    >>> max(values) - min(values) < 60  # the stripes are gone
    True
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if w < 1 or h < 1:
        return
    if kind == "face":
        rows, cols = 5, 5
    else:
        rows = 2
        cols = max(1, min(8, round(w / max(1.0, h / rows))))
    region = image.crop(box)
    mosaic = region.resize((min(cols, w), min(rows, h)), Image.Resampling.BOX)
    mosaic = mosaic.resize((w, h), Image.Resampling.NEAREST)
    radius = max(1.0, min(w / cols, h / rows) * (0.75 if kind == "face" else 0.5))
    image.paste(mosaic.filter(ImageFilter.GaussianBlur(radius)), (x0, y0))
