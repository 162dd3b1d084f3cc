"""Taking a photo down, or covering part of it, before the public sees it (a face, a plate).

A shift lead hides a photo (it is then never served publicly, nor listed in tracking or Open311)
or covers rectangles on it, and takes a cover off again: the public copy is re-rendered with
those covered filled, the stored copy is kept for staff in scope. Each moderation is an event
of the case, with who, why and what.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from urbangrid.cases.blurring import drop_unused_copy, publish, stored_detections
from urbangrid.cases.lifecycle import ConcurrentChange, record
from urbangrid.cases.photos import Box, clip_boxes
from urbangrid.cases.staff import sees
from urbangrid.core.storage import Storage, object_key
from urbangrid.core.tables import Case, CaseEvent, Photo
from urbangrid.domain.access import Scope
from urbangrid.domain.workflow import Role

MODERATE = "moderate"
# Who moderates photos: the shift lead, who answers for what the city publishes.
MODERATORS = frozenset({Role.SHIFT_LEAD})


class NotReady(ValueError):
    """The photo has no stored copy yet (still being processed, or refused)."""


class HiddenElsewhere(ValueError):
    """The same picture is hidden on a case outside the shift lead's scope: showing it here
    would serve it again at the one public address all its copies share."""

    def __init__(self, case_id: int) -> None:
        super().__init__(
            "the same picture is hidden on another case, outside your scope: a shift lead"
            " whose scope holds that case shows it again"
        )
        self.case_id = case_id


def twins(session: Session, photo: Photo) -> list[Photo]:
    """Other photos with the very same stored copy (photos are kept by content: the same file
    sent with two reports): what is taken down on one must not stay up on the other."""
    if photo.digest is None or photo.id is None:
        return []
    return _copies(session, photo.digest, photo.id)


def _copies(session: Session, digest: str, photo_id: int) -> list[Photo]:
    return list(
        session.exec(
            select(Photo).where(col(Photo.digest) == digest).where(col(Photo.id) != photo_id)
        )
    )


def set_hidden(
    session: Session,
    case: Case,
    photo: Photo,
    *,
    hidden: bool,
    actor: str,
    role: Role,
    reason: str,
    scope: Scope,
) -> CaseEvent | None:
    """Hide a photo from the public, or show it again; nothing is committed here. None when
    every copy already is as asked: nothing changes and the timeline records nothing.

    A takedown reaches every copy of the picture, whatever case it came with: they share one
    public address. Showing one again is for a shift lead whose ``scope`` holds every case where
    a copy is hidden (raises :class:`HiddenElsewhere`), so a takedown in one district is not
    undone from another by sending the same file there and showing it.
    """
    copies = [photo, *twins(session, photo)]
    if all(copy.hidden == hidden for copy in copies):
        return None  # already so everywhere: a second click, or a retry, is no new step
    if not hidden:
        for twin in copies[1:]:
            other = session.get(Case, twin.case_id)
            if twin.hidden and other is not None and not sees(scope, other):
                raise HiddenElsewhere(other.id or 0)
    return _moderate(
        session, case, photo, {"hidden": hidden}, {"hidden": hidden}, actor, role, reason
    )


def carried_over(session: Session, photo_id: int, digest: str) -> tuple[bool, list[Box]]:
    """What a new copy of an already moderated picture takes on from the copies before it:
    hidden if any is hidden, and every rectangle any of them has covered. A file sent again
    (by the same resident, another one, or as a department's after-photo) does not bring back
    what a shift lead took down."""
    hidden = False
    covered: list[Box] = []
    for twin in _copies(session, digest, photo_id):
        hidden = hidden or twin.hidden
        covered += [box for box in covers(twin.redactions) if box not in covered]
    return hidden, covered


def covers(redactions: str | None) -> list[Box]:
    """The rectangles a shift lead covered, as a photo's row keeps them (JSON).

    >>> covers("[[1, 2, 30, 40]]"), covers(None)
    ([(1, 2, 30, 40)], [])
    """
    return [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in json.loads(redactions or "[]")]


def _moderate(
    session: Session,
    case: Case,
    photo: Photo,
    values: dict[str, Any],
    detail: dict[str, Any],
    actor: str,
    role: Role,
    reason: str,
) -> CaseEvent:
    """Apply ``values`` to the photo and its twins, with an event on each case concerned.

    The photo is updated only if it is still as it was read: two shift leads (or one request
    sent twice) covering at the same moment would otherwise each add to the same old list, the
    second write dropping the first one's rectangle while its event said it was covered. The
    later one raises :class:`ConcurrentChange` and is sent again on what is now there.
    """
    same = twins(session, photo)
    current = (
        col(Photo.redactions).is_(None)
        if photo.redactions is None
        else col(Photo.redactions) == photo.redactions
    )
    changed = session.execute(
        update(Photo)
        .where(col(Photo.id) == photo.id, col(Photo.hidden) == photo.hidden, current)
        .values(**values)
    )
    if getattr(changed, "rowcount", 0) != 1:
        raise ConcurrentChange(f"photo {photo.id} changed while it was moderated")
    if same:
        session.execute(
            update(Photo).where(col(Photo.id).in_([t.id for t in same])).values(**values)
        )
    event = record(
        session,
        case,
        MODERATE,
        actor=actor,
        role=role,
        note=reason,
        detail={
            "photo": photo.id,
            **detail,
            "reason": reason,
            "same_picture": [t.id for t in same],
        },
    )
    for twin in same:
        other = session.get(Case, twin.case_id)
        if other is None:
            continue
        record(
            session,
            other,
            MODERATE,
            actor=actor,
            role=role,
            note=reason,
            detail={
                "photo": twin.id,
                **detail,
                "reason": reason,
                "as_photo": photo.id,
                "of_case": case.id,
            },
        )
    session.refresh(photo)
    return event


def redact(
    session: Session,
    storage: Storage,
    case: Case,
    photo: Photo,
    boxes: Sequence[Sequence[float]],
    *,
    actor: str,
    role: Role,
    reason: str,
    thumb_side: int,
    min_score: float = 0.5,
    off: bool = False,
) -> CaseEvent | None:
    """Cover ``boxes`` (added to those covered before) on the photo's public copy; None when
    every one of them is covered already (nothing changes, the timeline records nothing).

    With ``off``, take those covers off again (``boxes`` as the photo lists them among its
    ``redactions``): a cover drawn in the wrong place, over the broken kerb itself, is
    otherwise only mended by hiding the whole photo. The detector's blurs stay: what it found
    is blurred whatever a shift lead does. None when none of them is covered.

    The new public copy is written to storage first (named by its content, so a copy left by a
    rolled-back transaction is harmless); the row and the event follow in the caller's
    transaction. Raises :class:`NotReady`, or ``ValueError`` for a rectangle that is not one.
    """
    if photo.state != "ready" or photo.digest is None or not photo.width or not photo.height:
        raise NotReady(f"photo {photo.id} has no stored copy yet ({photo.state})")
    asked = clip_boxes(boxes, photo.width, photo.height)
    if not asked:
        raise ValueError("no rectangle lies on the photo")
    covered = covers(photo.redactions)
    if off:
        changed = [b for b in covered if b in asked]
        covered = [b for b in covered if b not in changed]
    else:
        changed = [b for n, b in enumerate(asked) if b not in covered and b not in asked[:n]]
        covered += changed
    if not changed:
        return None  # as asked already: a retry, or a second click
    # The detector's blurs stay on the new public copy beside the shift lead's rectangles.
    public = publish(
        storage,
        storage.get(object_key("photos", photo.digest, ".jpg")),
        redactions=covered,
        detections=stored_detections(photo.detections) if photo.detector else [],
        min_score=min_score,
        thumb_side=thumb_side,
    )
    try:
        return _moderate(
            session,
            case,
            photo,
            {"public_digest": public, "redactions": json.dumps([list(b) for b in covered])},
            {"uncovered" if off else "redacted": [list(b) for b in changed]},
            actor,
            role,
            reason,
        )
    except ConcurrentChange:
        # The copy just written lacks the other step's change: nobody will name it (the
        # other step, now committed, names its own).
        drop_unused_copy(session, storage, public)
        raise
