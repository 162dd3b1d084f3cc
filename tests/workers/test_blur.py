"""Faces and plates blurred on the public copy: the media step, the detectors on the evaluation
set, an OCR that cannot read a blurred plate back, and re-running a newer detector."""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from sqlmodel import Session

from geo.layer import Grid
from tests.workers.test_media import _case, _upload
from urbangrid.cases import photoset
from urbangrid.cases.blurring import Detection, cover, find, reblur, stored_detections
from urbangrid.cases.detect import VERSION
from urbangrid.cases.photos import render_public
from urbangrid.core.settings import Settings
from urbangrid.core.storage import DirectoryStorage, object_key
from urbangrid.core.tables import Photo
from workers.media import process_photo

SETTINGS = Settings(var_dir=Path("/nonexistent"))


def _jpeg(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=92)
    return out.getvalue()


def _spread(data: bytes, box: tuple[int, int, int, int]) -> float:
    """Standard deviation of the grey levels inside ``box``: characters make it high."""
    with Image.open(io.BytesIO(data)) as image:
        grey = np.asarray(image.convert("L").crop(box), dtype=float)
    return float(grey.std())


def test_the_public_copy_blurs_the_face_and_plate_and_the_stored_copy_keeps_them(
    session: Session, demo_grid: Grid, tmp_path: Path
) -> None:
    storage = DirectoryStorage(tmp_path / "media")
    sample = photoset.example(3)
    photo_id = _upload(session, storage, _case(session, demo_grid, seed=1601), _jpeg(sample.rgb))

    assert process_photo(photo_id, session=session, storage=storage, settings=SETTINGS) == "ready"
    photo = session.get(Photo, photo_id)
    assert photo is not None and photo.digest and photo.public_digest
    assert photo.public_digest != photo.digest
    assert photo.detector == VERSION and photo.detected_at is not None
    kinds = sorted(d.kind for d in stored_detections(photo.detections))
    assert kinds == ["face", "plate"]

    stored = storage.get(object_key("photos", photo.digest, ".jpg"))
    public = storage.get(object_key("photos", photo.public_digest, ".jpg"))
    plate, face = sample.plates[0], sample.faces[0]
    assert _spread(stored, plate) > 40  # white characters on blue
    assert _spread(public, plate) < 0.3 * _spread(stored, plate)
    # The face: the blurred rectangle covers the labelled face as the evaluation set counts a
    # face found, and inside it the face's features are smoothed away.
    (face_cover,) = [
        cover(d, width=2048, height=1536)
        for d in stored_detections(photo.detections)
        if d.kind == "face"
    ]
    assert photoset.score(
        photoset.Sample("face", sample.rgb, faces=[face]), [face_cover]
    ).faces_found
    inner = (
        max(face[0], face_cover[0]),
        max(face[1], face_cover[1]),
        min(face[2], face_cover[2]),
        min(face[3], face_cover[3]),
    )
    assert _spread(public, inner) < 0.6 * _spread(stored, inner)
    # Outside the face and the plate the public copy is the photo (JPEG aside).
    sky = (1200, 50, 1800, 300)
    assert abs(_spread(public, sky) - _spread(stored, sky)) < 3

    # The public thumbnail is made from the public copy; the stored copy's stays sharp.
    def thumb_spread(digest: str) -> float:
        with Image.open(io.BytesIO(storage.get(object_key("thumbs", digest, ".jpg")))) as t:
            k = t.width / 2048
            inside = tuple(round(v * k) for v in plate)
            return float(np.asarray(t.convert("L").crop(inside), dtype=float).std())

    assert thumb_spread(photo.public_digest) < 0.5 * thumb_spread(photo.digest)

    # Run twice, nothing changes.
    assert process_photo(photo_id, session=session, storage=storage, settings=SETTINGS) == "ready"
    session.refresh(photo)
    assert photo.public_digest is not None and storage.exists(
        object_key("photos", photo.public_digest, ".jpg")
    )


