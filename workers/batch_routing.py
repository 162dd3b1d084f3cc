"""Routing many reports at once: the batch path, with the same result as ``route_case`` each.

A surge is routed in batches: the waiting cases claimed together (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, filled up with other waiting reports), their cells found in one vectorised call, each
one's department and clocks decided in memory from the cached reference data, and the batch
written with a few statements. Anything not plainly waiting goes the single way
(:func:`workers.routing.route_case`), so a redelivered batch changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import text, update
from sqlmodel import Session, col, select

from urbangrid.cases.clocks import ClockRow, mirrored, move_clocks
from urbangrid.cases.reference import Reference
from urbangrid.core.bulk import insert_rows
from urbangrid.core.columns import utcnow
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.tables import Case, CaseEvent, SlaClock
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role
from workers.routing import (
    SYSTEM_ACTOR,
    RouteOutcome,
    dispatch_detail,
    first_step,
    placed,
    route_case,
)

log = logging.getLogger(__name__)

# The claim, in one round trip on PostgreSQL: the given cases still waiting (locked, skipping
# any another worker holds), other published reports waiting to fill the batch, oldest first,
# and what became of the given cases that are not waiting. A worker handed a small batch (the API
# publishes what it stored in the last few milliseconds, often one or two reports) thus routes a
# surge in full batches whatever the messages hold, and the messages of the reports it routed
# find their answer in the same read. Duplicates wait for their own step; a report whose publish
# the API has not confirmed is still the API's. Each row says whether a case has clocks already
# (those go the long way). The transaction does not wait for its commit to reach the disk: should
# the database crash in those milliseconds and lose a batch's routing, its cases are unrouted
# again and the relay publishes them once their lease runs out; intake stored the reports
# themselves with a full commit.
_CLAIM = """
WITH given AS (
    SELECT c.id, c.category_code, c.lat, c.lon, c.created_at,
           EXISTS (SELECT 1 FROM sla_clock AS k WHERE k.case_id = c.id) AS started
    FROM cases AS c, (SELECT set_config('synchronous_commit', 'off', true)) AS quick_commit
    WHERE c.id = ANY(CAST(:ids AS int[])) AND c.state = 'REPORTED' AND c.routed_at IS NULL
    ORDER BY c.id FOR UPDATE OF c SKIP LOCKED
), more AS (
    SELECT c.id, c.category_code, c.lat, c.lon, c.created_at,
           EXISTS (SELECT 1 FROM sla_clock AS k WHERE k.case_id = c.id) AS started
    FROM cases AS c
    WHERE c.state = 'REPORTED' AND c.routed_at IS NULL AND c.duplicate_of IS NULL
      AND c.published_at IS NOT NULL AND NOT (c.id = ANY(CAST(:ids AS int[])))
    ORDER BY c.published_at LIMIT :room FOR UPDATE OF c SKIP LOCKED
)
SELECT id, category_code, lat, lon, created_at, started, true, false, NULL, NULL FROM given
UNION ALL
SELECT id, category_code, lat, lon, created_at, started, true, false, NULL, NULL FROM more
UNION ALL
SELECT id, category_code, lat, lon, created_at, false, false, routed_at IS NOT NULL, state,
       department_code
FROM cases WHERE id = ANY(CAST(:ids AS int[])) AND id NOT IN (SELECT id FROM given)
"""

# One statement for the whole batch, still guarded on each case being unrouted: unnest turns the
# columns' arrays into the rows of a VALUES list, with one prepared statement whatever the size;
# ``id = ANY(…)`` beside the join makes it find the cases by primary key, never by a scan.
_UPDATE_MANY = """
UPDATE cases AS c SET
    state = v.state, updated_at = v.updated_at, routed_at = v.routed_at,
    grid_version_id = v.grid_version_id,
    filed_at = COALESCE(v.filed_at, c.filed_at),
    dispatched_at = COALESCE(v.dispatched_at, c.dispatched_at),
    l1_code = COALESCE(v.l1_code, c.l1_code), l2_code = COALESCE(v.l2_code, c.l2_code),
    l3_code = COALESCE(v.l3_code, c.l3_code), l4_code = COALESCE(v.l4_code, c.l4_code),
    department_code = COALESCE(v.department_code, c.department_code),
    routing_rule_id = COALESCE(v.routing_rule_id, c.routing_rule_id),
    stage = v.stage, stage_deadline_at = v.stage_deadline_at, deadline_at = v.deadline_at,
    case_deadline_at = v.case_deadline_at,
    near_boundary = COALESCE(v.near_boundary, c.near_boundary)
