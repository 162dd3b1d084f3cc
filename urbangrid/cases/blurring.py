"""Faces and licence plates blurred on the public copy of every photo.

The media worker stores the upright, stripped copy of a photo for staff; this module runs the
detectors (:mod:`urbangrid.cases.detect`) over it and makes the copy the public sees, each face and
plate blurred (:func:`cases.photos.blur_region`: a coarse mosaic smoothed by a Gaussian) and
any rectangle a shift lead covered by hand filled. The detections (boxes, scores, the detector's
version) are kept on the photo's row, so a later detector re-runs over the stored copies
(``urbangrid photos reblur``) and replaces the public ones.

Importing this module does not load OpenCV: the API's moderation re-renders public copies from
the stored detections without running a detector.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import update
from sqlmodel import Session, col, select

from urbangrid.cases.photos import Box, render_public
from urbangrid.core.columns import utcnow
from urbangrid.core.storage import Storage, object_key
from urbangrid.core.tables import Photo

log = logging.getLogger(__name__)

# Margin laid around a face before it is blurred, in shares of CenterFace's box. Its box runs
# from about the hairline to the chin and from cheek to cheek: what it leaves out of a face seen
# from the front is the ears (FACE_SIDE each side) and a strip of forehead (FACE_TOP); below the
# chin is neck (FACE_BOTTOM, a sliver). As the head turns away (the nose off the eyes' middle,
# ``Detection.turn``) the side margins move towards a profile's (FACE_PROFILE_TURN): the back
# of the head, where the ear shows, gets FACE_PROFILE_BACK, and the front FACE_PROFILE_FRONT,
# less than nothing: the box of a profile runs on past the nose tip into the background.
# FACE_PAD pixels all round take up the box's jitter on small faces, where a share is a pixel.
# Measured on the evaluation set's three people and six more draws of it (docs/benchmarks.md):
# no fewer faces found on any draw than with the earlier 10 % sides, 6 % above and 9 % below,
# for two thirds of the area blurred outside the faces. Since the detector's second look at each
# face (``detect._refine``, ``refine96``) the same margins lie around steadier boxes: on each of
# ten draws as many faces found or more, and a fifth less area blurred outside them.
FACE_SIDE = 0.07
FACE_TOP = 0.04
FACE_BOTTOM = 0.02
FACE_PROFILE_TURN = 0.14
FACE_PROFILE_BACK = 0.3
FACE_PROFILE_FRONT = -0.06
FACE_PAD = 2
# Detections stored before the detector reported how a face is turned get the margin they were
# blurred with then, 10 % all round, so re-rendering an older photo never uncovers anything.
LEGACY_FACE_MARGIN = 0.1
# A plate's box is its frame.
# Detections down to this score are kept on the row even when the city blurs only better ones,
# so lowering the minimum score takes effect without re-running the detector.
KEEP_FLOOR = 0.3


@dataclass(frozen=True)
class Detection:
    kind: str  # "face" | "plate"
    box: Box  # x0, y0, x1, y1 in the stored copy's pixels, x1 and y1 exclusive
    score: float
    # A face's turn: how far its nose sits right (+) or left (-) of its eyes' middle, in shares
    # of the box's width; about ±0.14 in profile. None for plates and for older detections.
    turn: float | None = None

    def as_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "kind": self.kind,
            "box": list(self.box),
            "score": round(self.score, 4),
        }
        if self.turn is not None:
            value["turn"] = round(self.turn, 4)
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Detection:
        x0, y0, x1, y1 = (int(v) for v in value["box"])
        turn = value.get("turn")
        return cls(
            str(value["kind"]),
            (x0, y0, x1, y1),
            float(value["score"]),
            None if turn is None else float(turn),
        )


def cover(detection: Detection, *, width: int, height: int) -> Box:
    """The rectangle blurred for a detection: a face's box with its margin, a plate's box as it
    is, clipped to the photo.

    >>> cover(Detection("face", (100, 100, 200, 160), 0.9, 0.0), width=1000, height=1000)
    (91, 96, 209, 163)
    >>> cover(Detection("face", (100, 100, 200, 160), 0.9, 0.14), width=1000, height=1000)
    (68, 96, 196, 163)
    >>> cover(Detection("face", (100, 100, 200, 160), 0.9), width=1000, height=1000)
    (90, 94, 210, 166)
    >>> cover(Detection("plate", (0, 0, 40, 12), 0.9), width=30, height=30)
    (0, 0, 30, 12)
    """
    x0, y0, x1, y1 = detection.box
    w, h = x1 - x0, y1 - y0
    pad = 0
    if detection.kind != "face":
        left = right = top = bottom = 0.0
    elif detection.turn is None:
        left = right = top = bottom = LEGACY_FACE_MARGIN
    else:
        away = min(1.0, abs(detection.turn) / FACE_PROFILE_TURN)
        back = FACE_SIDE + (FACE_PROFILE_BACK - FACE_SIDE) * away
        front = FACE_SIDE + (FACE_PROFILE_FRONT - FACE_SIDE) * away
        # Turned right (nose right of the eyes): the back of the head is on the left.
        left, right = (back, front) if detection.turn > 0 else (front, back)
        top, bottom = FACE_TOP, FACE_BOTTOM
        pad = FACE_PAD
    return (
        max(0, x0 - round(w * left) - pad),
        max(0, y0 - round(h * top) - pad),
        min(width, x1 + round(w * right) + pad),
        min(height, y1 + round(h * bottom) + pad),
    )


def blurs(
    detections: Sequence[Detection], *, width: int, height: int, min_score: float
) -> list[tuple[str, Box]]:
    """The (kind, rectangle) pairs to blur: the detections scoring at least ``min_score``."""
    return [
        (d.kind, cover(d, width=width, height=height)) for d in detections if d.score >= min_score
    ]


def stored_detections(value: str | None) -> list[Detection]:
    """The detections kept on a photo's row (JSON); rows from before the detector have none.

    >>> stored_detections('[{"kind": "plate", "box": [1, 2, 30, 12], "score": 0.9}]')
    [Detection(kind='plate', box=(1, 2, 30, 12), score=0.9, turn=None)]
    >>> stored_detections('[{"kind": "face", "box": [1, 2, 30, 40], "score": 0.8, "turn": -0.1}]')
    [Detection(kind='face', box=(1, 2, 30, 40), score=0.8, turn=-0.1)]
    >>> stored_detections(None)
    []
    """
    return [Detection.from_json(v) for v in json.loads(value or "[]")]


def detections_json(detections: Sequence[Detection]) -> str:
    return json.dumps([d.as_json() for d in detections])


def find(stored: bytes) -> tuple[list[Detection], str]:
    """Run the detectors over a stored copy (JPEG bytes): the detections and their version."""
    from urbangrid.cases import detect  # OpenCV and the network load in the media worker only

    with Image.open(io.BytesIO(stored)) as opened:
        rgb = np.asarray(opened.convert("RGB"))
    return detect.detect(rgb, min_score=KEEP_FLOOR), detect.VERSION


def publish(
    storage: Storage,
    stored: bytes,
    *,
    redactions: Sequence[Box],
    detections: Sequence[Detection],
    min_score: float,
    thumb_side: int,
) -> str | None:
    """Write the public copy and its thumbnail; its digest, or None when nothing is hidden
    (the stored copy is then the public one).

    Objects are named by their content, so a copy written by a task that then failed, or by one
    that ran twice, is harmless.
    """
    with Image.open(io.BytesIO(stored)) as opened:
        width, height = opened.size
    blurred = blurs(detections, width=width, height=height, min_score=min_score)
    if not blurred and not redactions:
        return None
    made = render_public(stored, redactions, thumb_side=thumb_side, blur=blurred)
    storage.put(object_key("photos", made.digest, ".jpg"), made.image, "image/jpeg")
    storage.put(object_key("thumbs", made.digest, ".jpg"), made.thumbnail, "image/jpeg")
    return made.digest


def drop_unused_copy(session: Session, storage: Storage, digest: str | None) -> bool:
    """Delete a public copy (and its thumbnail) that a newer one replaced, once no photo names
    it; whether it was deleted. Called after the new copy is committed.

    A superseded copy is no longer served, but it still shows what a shift lead covered or a
    newer detector blurred; it is not kept. A digest some photo still names (its stored copy,
    or a twin's public copy) is left alone."""
    if digest is None:
        return False
    named = session.exec(
        select(col(Photo.id))
        .where((col(Photo.digest) == digest) | (col(Photo.public_digest) == digest))
        .limit(1)
    ).first()
    if named is not None:
        return False
    storage.delete(object_key("photos", digest, ".jpg"))
    storage.delete(object_key("thumbs", digest, ".jpg"))
    return True


def redactions_of(photo: Photo) -> list[Box]:
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in json.loads(photo.redactions or "[]")]