def test_blurring_off_publishes_the_stored_copy_and_runs_no_detector(
    session: Session, demo_grid: Grid, tmp_path: Path
) -> None:
    storage = DirectoryStorage(tmp_path / "media")
    sample = photoset.example(4)
    photo_id = _upload(session, storage, _case(session, demo_grid, seed=1602), _jpeg(sample.rgb))
    off = Settings(var_dir=Path("/nonexistent"), photo_blur=False)
    assert process_photo(photo_id, session=session, storage=storage, settings=off) == "ready"
    photo = session.get(Photo, photo_id)
    assert photo is not None
    assert photo.public_digest is None and photo.detector is None and photo.detections == "[]"


def test_a_photo_with_no_face_or_plate_is_published_as_stored(
    session: Session, demo_grid: Grid, tmp_path: Path
) -> None:
    storage = DirectoryStorage(tmp_path / "media")
    empty = photoset._street(7)  # buildings, sky and road: plate colours, no plate
    photo_id = _upload(session, storage, _case(session, demo_grid, seed=1603), _jpeg(empty))
    assert process_photo(photo_id, session=session, storage=storage, settings=SETTINGS) == "ready"
    photo = session.get(Photo, photo_id)
    assert photo is not None and photo.detector == VERSION
    assert photo.public_digest is None, photo.detections


def test_a_newer_detector_re_runs_over_stored_copies_and_records_it(
    session: Session, demo_grid: Grid, tmp_path: Path
) -> None:
    storage = DirectoryStorage(tmp_path / "media")
    sample = photoset.example(5)
    photo_id = _upload(session, storage, _case(session, demo_grid, seed=1604), _jpeg(sample.rgb))
    process_photo(photo_id, session=session, storage=storage, settings=SETTINGS)
    photo = session.get(Photo, photo_id)
    assert photo is not None and photo.public_digest
    first_public = photo.public_digest

    # A later detector (stood in for here) that also finds a face in the sky.
    def newer(stored: bytes) -> tuple[list[Detection], str]:
        detections, _ = find(stored)
        return [*detections, Detection("face", (1500, 100, 1600, 220), 0.9)], "test-newer-2"

    seen, changed = reblur(
        session, storage, version="test-newer-2", run=newer, min_score=0.5, thumb_side=320
    )
    assert seen >= 1 and changed >= 1
    session.refresh(photo)
    assert photo.detector == "test-newer-2"
    assert photo.public_digest not in (None, first_public)
    assert (1500, 100, 1600, 220) in [d.box for d in stored_detections(photo.detections)]
    public = storage.get(object_key("photos", photo.public_digest or "", ".jpg"))
    stored = storage.get(object_key("photos", photo.digest or "", ".jpg"))
    assert _spread(public, sample.plates[0]) < 0.3 * _spread(stored, sample.plates[0])
    sky_face = (1500, 100, 1600, 220)
    assert _spread(public, sky_face) <= _spread(stored, sky_face) + 0.5
    # The stored copy is untouched, for staff; the public copy the newer one replaced, which
    # left the sky's face sharp, is deleted with its thumbnail.
    assert hashlib.sha256(stored).hexdigest() == photo.digest
    for prefix in ("photos", "thumbs"):
        assert not storage.exists(object_key(prefix, first_public, ".jpg"))
        assert storage.exists(object_key(prefix, photo.public_digest or "", ".jpg"))

    # Run again with the same version: nothing left to do for this photo.
    again, _ = reblur(
        session, storage, version="test-newer-2", run=newer, min_score=0.5, thumb_side=320
    )
    assert again == 0