FROM unnest(
    CAST(:id AS int[]), CAST(:state AS text[]), CAST(:updated_at AS timestamptz[]),
    CAST(:routed_at AS timestamptz[]), CAST(:grid_version_id AS int[]),
    CAST(:filed_at AS timestamptz[]), CAST(:dispatched_at AS timestamptz[]),
    CAST(:l1_code AS text[]), CAST(:l2_code AS text[]), CAST(:l3_code AS text[]),
    CAST(:l4_code AS text[]), CAST(:department_code AS text[]),
    CAST(:routing_rule_id AS int[]), CAST(:stage AS text[]),
    CAST(:stage_deadline_at AS timestamptz[]), CAST(:deadline_at AS timestamptz[]),
    CAST(:case_deadline_at AS timestamptz[]), CAST(:near_boundary AS text[])
) AS v(id, state, updated_at, routed_at, grid_version_id, filed_at, dispatched_at, l1_code,
       l2_code, l3_code, l4_code, department_code, routing_rule_id, stage, stage_deadline_at,
       deadline_at, case_deadline_at, near_boundary)
WHERE c.id = ANY(CAST(:id AS int[])) AND c.id = v.id
  AND c.state = 'REPORTED' AND c.routed_at IS NULL
RETURNING c.id
"""

_CASE_COLUMNS = (
    "id", "state", "updated_at", "routed_at", "grid_version_id", "filed_at", "dispatched_at",
    "l1_code", "l2_code", "l3_code", "l4_code", "department_code", "routing_rule_id", "stage",
    "stage_deadline_at", "deadline_at", "case_deadline_at", "near_boundary",
)  # fmt: skip


@dataclass(frozen=True)
class _Waiting:
    id: int
    category_code: str
    lat: float
    lon: float
    created_at: datetime
    started: bool = False  # has clocks already: routed the long way, by ``route_case``


@dataclass
class _Plan:
    """One case's routing, decided in memory: its columns, its events, its clocks."""

    case: dict[str, Any]
    events: list[dict[str, Any]]
    clocks: list[ClockRow]
    outcome: RouteOutcome


def route_batch(
    case_ids: Sequence[int],
    *,
    session: Session,
    grid: ActiveGrid,
    reference: Reference | Callable[[], Reference],
    now: datetime | None = None,
    top_up: int = 0,
) -> list[RouteOutcome]:
    """Route many reported cases with a few statements; the same result as ``route_case`` each.

    With ``top_up``, up to that many cases in all are routed: other waiting reports fill the
    batch (on PostgreSQL; see ``_CLAIM``). The outcomes are those of ``case_ids``. ``reference``
    may be a function giving it, called only when there is something to route.

    The waiting cases are claimed (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``: a case another
    worker holds is that worker's), their cells found in one vectorised call, each one's
    department and clocks decided in memory from the cached ``reference``, and the batch written
    at once: one UPDATE of the cases guarded on each still being unrouted, one INSERT of the
    events, one of the clocks. A case that is not plainly waiting (already routed, missing, with
    clocks of its own) is left to ``route_case``, so a redelivered batch changes nothing.
    """
    now = now or utcnow()
    ids = sorted({int(i) for i in case_ids})
    waiting, settled = _claim(session, ids, room=max(top_up - len(ids), 0))
    if not waiting:
        session.commit()
        return _the_rest(session, ids, settled, grid=grid, reference=reference, now=now)
    if callable(reference):
        reference = reference()
    plain = [w for w in waiting if not w.started and w.category_code in reference.categories]
    version_id, index = grid.current(session)
    found = index.assign(
        np.array([w.lon for w in plain], dtype=float), np.array([w.lat for w in plain], dtype=float)
    )
    plans = [
        _plan(
            w,
            inside=bool(found.inside[n]),
            cells=[
                str(found.codes[level][n]) if level in found.codes else "" for level in (1, 2, 3, 4)
            ],
            version_id=version_id,
            reference=reference,
            now=now,
            grid=grid,
            session=session,
        )
        for n, w in enumerate(plain)
    ]
    written = _write(session, plans)
    session.commit()
    outcomes = settled | {
        p.outcome.case_id: p.outcome for p in plans if p.outcome.case_id in written
    }
    return _the_rest(session, ids, outcomes, grid=grid, reference=reference, now=now)


