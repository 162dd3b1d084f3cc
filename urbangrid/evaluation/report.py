"""The evaluation as heads read it: measures with names, scores, grades and ranks; trends;
top categories; the evaluation per role.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    case,
    func,
    literal,
    select,
)
from sqlmodel import Session

from urbangrid.core.tables.catalog import department_name
from urbangrid.domain.scoring import DEFAULT_POLICY, ScorePolicy
from urbangrid.domain.sla import Stage
from urbangrid.evaluation.days import period_days
from urbangrid.evaluation.facts import instant as _instant
from urbangrid.evaluation.formulas import (
    COUNT_NAMES,
    BucketUnit,
    Counts,
    Entrant,
    Period,
    average_handling_hours,
    buckets,
    composite_score,
    grade,
    rates,
    standings,
)
from urbangrid.evaluation.read import count_cases, count_question
from urbangrid.evaluation.role_counts import count_steps
from urbangrid.evaluation.roles import STAGE_NAMES, step_rates
from urbangrid.evaluation.scope import (
    AREAS,
    CASES,
    CATEGORIES,
    DEPARTMENTS,
    LEVEL_OF,
    MAJOR_CLASSES,
    TOTAL_KEY,
    Dimension,
    Question,
    Scope,
    _case_filters,
    _case_group,
    _within,
)
from urbangrid.evaluation.sources import reading_of, rollup_zone
from urbangrid.evaluation.sums import count_rollups
from urbangrid.evaluation.tally import finish
from urbangrid.evaluation.tuning import no_cycle_collection, planner_for_metrics

# ---------------------------------------------------------------------------------------------
# Names of groups


def group_names(
    session: Session, by: Dimension, keys: Iterable[str | None], *, lang: str = "zh"
) -> dict[str | None, str]:
    """Display names of group keys: department names, area names, category names."""
    keys = list(keys)
    wanted = sorted({k for k in keys if k})
    names: dict[str | None, str] = {None: "—" if lang == "zh" else "(none)"}
    if by == Dimension.TOTAL:
        names[TOTAL_KEY] = "全市" if lang == "zh" else "City"
    elif by == Dimension.DEPARTMENTS and wanted:
        rows = session.execute(
            select(DEPARTMENTS.code, DEPARTMENTS.name, DEPARTMENTS.name_en).where(
                DEPARTMENTS.code.in_(wanted)
            )
        )
        names.update({code: department_name(zh, en, lang) for code, zh, en in rows})
    elif by in LEVEL_OF and wanted:
        # Cases keep the codes they were given; the newest version that has a code names it.
        rows = session.execute(
            select(AREAS.code, AREAS.name).where(AREAS.code.in_(wanted)).order_by(AREAS.version_id)
        )
        names.update({code: name for code, name in rows})
    elif by == Dimension.CATEGORIES and wanted:
        rows = session.execute(
            select(CATEGORIES.code, CATEGORIES.name_zh, CATEGORIES.name_en).where(
                CATEGORIES.code.in_(wanted)
            )
        )
        names.update({code: zh if lang == "zh" else en for code, zh, en in rows})
    elif by == Dimension.MAJORS:
        names.update(major_names(session, wanted, lang=lang))
    return {k: names.get(k, k or "") for k in keys}


def major_names(session: Session, majors: Iterable[str], *, lang: str = "zh") -> dict[str, str]:
    """Names of major classes: the standard's, or for imported types the prefix they share."""
    found: dict[str, str] = {}
    for key in majors:
        known = MAJOR_CLASSES.get(key)
        if known:
            found[key] = known[0] if lang == "zh" else known[1]
            continue
        example = session.execute(
            select(CATEGORIES.name_en).where(CATEGORIES.code.startswith(key)).limit(1)
        ).scalar_one_or_none()
        found[key] = str(example).split("-", 1)[0].strip() if example else key
    return found


# ---------------------------------------------------------------------------------------------
# Evaluation: counts → rates, score, grade, rank