def _ocr(image: Image.Image, *, light_text: bool) -> str:
    """Tesseract's reading of a plate: dark characters on light (Otsu's threshold), enlarged."""
    grey = np.asarray(image.convert("L"))
    if light_text:  # a blue plate's white characters
        grey = 255 - grey
    _, ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    out = io.BytesIO()
    Image.fromarray(ink).resize((ink.shape[1] * 2, ink.shape[0] * 2)).save(out, "PNG")
    done = subprocess.run(
        ["tesseract", "stdin", "stdout", "--psm", "7"],
        input=out.getvalue(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return "".join(c for c in done.stdout.decode(errors="replace") if c.isalnum()).upper()


def _read_back(text: str, read: str) -> int:
    """How many of the plate's letters and digits the reading holds, in order."""
    latin = text[1:]
    matcher = difflib.SequenceMatcher(None, latin, read)
    return sum(block.size for block in matcher.get_matching_blocks())


@pytest.mark.parametrize("kind", photoset.PLATE_KINDS)
def test_an_ocr_reads_the_plate_but_not_once_it_is_blurred(kind: str, tmp_path: Path) -> None:
    if shutil.which("tesseract") is None:
        if os.environ.get("CI"):
            pytest.fail("tesseract is missing in CI (infra/ocr.sh installs Debian's)")
        pytest.skip("tesseract is not installed (apt-get install tesseract-ocr)")
    sample = photoset.example(6, kind=kind, plate_w=420, level=True)
    stored = _jpeg(sample.rgb)
    detections, _ = find(stored)
    plates = [d for d in detections if d.kind == "plate"]
    assert plates, detections
    made = render_public(stored, [], thumb_side=320, blur=[("plate", plates[0].box)])
    crop = sample.plates[0]
    with Image.open(io.BytesIO(stored)) as image:
        before = _ocr(image.crop(crop), light_text=kind == "blue")
    with Image.open(io.BytesIO(made.image)) as image:
        image.crop(crop).save(tmp_path / f"blurred-{kind}.png")
        after = _ocr(image.crop(crop), light_text=kind == "blue")
    text = sample.plate_texts[0]
    assert _read_back(text, before) >= 4, (text, before)  # the OCR can read such a plate
    assert _read_back(text, after) <= 1, (text, after)


def _sent_at(sample: photoset.Sample, width: int) -> photoset.Sample:
    """The photo as a phone sends it: brought down to ``width`` px (Pillow's default filter, as
    a resize on the phone would) and saved as a JPEG of quality 75, its labels scaled alike."""
    height = round(photoset.HEIGHT * width / photoset.WIDTH)
    out = io.BytesIO()
    Image.fromarray(sample.rgb).resize((width, height)).save(out, "JPEG", quality=75)
    with Image.open(io.BytesIO(out.getvalue())) as sent:
        rgb = np.asarray(sent.convert("RGB"))
    k = width / photoset.WIDTH
    plates = [
        (int(x0 * k), int(y0 * k), int(np.ceil(x1 * k)), int(np.ceil(y1 * k)))
        for x0, y0, x1, y1 in sample.plates
    ]
    return photoset.Sample(sample.name, rgb, plates=plates)


# Example photos (a 320-px plate at 2048 px, most on a car of the plate's own colour) whose plate
# detector "plates-hsv-7" left sharp when the photo came at 1024 or 1280 px, as WeChat sends
# them, while it found every one at 2048; seed 0 of each it found at every size.
_SMALL_PHOTO_SEEDS = {"blue": (0, 3, 14, 18, 19), "yellow": (0, 6, 15), "green": (0, 1, 7, 17)}


@pytest.mark.parametrize("kind", photoset.PLATE_KINDS)
def test_plates_in_photos_sent_at_1024_or_1280_px_are_found_as_at_2048(kind: str) -> None:
    from urbangrid.cases.detect import detect_plates

    found: dict[int, int] = {1024: 0, 1280: 0, 2048: 0}
    for seed in _SMALL_PHOTO_SEEDS[kind]:
        example = photoset.example(seed, kind=kind)
        for width in found:
            sent = _sent_at(example, width)
            boxes = [d.box for d in detect_plates(sent.rgb, min_score=0.4)]
            found[width] += photoset.score(sent, boxes).plates_found
    assert found[2048] == len(_SMALL_PHOTO_SEEDS[kind]), found
    assert found[1024] >= found[2048] and found[1280] >= found[2048], found


def test_a_small_plate_on_a_car_of_its_own_colour_is_found() -> None:
    """A 46-px yellow plate on a yellow car (draw 23, photo 34): against its ground, the car's
    dark edge reads as ink and closes round the whole car, so the plate is found only by the
    search at the fixed ink levels."""
    from urbangrid.cases.detect import detect_plates

    sample = list(photoset.build(seed=23, count=35))[34]
    boxes = [d.box for d in detect_plates(sample.rgb, min_score=0.4)]
    assert photoset.score(sample, boxes).plates_found == len(sample.plates) == 2, boxes


# Photos of other draws of the evaluation set whose plates "plates-hsv-8" left sharp, every one
# legible: a blue plate on a blue car at dusk, its white characters too dim for the fixed level
# (draw 21 photo 6, draw 24 photo 0, draw 18 photo 36, draw 21 photo 3), and large plates on
# cars of their own colour whose characters stand further apart than the row's closing reaches
# (draw 25 photos 15 and 21, draw 20 photo 27).
_LEFT_SHARP_BY_HSV_8 = ((21, 6), (24, 0), (18, 36), (21, 3), (25, 15), (25, 21), (20, 27))


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "index"), _LEFT_SHARP_BY_HSV_8)
def test_plates_at_dusk_and_large_plates_on_cars_of_their_colour_are_found(
    seed: int, index: int
) -> None:
    from urbangrid.cases.detect import detect_plates

    sample = list(photoset.build(seed=seed, count=index + 1))[index]
    boxes = [d.box for d in detect_plates(sample.rgb, min_score=0.4)]
    assert photoset.score(sample, boxes).plates_found == len(sample.plates), boxes