def _the_rest(
    session: Session,
    ids: list[int],
    outcomes: dict[int, RouteOutcome],
    *,
    grid: ActiveGrid,
    reference: Reference | Callable[[], Reference],
    now: datetime,
) -> list[RouteOutcome]:
    """The outcomes of ``ids``: those routed in the batch, those already routed (read in one
    query: a worker that topped up its batch routed them first), and the rest one by one, each
    routed fully as before or a no-op if routed meanwhile."""
    rest = [i for i in ids if i not in outcomes]
    if rest:
        for case_id, state, routed_at, department in session.execute(
            select(Case.id, Case.state, Case.routed_at, Case.department_code).where(
                col(Case.id).in_(rest)
            )
        ):
            if routed_at is not None or state != CaseState.REPORTED:
                outcomes[case_id] = RouteOutcome(case_id, False, state, department)
        session.commit()
    for case_id in ids:
        if case_id not in outcomes:
            if callable(reference):
                reference = reference()
            outcomes[case_id] = route_case(
                case_id, session=session, grid=grid, rules=reference.clock_rules, now=now
            )
    return [outcomes[i] for i in ids]


def _claim(
    session: Session, ids: list[int], *, room: int
) -> tuple[list[_Waiting], dict[int, RouteOutcome]]:
    """The cases to route now, and the outcomes of given cases no longer waiting.

    On PostgreSQL one statement (``_CLAIM``), filling the batch with up to ``room`` more; on
    SQLite (one worker, no row locks) the given cases only.
    """
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text(_CLAIM), {"ids": ids, "room": room}).all()
        waiting: list[_Waiting] = []
        settled: dict[int, RouteOutcome] = {}
        for case_id, category, lat, lon, created, started, claimed, routed, state, dept in rows:
            if claimed:
                waiting.append(
                    _Waiting(int(case_id), str(category), float(lat), float(lon), created, started)
                )
            elif routed or state != CaseState.REPORTED:
                settled[int(case_id)] = RouteOutcome(int(case_id), False, str(state), dept)
        # Another worker holds the rest (or they wait for another step): ``route_case`` each.
        return waiting, settled
    if not ids:
        return [], {}
    found = session.exec(
        select(Case)
        .where(col(Case.id).in_(ids))
        .where(col(Case.state) == CaseState.REPORTED)
        .where(col(Case.routed_at).is_(None))
        .order_by(col(Case.id))
    ).all()
    started = set(session.exec(select(SlaClock.case_id).where(col(SlaClock.case_id).in_(ids))))
    waiting = [
        _Waiting(c.id or 0, c.category_code, c.lat, c.lon, c.created_at, c.id in started)
        for c in found
    ]
    return waiting, {}


def _event(
    case_id: int,
    action: str,
    to_state: CaseState,
    *,
    at: datetime,
    note: str,
    detail: dict[str, Any],
    department: str | None = None,
    from_state: CaseState = CaseState.REPORTED,
) -> dict[str, Any]:
    # The same row ``lifecycle.record`` appends for this step.
    return {
        "case_id": case_id,
        "at": at,
        "action": action,
        "from_state": str(from_state),
        "to_state": str(to_state),
        "actor": SYSTEM_ACTOR,
        "role": str(Role.SYSTEM),
        "note": note,
        "detail": json.dumps(detail, ensure_ascii=False, default=str),
        "department_code": department,
    }