@dataclass(frozen=True)
class Evaluation:
    """One group's figures for one period."""

    key: str | None
    name: str
    counts: Counts
    rates: dict[str, float | None]
    average_handling_hours: float | None
    score: float | None
    grade: str | None
    rank: int | None = None
    # False for a group with too few cases in the period to be ranked (or no score).
    ranked: bool = False

    def flat(self) -> dict[str, Any]:
        """One row for a table or a CSV file: counts, rates, time, score, grade and rank."""
        return {
            "key": self.key,
            "name": self.name,
            **{name: getattr(self.counts, name) for name in COUNT_NAMES},
            **self.rates,
            "average_handling_hours": self.average_handling_hours,
            "score": self.score,
            "grade": self.grade,
            "ranked": self.ranked,
            "rank": self.rank,
        }


FLAT_COLUMNS: tuple[str, ...] = (
    "key",
    "name",
    *COUNT_NAMES,
    *rates(Counts()),
    "average_handling_hours",
    "score",
    "grade",
    "ranked",
    "rank",
)


def evaluate(
    session: Session,
    *,
    period: Period,
    by: Dimension,
    scope: Scope = Scope(),
    now: datetime,
    policy: ScorePolicy = DEFAULT_POLICY,
    satisfied_score: float = 4,
    lang: str = "zh",
    include: Sequence[str] = (),
    min_cases: int = 0,
) -> list[Evaluation]:
    """Figures per group, best score first, ranked (a ranking is only meaningful per period).

    ``include`` adds groups that had nothing in the period (every department, say), so that a
    published ranking lists them with their zeros rather than leaving them out. Groups with
    fewer than ``min_cases`` cases due are listed unranked; ties share a rank and are listed by
    cases due, then name (:func:`urbangrid.evaluation.formulas.standings`).
    """
    counted = count_cases(
        session, period=period, by=by, scope=scope, now=now, satisfied_score=satisfied_score
    )
    for wanted in include:
        counted.setdefault(wanted, Counts())
    names = group_names(session, by, counted, lang=lang)
    found = []
    for key, counts in counted.items():
        measured = rates(counts)
        score = composite_score(measured, counts.due, policy)
        found.append(
            Evaluation(
                key=key,
                name=names.get(key) or key or "",
                counts=counts,
                rates=measured,
                average_handling_hours=average_handling_hours(counts),
                score=score,
                grade=grade(score, policy),
            )
        )
    places = standings(
        [Entrant(e.score, e.counts.due, e.name or str(e.key)) for e in found], min_cases=min_cases
    )
    listed: list[Evaluation | None] = [None] * len(found)
    for e, place in zip(found, places, strict=True):
        listed[place.position] = Evaluation(
            **{**e.__dict__, "rank": place.rank, "ranked": place.ranked}
        )
    return [e for e in listed if e is not None]


def all_department_codes(session: Session) -> list[str]:
    return [str(code) for code in session.execute(select(DEPARTMENTS.code)).scalars()]


@dataclass(frozen=True)
class TrendPoint:
    bucket: str
    start: datetime
    end: datetime
    key: str | None
    counts: Counts
    rates: dict[str, float | None] = field(default_factory=dict)