def test_a_facades_windows_are_not_a_plate() -> None:
    """Blue-grey windows in a light facade (draw 16, photo 37): closed as wide as a large
    plate's characters need, the facade between them reads as a row of white characters on
    the windows' blue; each window is a ground of its own, which no plate is."""
    from urbangrid.cases.detect import detect_plates

    sample = list(photoset.build(seed=16, count=38))[37]
    windows = (840, 612, 1114, 656)
    found = [d.box for d in detect_plates(sample.rgb, min_score=0.4)]
    assert not [
        b
        for b in found
        if b[0] < windows[2] and windows[0] < b[2] and b[1] < windows[3] and windows[1] < b[3]
    ], found


def test_a_road_name_sign_is_not_a_plate() -> None:
    """A blue sign reading 中山东一路 over a street (draw 24, photo 36) is kept sharp: a street's
    name helps place the problem. Its characters stand half the panel's height; with its
    frame's edge and the facade past it they made six plate-high shapes, and it was blurred as
    a 679-px plate."""
    from urbangrid.cases.detect import detect_plates

    if not any(Path(font).exists() for font in photoset._CJK_FONTS):
        pytest.skip("no CJK font draws the sign's name: apt-get install fonts-noto-cjk")
    sample = list(photoset.build(seed=24, count=37))[36]
    sign = (1368, 400, 1960, 531)
    found = [d.box for d in detect_plates(sample.rgb, min_score=0.4)]
    assert not [
        b for b in found if b[0] < sign[2] and sign[0] < b[2] and b[1] < sign[3] and sign[1] < b[3]
    ], found


def _heads_at_many_sizes(head: Image.Image) -> tuple[np.ndarray, list[photoset.Box]]:
    """One head pasted at 13 widths (36-132 px) across a grey photo, each a pixel or two off
    the last one's grid; the photo and the labelled face boxes."""
    canvas = Image.new("RGB", (photoset.WIDTH, photoset.HEIGHT), (128, 128, 128))
    labels, x, y = [], 20, 20
    for i, size in enumerate(range(36, 140, 8)):
        at = (x + i % 3, y + (i * 2) % 5)
        labels.append(photoset._paste_face(canvas, head, random.Random(0), size, at))
        x += size + 40
        if x > 1800:
            x, y = 20, y + 260
    return np.asarray(canvas), labels