def _plan(
    waiting: _Waiting,
    *,
    inside: bool,
    cells: list[str],
    version_id: int,
    reference: Reference,
    now: datetime,
    grid: ActiveGrid,
    session: Session,
) -> _Plan:
    """What ``route_case`` would do to this case, decided in memory (see its docstring)."""
    category = reference.categories[waiting.category_code]
    rules = reference.clock_rules
    limits = dict(category.limits)
    case_id = waiting.id
    cells = cells if inside else []
    values: dict[str, Any] = {
        "id": case_id,
        "state": CaseState.REPORTED,
        "updated_at": now,
        "routed_at": now,
        "grid_version_id": version_id,
    }
    values |= dict.fromkeys(_CASE_COLUMNS[5:], None)
    if inside:
        values |= placed(session, grid, version_id, waiting.lon, waiting.lat, cells)
    step = first_step(category, inside=inside, version_id=version_id, cells=cells, located=values)
    by = (SYSTEM_ACTOR, str(Role.SYSTEM))
    latest, clocks = clocks_move(
        [], "submit", case_id=case_id, at=waiting.created_at, rules=rules, limits=limits, detail={}
    )
    after = CaseState.REPORTED if step.action == "locate" else CaseState.FILED
    events = [_event(case_id, step.action, after, at=now, note=step.note, detail=step.detail)]
    if step.action == "file":
        values |= {"state": CaseState.FILED, "filed_at": now}
        latest, added = clocks_move(
            latest, "file", case_id=case_id, at=now, rules=rules, limits=limits, detail={}, by=by
        )
        clocks += added
        decision = reference.suggest(waiting.category_code, cells)
        if decision is not None and category.auto_dispatch:
            detail = dispatch_detail(decision)
            values |= {
                "state": CaseState.DISPATCHED,
                "dispatched_at": now,
                "department_code": decision.department_code,
                "routing_rule_id": decision.rule_id,
            }
            events.append(
                _event(
                    case_id,
                    "dispatch",
                    CaseState.DISPATCHED,
                    at=now,
                    note=f"dispatched by rule to {decision.department_code}",
                    detail=detail,
                    department=decision.department_code,
                    from_state=CaseState.FILED,
                )
            )
            latest, added = clocks_move(
                latest,
                "dispatch",
                case_id=case_id,
                at=now,
                rules=rules,
                limits=limits,
                detail=detail,
                by=by,
            )
            clocks += added
        elif category.auto_dispatch:
            log.warning(
                "case %s: no rule and no street office; left FILED for a dispatcher", case_id
            )
    values |= mirrored(latest)
    values["state"] = str(values["state"])
    outcome = RouteOutcome(case_id, True, values["state"], values["department_code"])
    return _Plan(values, events, clocks, outcome)


def clocks_move(
    rows: list[ClockRow], action: str, **kwargs: Any
) -> tuple[list[ClockRow], list[ClockRow]]:
    """``clocks.move_clocks`` on a case's rows so far, returning all of them and those added."""
    latest, added = move_clocks(rows, action, new_row=ClockRow, **kwargs)
    seen = {id(row) for row in rows}
    return rows + [row for row in latest if id(row) not in seen], added


def _write(session: Session, plans: list[_Plan]) -> set[int]:
    """Write the plans of the cases still unrouted; returns their ids."""
    if not plans:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        columns = {name: [p.case[name] for p in plans] for name in _CASE_COLUMNS}
        written = {int(r[0]) for r in session.execute(text(_UPDATE_MANY), columns)}
    else:
        written = set()
        for plan in plans:
            changes = {k: v for k, v in plan.case.items() if k != "id" and v is not None}
            moved = session.execute(
                update(Case)
                .where(col(Case.id) == plan.case["id"])
                .where(col(Case.state) == CaseState.REPORTED)
                .where(col(Case.routed_at).is_(None))
                .values(**changes)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                written.add(plan.case["id"])
    events = [e for p in plans if p.case["id"] in written for e in p.events]
    clock_rows = [dict(vars(row)) for p in plans if p.case["id"] in written for row in p.clocks]
    insert_rows(session, CaseEvent.__table__, events)  # type: ignore[attr-defined]
    insert_rows(session, SlaClock.__table__, clock_rows)  # type: ignore[attr-defined]
    return written