def trend(
    session: Session,
    *,
    period: Period,
    unit: BucketUnit,
    tz: Any,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
    now: datetime,
    satisfied_score: float = 4,
    with_events: bool = True,
) -> list[TrendPoint]:
    """The same counts per day, week or month of the period.

    Totals and departments come from the rollups in one query for every bucket; other
    groupings and filters count each bucket from the per-case facts (or live, see
    :func:`count_cases`).
    """
    found = buckets(period, unit, tz=tz)
    question = Question(by, scope, satisfied_score, with_events)
    if by in (Dimension.TOTAL, Dimension.DEPARTMENTS) and not (scope.area or scope.category):
        zone = rollup_zone(session)
        maybe = [
            period_days(Period(b.start, b.end, b.label), ZoneInfo(zone)) if zone else None
            for b in found
        ]
        spans = [span for span in maybe if span is not None]
        if zone and found and len(spans) == len(found):
            with no_cycle_collection():
                planner_for_metrics(session)
                days = (spans[0][0], spans[-1][1])
                reading = reading_of(session, period=period, days=days, zone=zone, now=now)
                per_span = count_rollups(session, reading, question, spans)
            points = []
            for index, bucket in enumerate(found):
                for key, counts in sorted(
                    finish(per_span[index]).items(), key=lambda kv: str(kv[0])
                ):
                    points.append(
                        TrendPoint(
                            bucket.label, bucket.start, bucket.end, key, counts, rates(counts)
                        )
                    )
            return points
    points = []
    for bucket in found:
        sub = Period(bucket.start, bucket.end, bucket.label)
        counted = count_question(session, sub, question, now=now)
        for key, counts in sorted(counted.items(), key=lambda kv: str(kv[0])):
            points.append(
                TrendPoint(bucket.label, bucket.start, bucket.end, key, counts, rates(counts))
            )
    return points


def received_per_bucket(
    session: Session,
    *,
    period: Period,
    unit: BucketUnit,
    tz: Any,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
) -> dict[tuple[str, str | None], int]:
    """Cases received per day, week or month of the period and per group, in one query.

    The same count as :func:`trend`'s ``received``, for charts that need nothing else.
    """
    found = buckets(period, unit, tz=tz)
    if not found:
        return {}
    label = case(
        *((CASES.created_at < _instant(b.end), literal(b.label)) for b in found),
        else_=literal(None),
    ).label("bucket")
    group = _case_group(by).label("key")
    rows = session.execute(
        select(label, group, func.count())
        .where(_within(CASES.created_at, period), *_case_filters(session, scope))
        .group_by(label, group)
    ).all()
    return {(str(bucket), key): int(count) for bucket, key, count in rows if bucket is not None}


def top_categories(
    session: Session, *, period: Period, level: int, scope: Scope = Scope(), limit: int = 3
) -> dict[str, list[tuple[str, int]]]:
    """The most reported categories of each area of a grid level (cases received in the period)."""
    area = CASES[f"l{level}_code"]
    received = func.count().label("received")
    rows = session.execute(
        select(area.label("area"), CASES.category_code, received)
        .where(_within(CASES.created_at, period), area.isnot(None), *_case_filters(session, scope))
        .group_by(area, CASES.category_code)
    ).all()
    found: dict[str, list[tuple[str, int]]] = {}
    for code, category, count in rows:
        found.setdefault(str(code), []).append((str(category), int(count)))
    return {
        code: sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[:limit]
        for code, pairs in found.items()
    }


STEP_COLUMNS = (
    "stage",
    "stage_name",
    "role",
    "actor",
    "due",
    "done",
    "on_time",
    "overdue",
    "on_time_rate",
    "overdue_rate",
    "average_hours",
)


def evaluate_steps(
    session: Session,
    *,
    period: Period,
    scope: Scope = Scope(),
    now: datetime,
    by_actor: bool = False,
    lang: str = "zh",
) -> list[dict[str, Any]]:
    """The evaluation per role as flat rows (:data:`STEP_COLUMNS`), in the loop's order: the
    API's and the dashboard's table alike."""
    order = list(Stage)
    found = count_steps(session, period=period, scope=scope, now=now, by_actor=by_actor)
    rows = []
    for (stage, role, actor), counts in sorted(
        found.items(), key=lambda kv: (order.index(Stage(kv[0][0])), kv[0][1], kv[0][2] or "")
    ):
        zh, en = STAGE_NAMES[Stage(stage)]
        rows.append(
            {
                "stage": stage,
                "stage_name": zh if lang == "zh" else en,
                "role": role,
                "actor": actor,
                **{name: getattr(counts, name) for name in ("due", "done", "on_time", "overdue")},
                **step_rates(counts),
            }
        )
    return rows
