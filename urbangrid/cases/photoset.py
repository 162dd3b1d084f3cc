"""The evaluation set for the face and plate detectors, built on demand, never committed.

Every picture is made from what installed packages carry: scikit-image's openly licensed sample
photos (the astronaut Eileen Collins, public domain; the cameraman, CC0; both per scikit-image's
data docs) as scenes and faces, matplotlib's portrait of Grace Hopper (a US Navy photograph, public
domain; matplotlib installs it as sample data) as a third face, and China's licence plates
rendered here in their three colours (blue with white characters; yellow with black; the
new-energy green, fading to white, with black characters and one more character) with the Noto
CJK font for the province's character where the machine has it. Plates go on car bodies of every
common colour, blue and yellow ones included, at sizes from 40 to 420 pixels wide, turned up to
30 degrees away from the camera, tilted, in shade or in glare, slightly out of focus. Road-name
signs (blue, white characters, like a plate but larger and longer) and blank coloured panels are
there too, unlabelled: blurring them counts against the detector.

The set is the same on every machine for a given seed. Each sample is a 2048 × 1536 RGB photo
(the size the media worker stores) with a labelled box per face and plate.
"""

from __future__ import annotations

import importlib.util
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter, ImageFont

WIDTH, HEIGHT = 2048, 1536
PROVINCES = "京沪粤浙苏川鲁豫鄂湘闽皖赣津渝冀晋辽吉黑陕甘青琼云贵桂蒙宁新藏"
LETTERS = "".join(c for c in string.ascii_uppercase if c not in "IO")  # plates use neither
PLATE_KINDS = ("blue", "yellow", "green")
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
_LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)

Box = tuple[int, int, int, int]
Pixels = npt.NDArray[Any]  # height × width × 3, uint8


@dataclass(frozen=True)
class Sample:
    name: str
    rgb: Pixels
    faces: list[Box] = field(default_factory=list)
    plates: list[Box] = field(default_factory=list)
    plate_texts: list[str] = field(default_factory=list)


def plate_text(rng: random.Random, kind: str) -> str:
    """A plate number of the kind: province, city letter, then five (new-energy six) symbols.

    >>> text = plate_text(random.Random(1), "green")
    >>> len(text), text[0] in PROVINCES, text[2] in "DF"
    (8, True, True)
    """
    province = rng.choice(PROVINCES)
    city = rng.choice(LETTERS)
    if kind == "green":
        return province + city + rng.choice("DF") + "".join(rng.choices(string.digits, k=5))
    symbols = LETTERS + string.digits * 2
    return province + city + "".join(rng.choices(symbols, k=5))


def render_plate(text: str, kind: str) -> Image.Image:
    """A plate seen from the front, 440 × 140 px (new-energy 480 × 140), as Pillow RGB."""
    width = 480 if kind == "green" else 440
    plate = Image.new("RGB", (width, 140))
    draw = ImageDraw.Draw(plate)
    if kind == "blue":
        draw.rectangle((0, 0, width, 140), fill=(16, 62, 190))
        ink: tuple[int, int, int] = (245, 245, 245)
    elif kind == "yellow":
        draw.rectangle((0, 0, width, 140), fill=(245, 190, 20))
        ink = (15, 15, 15)
    else:
        for y in range(140):  # green at the top fading towards white, as new-energy plates do
            t = y / 139
            colour = (int(90 + 140 * t), int(200 + 45 * t), int(110 + 120 * t))
            draw.line((0, y, width, y), fill=colour)
        ink = (15, 15, 15)
    draw.rounded_rectangle((6, 6, width - 7, 133), radius=10, outline=ink, width=3)
    # GA 36-2018's layout: characters 45 × 90 mm (new-energy 43 wide), 12 mm apart (9), a
    # 34-mm gap holding the dot after the city's letter; one pixel a millimetre.
    glyph_w, gap = (43, 9) if kind == "green" else (45, 12)
    x = (width - (glyph_w * len(text) + gap * (len(text) - 2) + 34)) / 2
    for i, char in enumerate(text):
        font = _font(_CJK_FONTS, 120) if i == 0 else _font(_LATIN_FONTS, 120)
        shape = _glyph(char, font, (glyph_w, 90))
        plate.paste(Image.new("RGB", shape.size, ink), (round(x), 25), mask=shape)
        if i == 1:
            draw.ellipse((x + glyph_w + 12, 66, x + glyph_w + 22, 76), fill=ink)
        x += glyph_w + (34 if i == 1 else gap)
    return plate