def _edges_in_label_widths(found: list[Detection], labels: list[photoset.Box]) -> list[list[float]]:
    """Per labelled face, how far each edge of the face found on it lies from the label's, in
    the label's widths; an empty list for a face not found."""
    offsets = []
    for label in labels:
        on = [d.box for d in found if d.box[0] < label[2] and label[0] < d.box[2]]
        on = [b for b in on if b[1] < label[3] and label[1] < b[3]]
        width = label[2] - label[0]
        offsets.append([(on[0][j] - label[j]) / width for j in range(4)] if len(on) == 1 else [])
    return offsets


def test_a_second_look_places_a_face_the_same_at_every_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A face's box from the whole photo shrunk to 1024 px moves about it as its size and place
    change; the second look at a crop of it keeps its edges steadier, which is what lets the
    same margins blur the face with less of the street around it. The first look alone decides
    which faces are blurred: the second finds the same ones."""
    from urbangrid.cases import detect

    heads = photoset._heads()[:3]  # the astronaut, the cameraman in profile, Grace Hopper
    looks: dict[str, list[list[list[float]]]] = {}
    for name, at_most in (("second", detect.REFINE_AT_MOST), ("first", 0)):
        monkeypatch.setattr(detect, "REFINE_AT_MOST", at_most)
        looks[name] = []
        for head in heads:
            rgb, labels = _heads_at_many_sizes(head)
            looks[name].append(_edges_in_label_widths(detect.detect_faces(rgb), labels))
    spreads = {}
    for name, people in looks.items():
        assert [[bool(e) for e in p] for p in people] == [
            [bool(e) for e in p] for p in looks["first"]
        ]
        spreads[name] = [float(np.std([e for e in p if e], axis=0).mean()) for p in people]
    assert all(a < b for a, b in zip(spreads["second"], spreads["first"], strict=True)), spreads
    assert np.mean(spreads["second"]) < 0.6 * np.mean(spreads["first"]), spreads


def test_a_second_look_that_sees_no_face_keeps_the_first_box(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from urbangrid.cases import detect

    rgb, _ = _heads_at_many_sizes(photoset._heads()[0])
    monkeypatch.setattr(detect, "REFINE_AT_MOST", 0)
    first = detect.detect_faces(rgb)
    monkeypatch.setattr(detect, "REFINE_AT_MOST", 100)
    monkeypatch.setattr(detect, "REFINE_MIN_SCORE", 1.01)  # no candidate scores that high
    assert detect.detect_faces(rgb) == first
    assert len(first) >= 10


@pytest.mark.slow
def test_the_detectors_on_the_evaluation_set() -> None:
    """The figures ``urbangrid bench photos`` prints for its first 40 photos (three people: the
    astronaut, the cameraman and Grace Hopper): the bar a city's public photos are held to
    (plates ≥ 95 %, faces ≥ 90 %, ≤ 5 % of the blurred area outside any face or plate), and
    never worse than this detector's latest measurement (faces 98.5 %, plates 100 %, 4.0 %
    outside, docs/benchmarks.md)."""
    from urbangrid.cases.blurring import blurs
    from urbangrid.cases.detect import detect

    total = photoset.Score(0, 0, 0, 0, 0, 0)
    for sample in photoset.build(count=40):
        found = blurs(
            detect(sample.rgb, min_score=0.4),
            width=photoset.WIDTH,
            height=photoset.HEIGHT,
            min_score=0.4,  # the setting's default
        )
        total = total + photoset.score(sample, [box for _, box in found])
    summary = json.dumps(
        {
            "face_recall": total.face_recall,
            "plate_recall": total.plate_recall,
            "outside_share": total.outside_share,
        }
    )
    assert total.plate_recall >= 0.98, summary
    assert total.face_recall >= 0.95, summary
    assert total.outside_share <= 0.045, summary
