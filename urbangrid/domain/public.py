"""The public timeline of a case: what residents and Open311 clients may read of its history.

Staff write two kinds of words on a step. ``note`` and ``reason`` are internal: why a department
returned a case, what the shift lead thinks of it; staff in scope read them, nobody else does.
``public_note`` is written for the resident and is published next to the standard wording of
the step's change of state, in Chinese and English. This module decides, from the events alone,
which steps are public and with which words; the tracking view, ``GET /api/v1/reports/{id}``,
Open311 and the residents' notices all read a case's history through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from urbangrid.domain.residents import status_text

# Steps that hand a case from one body to another (Open311's notes of type "transfer").
TRANSFERS = frozenset({"dispatch", "redispatch", "return", "reroute"})
# A resident's own steps: shown to that resident only, never to Open311 (they may carry
# personal details).
RESIDENT_STEPS = frozenset({"comment", "photo", "rate", "reopen_request"})
# Standard words of a staff step that does not change the state but was given a public note.
NOTE_TEXT = ("工作人员留言", "A note from the staff")
# Steps that change no state but are public in themselves, in their standard words (their
# notes stay internal: a duplicate's names the other report).
PUBLIC_MARKS: dict[str, tuple[str, str]] = {
    "duplicate": ("又有居民报告了同一问题", "Another resident reported the same problem"),
}


class EventLike(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def at(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def from_state(self) -> str | None: ...
    @property
    def to_state(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def note(self) -> str: ...
    @property
    def detail(self) -> str: ...


@dataclass(frozen=True)
class PublicStep:
    """One public step of a case's history."""

    event_id: int
    at: datetime
    action: str
    from_state: str | None
    state: str  # the state after the step
    text_zh: str  # the standard wording of the step, for residents
    text_en: str
    public_note: str  # staff's words for the public, or a resident's own words (see below)
    changed: bool  # the step changed the state
    transfer_to: str | None  # the department a transfer hands the case to
    resident_report: int | None  # a resident's own step: the report whose resident took it

    def text(self, language: str) -> str:
        return self.text_en if language == "en" else self.text_zh


def detail_dict(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """An event's detail as a dict, whatever was stored.

    >>> detail_dict('{"public_note": "x"}'), detail_dict("not json"), detail_dict("[1]")
    ({'public_note': 'x'}, {}, {})
    """
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        found = json.loads(raw or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def public_step(event: EventLike) -> PublicStep | None:
    """The public form of one event, or None when the event is internal.

    Changes of state and the report itself are public, with the standard wording of the new
    state and the step's ``public_note`` (never its ``note`` or ``reason``); a staff step that
    changes nothing is public only when it carries a public note; a resident's own steps are
    marked with their report so that only that resident is shown them.

    >>> from types import SimpleNamespace as E
    >>> from datetime import UTC
    >>> at = datetime(2026, 12, 6, 9, tzinfo=UTC)
    >>> back = E(id=7, at=at, action="return", from_state="DISPATCHED", to_state="RETURNED",
    ...          role="department", note="not ours, says the foreman",
    ...          detail='{"reason": "not ours", "public_note": "Handed to the right office"}')
    >>> step = public_step(back)
    >>> step.text_en, step.public_note
    ('Being re-assigned', 'Handed to the right office')
    >>> public_step(E(id=8, at=at, action="warn", from_state="IN_PROGRESS",
    ...               to_state="IN_PROGRESS", role="system", note="80% of the limit",
    ...               detail="{}")) is None
    True
    >>> joined = public_step(E(id=9, at=at, action="duplicate", from_state="DISPATCHED",
    ...                      to_state="DISPATCHED", role="system", note="report 12 …",
    ...                      detail='{"report": 12}'))
    >>> joined.text_en, joined.public_note
    ('Another resident reported the same problem', '')
    """
    detail = detail_dict(event.detail)
    changed = event.from_state != event.to_state or event.action == "submit"
    public_note = str(detail.get("public_note") or "")
    report = detail.get("report")
    transfer_to: str | None = None
    if event.role == "citizen" and event.action in RESIDENT_STEPS:
        # A resident's own step, shown to that resident only, with what they wrote.
        zh, en = status_text(event.to_state, "zh"), status_text(event.to_state, "en")
        public_note, changed = event.note, False
        resident_report = int(report) if isinstance(report, int) else None
    else:
        mark = PUBLIC_MARKS.get(event.action)
        if not (changed or public_note or mark):
            return None
        if changed:
            zh, en = status_text(event.to_state, "zh"), status_text(event.to_state, "en")
        else:
            zh, en = mark or NOTE_TEXT
        department = detail.get("department") if event.action in TRANSFERS else None
        transfer_to = str(department) if department else None
        resident_report = None
    return PublicStep(
        event_id=event.id or 0,
        at=event.at,
        action=event.action,
        from_state=event.from_state,
        state=event.to_state,
        text_zh=zh,
        text_en=en,
        public_note=public_note,
        changed=changed,
        transfer_to=transfer_to,
        resident_report=resident_report,
    )


def public_timeline(
    events: Iterable[EventLike], *, resident_report: int | None = None
) -> list[PublicStep]:
    """The public steps of a case in order; a resident's own steps only those of
    ``resident_report`` (None: no resident's steps at all, as Open311 and the public read it).

    >>> from types import SimpleNamespace as E
    >>> from datetime import UTC
    >>> at = datetime(2026, 12, 6, 9, tzinfo=UTC)
    >>> events = [
    ...     E(id=1, at=at, action="submit", from_state=None, to_state="REPORTED",
    ...       role="citizen", note="", detail="{}"),
    ...     E(id=2, at=at, action="comment", from_state="REPORTED", to_state="REPORTED",
    ...       role="citizen", note="my phone is 139…", detail='{"report": 1}'),
    ...     E(id=3, at=at, action="void", from_state="REPORTED", to_state="VOID",
    ...       role="shift_lead", note="prank", detail='{"reason": "prank"}'),
    ... ]
    >>> [(s.action, s.public_note) for s in public_timeline(events)]
    [('submit', ''), ('void', '')]
    >>> [s.action for s in public_timeline(events, resident_report=1)]
    ['submit', 'comment', 'void']
    """
    found = []
    for event in events:
        step = public_step(event)
        if step is None:
            continue
        resident = event.role == "citizen" and event.action in RESIDENT_STEPS
        if resident and (resident_report is None or step.resident_report != resident_report):
            continue
        found.append(step)
    return found