def _glyph(
    char: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, size: tuple[int, int]
) -> Image.Image:
    """One character's shape stretched to the plate's character box, as a mask."""
    canvas = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(canvas).text((80, 80), char, font=font, fill=255, anchor="mm")
    return canvas.crop(canvas.getbbox() or (0, 0, 160, 160)).resize(size)


@lru_cache(maxsize=8)
def _font(paths: tuple[str, ...], size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in paths:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _scenes() -> list[Pixels]:
    """Backgrounds: scikit-image's colour photos, scaled to fill 2048 × 1536, and a street."""
    pictures = [_sample(name) for name in ("coffee", "rocket", "chelsea", "hubble_deep_field")]
    pictures += [np.stack([_sample(name)] * 3, axis=-1) for name in ("brick", "gravel")]
    return [_fill(p) for p in pictures] + [_street(seed) for seed in range(4)]


def _sample(name: str) -> Pixels:
    """One of scikit-image's sample photos, from the files its wheel installs."""
    from skimage import data

    picture: Pixels = getattr(data, name)()
    return picture


def _fill(picture: Pixels) -> Pixels:
    h, w = picture.shape[:2]
    scale = max(WIDTH / w, HEIGHT / h)
    big = cv2.resize(picture, (int(np.ceil(w * scale)), int(np.ceil(h * scale))))
    y, x = (big.shape[0] - HEIGHT) // 2, (big.shape[1] - WIDTH) // 2
    return np.ascontiguousarray(big[y : y + HEIGHT, x : x + WIDTH, :3])


def _street(seed: int) -> Pixels:
    """A street drawn flat: sky (blue, the plates' own colour), buildings, pavement, road."""
    rng = random.Random(seed)
    canvas = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(canvas)
    for y in range(600):
        t = y / 600
        draw.line((0, y, WIDTH, y), fill=(int(70 + 100 * t), int(130 + 80 * t), 235))
    x = 0
    while x < WIDTH:
        w = rng.randint(180, 420)
        top = rng.randint(150, 500)
        tone = rng.randint(120, 220)
        draw.rectangle((x, top, x + w, 900), fill=(tone, tone - rng.randint(0, 30), tone - 40))
        for wy in range(top + 30, 860, 70):
            for wx in range(x + 20, x + w - 40, 60):
                draw.rectangle((wx, wy, wx + 30, wy + 40), fill=(60, 80, 100))
        x += w + rng.randint(0, 40)
    draw.rectangle((0, 900, WIDTH, 1000), fill=(170, 165, 160))
    draw.rectangle((0, 1000, WIDTH, HEIGHT), fill=(70, 70, 75))
    for lx in range(0, WIDTH, 260):
        draw.rectangle((lx, 1250, lx + 140, 1265), fill=(235, 235, 235))
    noise = np.random.default_rng(seed).normal(0, 4, (HEIGHT, WIDTH, 3))
    street: Pixels = np.clip(np.asarray(canvas, np.float32) + noise, 0, 255).astype(np.uint8)
    return street


_CAR_COLOURS = [
    (240, 240, 240),
    (25, 25, 30),
    (150, 155, 160),
    (180, 30, 30),
    (20, 60, 170),  # a blue car behind a blue plate
    (235, 185, 20),  # a yellow one behind a yellow plate
    (40, 120, 60),
    (120, 90, 60),
]


def _paste_car_with_plate(
    canvas: Image.Image,
    rng: random.Random,
    kind: str,
    plate_w: int,
    at: tuple[int, int],
    *,
    level: bool = False,
) -> tuple[Box, str]:
    """Draw a car's rear with a plate of ``kind``, ``plate_w`` px wide; the plate's box."""
    text = plate_text(rng, kind)
    plate = np.asarray(render_plate(text, kind))
    ph, pw = plate.shape[:2]
    # Where the plate's corners land: turned away (yaw squeezes one side), tilted (roll).
    scale = plate_w / pw
    yaw = rng.uniform(-30, 30)
    roll = rng.uniform(-8, 8)
    if level:  # seen square on
        yaw = roll = 0.0
    squeeze = np.cos(np.radians(abs(yaw)))
    near, far = 1.0, 1.0 - 0.25 * np.sin(np.radians(abs(yaw)))
    w, h = pw * scale * squeeze, ph * scale
    left_h, right_h = (h * far, h * near) if yaw > 0 else (h * near, h * far)
    corners = np.array(
        [
            [-w / 2, -left_h / 2],
            [w / 2, -right_h / 2],
            [w / 2, right_h / 2],
            [-w / 2, left_h / 2],
        ]
    )
    turn = np.radians(roll)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    corners = corners @ rotation.T + np.array(at, dtype=float)
    # The car body around it, drawn first.
    car_colour = rng.choice(_CAR_COLOURS)
    cx, cy = at
    car_w, car_h = plate_w * 4.2, plate_w * 2.2
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle(
        (cx - car_w / 2, cy - car_h * 0.7, cx + car_w / 2, cy + car_h * 0.3),
        radius=int(plate_w * 0.3),
        fill=car_colour,
    )
    draw.rectangle(
        (cx - car_w * 0.35, cy - car_h * 0.65, cx + car_w * 0.35, cy - car_h * 0.3),
        fill=(40, 50, 60),
    )  # the rear window
    source = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    base = np.asarray(canvas).copy()
    warped = cv2.warpPerspective(plate, matrix, (WIDTH, HEIGHT))
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), matrix, (WIDTH, HEIGHT))
    base[mask > 127] = warped[mask > 127]
    canvas.paste(Image.fromarray(base))
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return (int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))), text


