"""What the public reads of cases: their public timelines and their public photos.

The one place the tracking view, ``GET /api/v1/reports/{id}``, Open311 and the notices read a
case's history and photos from, so that an internal note or a hidden photo cannot leak through
one of them. The rules themselves are in ``domain/public.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from urbangrid.domain.public import PublicStep, public_timeline
from urbangrid.domain.states import CaseState
from urbangrid.tables import Case, CaseEvent, Photo

# The case a report that joined another follows.
_FOLLOWED = aliased(Case, name="followed_case")


def case_timeline(
    session: Session, case_id: int, *, resident_report: int | None = None
) -> list[PublicStep]:
    """The public timeline of one case (see :func:`urbangrid.domain.public.public_timeline`)."""
    events = session.exec(
        select(CaseEvent).where(col(CaseEvent.case_id) == case_id).order_by(col(CaseEvent.id))
    )
    return public_timeline(events, resident_report=resident_report)


def timelines(session: Session, case_ids: Collection[int]) -> dict[int, list[PublicStep]]:
    """The public timelines of many cases in one query, as Open311 lists them."""
    by_case: dict[int, list[CaseEvent]] = {}
    if case_ids:
        for event in session.exec(
            select(CaseEvent)
            .where(col(CaseEvent.case_id).in_(list(case_ids)))
            .order_by(col(CaseEvent.id))
        ):
            by_case.setdefault(event.case_id, []).append(event)
    return {case_id: public_timeline(events) for case_id, events in by_case.items()}


def photo_url(digest: str, *, thumb: bool = False, base: str = "") -> str:
    """Where a photo's public copy is served; absolute when ``base`` is given.

    >>> photo_url("ab" * 32, thumb=True, base="https://report.example.cn/").split("/")[:6]
    ['https:', '', 'report.example.cn', 'api', 'v1', 'photos']
    >>> photo_url("ab" * 32).endswith("abab.jpg")
    True
    """
    return f"{base.rstrip('/')}/api/v1/photos/{digest}{'/thumb' if thumb else ''}.jpg"


def public_url_digest(photo: Photo) -> str | None:
    """The digest under which a photo is served publicly: its covered copy, if any."""
    return photo.public_digest or photo.digest


def shown_publicly() -> ColumnElement[bool]:
    """SQL condition on ``Photo`` (joined with the case it belongs to as ``Case`` and, for a
    report that joined another, the followed case): the photo may be shown to the public.

    A photo is public while it is processed, not hidden, and the case it is followed under is
    not void (a report that joined another case is void itself, but its photos are shown on
    the case it joined, as long as that one is not void).
    """
    return and_(
        col(Photo.hidden).is_(False),
        col(Photo.state) != "rejected",
        or_(
            and_(col(Case.duplicate_of).is_(None), col(Case.state) != CaseState.VOID),
            and_(col(Case.duplicate_of).is_not(None), col(_FOLLOWED.state) != CaseState.VOID),
        ),
    )


def public_photos(
    session: Session, case_ids: Sequence[int], *, ready_only: bool = False
) -> dict[int, list[Photo]]:
    """The public photos of each case in ``case_ids``, with those of the reports that joined
    it, oldest first; a void case has none."""
    if not case_ids:
        return {}
    followed = col(Case.duplicate_of)
    query = (
        select(Photo, Case)
        .join(Case, col(Case.id) == col(Photo.case_id))
        .outerjoin(_FOLLOWED, col(_FOLLOWED.id) == followed)
        .where(or_(col(Case.id).in_(list(case_ids)), followed.in_(list(case_ids))))
        .where(shown_publicly())
        .order_by(col(Photo.id))
    )
    if ready_only:
        query = query.where(col(Photo.state) == "ready")
    found: dict[int, list[Photo]] = {}
    for photo, case in session.exec(query):
        owner = case.duplicate_of if case.duplicate_of is not None else case.id
        assert owner is not None
        found.setdefault(owner, []).append(photo)
    return found


def served_photo(session: Session, digest: str) -> Photo | None:
    """The photo a public URL names, when it may be shown: a hidden photo, one of a void case
    and the stored copy of a photo with covered parts answer nothing."""
    return session.exec(
        select(Photo)
        .join(Case, col(Case.id) == col(Photo.case_id))
        .outerjoin(_FOLLOWED, col(_FOLLOWED.id) == col(Case.duplicate_of))
        .where(
            or_(
                col(Photo.public_digest) == digest,
                and_(col(Photo.public_digest).is_(None), col(Photo.digest) == digest),
            )
        )
        .where(col(Photo.state) == "ready")
        .where(shown_publicly())
        .limit(1)
    ).first()
