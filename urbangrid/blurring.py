"""Faces and licence plates blurred on the public copy of every photo.

The media worker stores the upright, stripped copy of a photo for staff; this module runs the
detectors (:mod:`urbangrid.detect`) over it and makes the copy the public sees, with each face
and plate blurred and any rectangle a shift lead covered by hand filled. The detections (boxes,
scores, the detector's version) are kept on the photo's row, so a later detector re-runs over
the stored copies (``urbangrid photos reblur``) and replaces the public ones.

How strong the blur is: each region is first averaged into a mosaic of a few cells (a plate into
two rows of at most eight, fewer cells than it has characters; a face into five by five), then
smoothed by a Gaussian as wide as a cell. What is left of a plate is a handful of colour averages,
each spanning more than one character, which no OCR (tesseract, in the tests) reads back and
which carry less than one character's worth of information per cell.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from urbangrid.detect import VERSION, Detection, cover, detect

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Found:
    """What the detectors found on one stored photo, and the rectangles to blur for it."""

    detections: list[Detection]
    version: str

    def blurs(self, *, width: int, height: int, min_score: float) -> list[Box]:
        return [
            cover(d, width=width, height=height) for d in self.detections if d.score >= min_score
        ]

    def as_json(self) -> str:
        return json.dumps([d.as_json() for d in self.detections])


def find(stored: bytes, *, min_score: float) -> Found:
    """Run the detectors over a stored copy (JPEG bytes)."""
    with Image.open(io.BytesIO(stored)) as opened:
        rgb = np.asarray(opened.convert("RGB"))
    return Found(detect(rgb, min_score=min_score), VERSION)


def stored_detections(value: str | None) -> list[Detection]:
    """The detections kept on a photo's row (JSON), oldest rows having none.

    >>> stored_detections('[{"kind": "plate", "box": [1, 2, 30, 12], "score": 0.9}]')
    [Detection(kind='plate', box=(1, 2, 30, 12), score=0.9)]
    >>> stored_detections(None)
    []
    """
    return [Detection.from_json(v) for v in json.loads(value or "[]")]


def blur_kinds(detections: Sequence[Detection], *, min_score: float) -> list[str]:
    return [d.kind for d in detections if d.score >= min_score]