def _paste_face(
    canvas: Image.Image, face: Image.Image, rng: random.Random, size: int, at: tuple[int, int]
) -> Box:
    """Paste a head photo ``size`` px wide at ``at``; its labelled face box (scaled)."""
    scaled = face.resize((size, int(size * face.height / face.width)), Image.Resampling.LANCZOS)
    canvas.paste(scaled, (at[0], at[1]))
    label: Box = face.info["face_box"]
    k = size / face.width
    return (
        at[0] + int(label[0] * k),
        at[1] + int(label[1] * k),
        at[0] + int(np.ceil(label[2] * k)),
        at[1] + int(np.ceil(label[3] * k)),
    )


def _heads() -> list[Image.Image]:
    """Head-and-shoulders photos with their face boxes (forehead to chin, ear to ear).

    Boxes are in the crop's pixels, x1 and y1 exclusive. A face is boxed to its whole extent
    whatever covers part of it, as WIDER FACE (the set face detectors learn from) labels an
    occluded face: a forehead under hair or under a cap runs up to where the hairline would be,
    one face-third (brows to the base of the nose) above the brows. Measured on the pixels:
    the astronaut's brows at row 90 and nose base at 128 put her hairline at 52 (under her
    fringe; labelled 50), the cameraman's 122 and 149 put his at 95 (under his forelock; 95),
    Grace Hopper's 148 and 228 put hers at 68, under her cap, whose brim is at 117. (Her box
    stopped at the brim before 2026-12-06: docs/benchmarks.md has the figures both ways.) The
    astronaut's chin ends at row 177 (the shadow under it, then her neck down to the collar at
    187); the cameraman's ear starts at column 9 and his nose ends at 84, the background after
    it.
    """
    heads = []
    astronaut = Image.fromarray(_sample("astronaut")).crop((120, 0, 340, 260))
    astronaut.info["face_box"] = (52, 50, 158, 178)  # on the 512-px original
    heads.append(astronaut)
    camera = Image.fromarray(_sample("camera")).convert("RGB").crop((170, 20, 330, 200))
    camera.info["face_box"] = (9, 95, 85, 180)  # in profile: ear to nose tip
    heads.append(camera)
    hopper = Image.open(_hopper_path()).convert("RGB").crop((30, 20, 498, 460))
    hopper.info["face_box"] = (125, 68, 345, 310)  # in the crop; the cap's brim is at row 117
    heads.append(hopper)
    for head in list(heads):  # the same faces the other way round, and in black and white
        mirrored = head.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x0, y0, x1, y1 = head.info["face_box"]
        mirrored.info["face_box"] = (head.width - x1, y0, head.width - x0, y1)
        grey = head.convert("L").convert("RGB")
        grey.info["face_box"] = head.info["face_box"]
        heads += [mirrored, grey]
    return heads