def reblur(
    session: Session,
    storage: Storage,
    *,
    version: str,
    run: Any,
    min_score: float,
    thumb_side: int,
    every: bool = False,
    batch: int = 200,
) -> tuple[int, int]:
    """Re-run the detector over stored copies whose detections another version made (or
    ``every`` ready photo), replacing their public copies; (photos seen, public copies changed).

    ``run`` is :func:`find` (or a stand-in detector of another version in tests). Each photo is
    committed on its own, guarded on its stored copy, so an interrupted run resumes where it
    stopped and a photo moderated meanwhile keeps the shift lead's rectangles.
    """
    seen = changed = 0
    last_id = 0
    while True:
        query = (
            select(Photo)
            .where(col(Photo.state) == "ready")
            .where(col(Photo.id) > last_id)
            .order_by(col(Photo.id))
            .limit(batch)
        )
        if not every:
            query = query.where((col(Photo.detector).is_(None)) | (col(Photo.detector) != version))
        photos = list(session.exec(query))
        if not photos:
            return seen, changed
        for photo in photos:
            last_id = photo.id or last_id
            if photo.digest is None:
                continue
            try:
                stored = storage.get(object_key("photos", photo.digest, ".jpg"))
            except KeyError:
                log.warning("reblur: photo %s's stored copy is missing", photo.id)
                continue
            before = photo.public_digest
            detections, found_version = run(stored)
            public = publish(
                storage,
                stored,
                redactions=redactions_of(photo),
                detections=detections,
                min_score=min_score,
                thumb_side=thumb_side,
            )
            result = session.execute(
                update(Photo)
                .where(col(Photo.id) == photo.id)
                .where(col(Photo.digest) == photo.digest)
                .where(col(Photo.redactions) == photo.redactions)
                .values(
                    detections=detections_json(detections),
                    detector=found_version,
                    detected_at=utcnow(),
                    public_digest=public,
                )
            )
            session.commit()
            seen += 1
            if getattr(result, "rowcount", 0) and public != before:
                changed += 1
                drop_unused_copy(session, storage, before)
