"""Writing histories into the database: a synthetic season for the demo, bulk loads for the bench.

Rows go in by the thousand (SQLAlchemy executemany, or COPY on PostgreSQL), never through one
``record`` call per event: a history is already a consistent log, checked against the transition
table as it was built.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, func, insert, select, text
from sqlmodel import Session

from urbangrid.cases.clocks import category_limits, credit_stops, write_clock
from urbangrid.core.settings import Settings
from urbangrid.core.tables import (
    Case,
    CaseEvent,
    Category,
    Department,
    GridArea,
    RoutingRule,
    SlaClock,
)
from urbangrid.domain.routing import Rule
from urbangrid.domain.sla import Clock, ClockRules
from urbangrid.history.city import Kind, Place
from urbangrid.history.records import CaseRecord
from urbangrid.history.synthetic import Season

CASES = Case.__table__  # type: ignore[attr-defined]
EVENTS = CaseEvent.__table__  # type: ignore[attr-defined]
CLOCKS = SlaClock.__table__  # type: ignore[attr-defined]
AREAS = GridArea.__table__.c  # type: ignore[attr-defined]

# How often each starter category is reported, relative to one another (a city centre's mix:
# rubbish and parking dominate, road collapses are rare).
DEMO_MIX: dict[str, float] = {
    "E0102": 14,
    "E0505": 12,
    "E0506": 10,
    "E0507": 8,
    "E0104": 8,
    "E0201": 7,
    "E0501": 6,
    "E0504": 6,
    "C0304": 6,
    "C0302": 5,
    "E0101": 4,
    "E0103": 4,
    "E0301": 3,
    "E0302": 3,
    "E0106": 3,
    "E0105": 2,
    "E0406": 2,
    "C0101": 2,
    "C0401": 1,
    "E0401": 1,
}

CASE_COLUMNS: tuple[str, ...] = tuple(c.name for c in CASES.columns)
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS.columns if c.name != "id")


def grid_places(
    session: Session, version_id: int, *, per_cell: int = 3, seed: int = 2026
) -> list[Place]:
    """Points inside each base cell of a grid version, with the cell's four codes."""
    rows = session.execute(
        select(AREAS.level, AREAS.code, AREAS.parent_code, AREAS.geom).where(
            AREAS.version_id == version_id
        )
    ).all()
    parent = {code: up for _, code, up, _ in rows}
    leaf = max((level for level, *_ in rows), default=0)
    rng = np.random.default_rng(seed)
    places: list[Place] = []
    for level, code, _, geom in rows:
        if level != leaf:
            continue
        chain = [code]
        while parent.get(chain[-1]):
            chain.append(parent[chain[-1]])
        codes = tuple(reversed(chain)) + ("",) * (4 - len(chain))
        for lon, lat in _points_inside(geom, per_cell, rng):
            places.append(Place((codes[0], codes[1], codes[2], codes[3]), lon, lat))
    return places


def _points_inside(
    geom: Any, count: int, rng: np.random.Generator
) -> Iterator[tuple[float, float]]:
    minx, miny, maxx, maxy = geom.bounds
    found = 0
    for _ in range(20):
        xs = rng.uniform(minx, maxx, count * 4)
        ys = rng.uniform(miny, maxy, count * 4)
        inside = shapely.contains_xy(geom, xs, ys)
        for x, y in zip(xs[inside], ys[inside], strict=True):
            yield float(x), float(y)
            found += 1
            if found == count:
                return
    if found == 0:  # a sliver: its representative point is inside by construction
        point = shapely.point_on_surface(geom)
        yield float(point.x), float(point.y)


def season_for(
    session: Session,
    places: Sequence[Place],
    *,
    rules: ClockRules,
    home_level: int = 3,
    seed: int = 2026,
) -> Season:
    """A season over the categories, routing rules and departments in the database."""
    kinds = [
        Kind(
            c.code,
            category_limits(c),
            c.needs_verification,
            DEMO_MIX.get(c.code, 1.0),
        )
        for c in session.execute(select(Category)).scalars()
    ]
    routing = [
        Rule(r.id or 0, r.category_code, r.scope_code, r.department_code, r.priority)
        for r in session.execute(select(RoutingRule)).scalars()
    ]
    departments = list(session.execute(select(Department)).scalars())
    offices = {d.grid_code: d.code for d in departments if d.grid_code}
    return Season(
        places=places,
        kinds=kinds,
        rules=routing,
        street_offices=offices,
        departments=[d.code for d in departments],
        clock_rules=rules,
        home_level=home_level,
        seed=seed,
    )


def next_case_id(connection: Connection) -> int:
    return int(connection.execute(select(func.coalesce(func.max(CASES.c.id), 0))).scalar_one()) + 1


def _case_row(synthetic: CaseRecord, version_id: int | None) -> dict[str, Any]:
    row = dict(synthetic.case)
    row["location"] = shapely.Point(row["lon"], row["lat"])
    if row["l1_code"]:
        row["grid_version_id"] = version_id
    return row