def _hopper_path() -> Path:
    """matplotlib's sample photo of Grace Hopper, found without importing matplotlib (whose
    first import builds a font cache)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the evaluation set's third face is matplotlib's sample photo: pip install -e '.[dev]'"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder / "mpl-data" / "sample_data" / "grace_hopper.jpg"


def build(*, seed: int = 16, count: int = 40) -> Iterator[Sample]:
    """The evaluation set: ``count`` 2048 × 1536 photos, each with labelled faces and plates.

    Each photo draws its cars and plates, its people, and its light from three random streams of
    its own, so adding a face to the set leaves every plate where it was, and the first ``n``
    photos are the same whatever ``count``.
    """
    scenes = _scenes()
    heads = _heads()
    for index in range(count):
        rng = random.Random(f"{seed}:{index}:cars")
        people = random.Random(f"{seed}:{index}:people")
        canvas = Image.fromarray(scenes[index % len(scenes)].copy())
        plates: list[Box] = []
        texts: list[str] = []
        faces: list[Box] = []
        taken: list[Box] = []
        _add_distractors(canvas, rng, taken)
        for _ in range(rng.randint(1, 3)):
            kind = PLATE_KINDS[(index + len(plates)) % 3]
            plate_w = int(rng.choice([50, 70, 100, 140, 220, 320, 420]) * rng.uniform(0.9, 1.1))
            spot = _free_spot(rng, taken, plate_w * 4.4, plate_w * 2.3)
            if spot is None:
                continue
            box, text = _paste_car_with_plate(canvas, rng, kind, plate_w, spot)
            plates.append(box)
            texts.append(text)
        for _ in range(people.randint(0, 3)):
            head = heads[people.randrange(len(heads))]
            size = int(people.choice([90, 140, 220, 320, 480]) * people.uniform(0.9, 1.1))
            spot = _free_spot(people, taken, size * 1.1, size * head.height / head.width * 1.1)
            if spot is None:
                continue
            corner = (int(spot[0] - size / 2), int(spot[1] - size * head.height / head.width / 2))
            faces.append(_paste_face(canvas, head, people, size, corner))
        pixels = _light(np.asarray(canvas), random.Random(f"{seed}:{index}:light"))
        yield Sample(f"scene-{index:02d}", pixels, faces, plates, texts)


def example(
    seed: int = 0, *, kind: str = "blue", plate_w: int = 320, level: bool = False
) -> Sample:
    """One street photo with one person and one car: a quick sample for tests and by hand."""
    rng = random.Random(seed)
    canvas = Image.fromarray(_street(seed))
    head = _heads()[0]
    face = _paste_face(canvas, head, rng, 300, (160, 700))
    plate, text = _paste_car_with_plate(canvas, rng, kind, plate_w, (1300, 1250), level=level)
    return Sample(f"example-{seed}", np.asarray(canvas), [face], [plate], [text])


def _add_distractors(canvas: Image.Image, rng: random.Random, taken: list[Box]) -> None:
    """A road-name sign and a blank coloured panel: plate-coloured, not plates."""
    draw = ImageDraw.Draw(canvas)
    if rng.random() < 0.6:
        w = rng.randint(500, 800)
        spot = _free_spot(rng, taken, w, w / 4)
        if spot is not None:
            x0, y0 = int(spot[0] - w / 2), int(spot[1] - w / 8)
            draw.rectangle((x0, y0, x0 + w, y0 + w // 4), fill=(20, 70, 160))
            draw.rectangle((x0 + 8, y0 + 8, x0 + w - 8, y0 + w // 4 - 8), outline="white", width=4)
            font = _font(_CJK_FONTS, w // 10)
            draw.text((x0 + w / 2, y0 + w / 8), "中山东一路", font=font, fill="white", anchor="mm")
    if rng.random() < 0.6:
        w = rng.randint(150, 400)
        spot = _free_spot(rng, taken, w, w / 3)
        if spot is not None:
            x0, y0 = int(spot[0] - w / 2), int(spot[1] - w / 6)
            draw.rectangle((x0, y0, x0 + w, y0 + w // 3), fill=rng.choice(_CAR_COLOURS[4:7]))


def _free_spot(rng: random.Random, taken: list[Box], w: float, h: float) -> tuple[int, int] | None:
    """A centre where a ``w`` × ``h`` box fits on the canvas without touching others."""
    for _ in range(60):
        cx = rng.uniform(w / 2 + 4, WIDTH - w / 2 - 4)
        cy = rng.uniform(h * 0.7 + 4, HEIGHT - h * 0.7 - 4)
        box = (int(cx - w / 2), int(cy - h * 0.7), int(cx + w / 2), int(cy + h * 0.7))
        if all(box[2] < o[0] or o[2] < box[0] or box[3] < o[1] or o[3] < box[1] for o in taken):
            taken.append(box)
            return int(cx), int(cy)
    return None


def _light(pixels: Pixels, rng: random.Random) -> Pixels:
    """Daylight, dusk or glare, a shadow falling across, a slight blur and sensor noise."""
    gain = rng.choice([0.55, 0.8, 1.0, 1.0, 1.2])
    image = pixels.astype(np.float32) * gain
    if rng.random() < 0.5:  # a shadow gradient from one side
        ramp = np.linspace(rng.uniform(0.6, 1.0), 1.0, WIDTH, dtype=np.float32)
        image *= ramp[None, :, None] if rng.random() < 0.5 else ramp[None, ::-1, None]
    image += np.random.default_rng(rng.randrange(1 << 30)).normal(0, 3, image.shape)
    out: Pixels = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(1.2)))
    return out


# A labelled face or plate counts as found when the blurred rectangles cover this share of it:
# what stays uncovered is a sliver at an edge, not an eye or a character.
FOUND = 0.8


@dataclass(frozen=True)
class Score:
    faces: int
    faces_found: int
    plates: int
    plates_found: int
    blurred_px: int
    blurred_outside_px: int  # blurred pixels in no labelled face or plate

    @property
    def face_recall(self) -> float:
        return self.faces_found / self.faces if self.faces else 1.0

    @property
    def plate_recall(self) -> float:
        return self.plates_found / self.plates if self.plates else 1.0

    @property
    def outside_share(self) -> float:
        return self.blurred_outside_px / self.blurred_px if self.blurred_px else 0.0

    def __add__(self, other: Score) -> Score:
        return Score(
            self.faces + other.faces,
            self.faces_found + other.faces_found,
            self.plates + other.plates,
            self.plates_found + other.plates_found,
            self.blurred_px + other.blurred_px,
            self.blurred_outside_px + other.blurred_outside_px,
        )


def score(sample: Sample, covered: list[Box]) -> Score:
    """How well the blurred rectangles ``covered`` hide the sample's labelled faces and plates.

    >>> blank = np.zeros((10, 20, 3), np.uint8)
    >>> s = Sample("one", blank, faces=[(0, 0, 5, 5)], plates=[(10, 0, 20, 4)])
    >>> got = score(s, [(0, 0, 5, 5), (10, 0, 20, 2), (0, 8, 5, 10)])
    >>> got.face_recall, got.plate_recall, round(got.outside_share, 2)
    (1.0, 0.0, 0.18)
    """
    height, width = sample.rgb.shape[:2]
    blurred = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in covered:
        blurred[y0:y1, x0:x1] = True
    labelled = np.zeros_like(blurred)
    for x0, y0, x1, y1 in sample.faces + sample.plates:
        labelled[max(0, y0) : y1, max(0, x0) : x1] = True

    def found(boxes: list[Box]) -> int:
        hits = 0
        for x0, y0, x1, y1 in boxes:
            region = blurred[max(0, y0) : y1, max(0, x0) : x1]
            hits += bool(region.size and region.mean() >= FOUND)
        return hits

    return Score(
        len(sample.faces),
        found(sample.faces),
        len(sample.plates),
        found(sample.plates),
        int(blurred.sum()),
        int((blurred & ~labelled).sum()),
    )