def insert_cases(
    connection: Connection,
    cases: Iterable[CaseRecord],
    *,
    grid_version_id: int | None,
    rules: ClockRules | None = None,
    chunk: int = 2000,
) -> tuple[int, int]:
    """Insert cases and their events with executemany, in chunks; (cases, events) written.

    With ``rules``, the cases' clocks are stored too (the last of each stage): the SLA sweep
    carries the running ones on from where the history leaves them, and the evaluation per role
    reads the stopped ones.
    """
    written = [0, 0]
    iterator = iter(cases)
    while batch := list(itertools.islice(iterator, chunk)):
        connection.execute(insert(CASES), [_case_row(c, grid_version_id) for c in batch])
        events = [event for c in batch for event in c.events]
        if events:
            connection.execute(insert(EVENTS), events)
        if rules is not None:
            clocks = [_clock_row(c.case["id"], clock, rules) for c in batch for clock in c.clocks]
            if clocks:
                connection.execute(insert(CLOCKS), clocks)
                # The walk's clocks name nobody: credit each stop to the event that made it.
                ids = [c.case["id"] for c in batch]
                credit_stops(connection, cases=(min(ids), max(ids)))
        written[0] += len(batch)
        written[1] += len(events)
    _bump_sequence(connection)
    return written[0], written[1]


def _clock_row(case_id: int, clock: Clock, rules: ClockRules) -> dict[str, Any]:
    # Placeholders only: write_clock fills every column from the clock, as the live system does.
    start = clock.started_at
    placeholder = SlaClock(
        case_id=case_id,
        stage=clock.stage,
        started_at=start,
        limit="",
        deadline_at=start,
        warn_at=start,
    )
    row = write_clock(placeholder, clock, rules)
    return row.model_dump(exclude={"id"})


def copy_cases(
    connection: Connection,
    cases: Iterable[CaseRecord],
    *,
    grid_version_id: int | None,
    chunk: int = 50_000,
) -> tuple[int, int]:
    """The same through PostgreSQL's COPY (psycopg): for a million cases in minutes."""
    raw = connection.connection.driver_connection
    assert raw is not None
    written = [0, 0]
    iterator = iter(cases)
    case_sql = f"COPY cases ({', '.join(CASE_COLUMNS)}) FROM STDIN"
    event_sql = f"COPY case_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
    while batch := list(itertools.islice(iterator, chunk)):
        with raw.cursor() as cursor:
            with cursor.copy(case_sql) as copy:
                for synthetic in batch:
                    row = synthetic.case
                    copy.write_row(
                        tuple(_copy_value(name, row, grid_version_id) for name in CASE_COLUMNS)
                    )
            events = 0
            with cursor.copy(event_sql) as copy:
                for synthetic in batch:
                    for event in synthetic.events:
                        copy.write_row(tuple(event[name] for name in EVENT_COLUMNS))
                        events += 1
        written[0] += len(batch)
        written[1] += events
    _bump_sequence(connection)
    return written[0], written[1]


def _copy_value(name: str, row: dict[str, Any], version: int | None) -> Any:
    if name == "location":
        point = shapely.set_srid(shapely.Point(row["lon"], row["lat"]), 4326)
        return shapely.to_wkb(point, hex=True, include_srid=True)
    if name == "grid_version_id":
        return version if row["l1_code"] else None
    if name not in row:
        # A column the history records do not carry (a flag decided at routing, such as
        # near_boundary) stays empty; a required one then fails the COPY loudly.
        return None
    return row[name]


def _bump_sequence(connection: Connection) -> None:
    # Rows came with their ids: the next report must not collide with them.
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('cases', 'id'), "
                "(SELECT COALESCE(MAX(id), 1) FROM cases))"
            )
        )


def seed_season(
    session: Session,
    *,
    grid_version_id: int,
    now: datetime,
    settings: Settings,
    days: int = 92,
    count: int = 6000,
    seed: int = 2026,
) -> tuple[int, int]:
    """A season of ``count`` synthetic cases over the ``days`` before ``now``; (cases, events)."""
    from urbangrid.cases.workdays import clock_rules

    places = grid_places(session, grid_version_id, seed=seed)
    if not places:
        raise LookupError(f"grid version {grid_version_id} has no base cells to place cases in")
    rules = clock_rules(session, settings)
    season = season_for(session, places, rules=rules, home_level=settings.sla_home_level, seed=seed)
    connection = session.connection()
    first = next_case_id(connection)
    written = insert_cases(
        connection,
        season.cases(count, start=now - timedelta(days=days), now=now, first_id=first),
        grid_version_id=grid_version_id,
        rules=rules,
    )
    session.commit()
    return written


def seed_demo_history(session: Session, grid_version_id: int) -> str:
    """The demo's season: 6,000 cases over the 92 days before now, so every page has figures."""
    from urbangrid.core.columns import utcnow
    from urbangrid.core.settings import get_settings

    started = time.perf_counter()
    cases, events = seed_season(
        session, grid_version_id=grid_version_id, now=utcnow(), settings=get_settings()
    )
    return (
        f"laid down a season of history: {cases:,} cases and {events:,} events "
        f"in {time.perf_counter() - started:.1f} s"
    )
