"""The city a synthetic season is drawn from: places in base cells, categories with their time
limits, and how each department works.

Each department gets a profile from its code: how fast it handles cases relative to their time
limit (a log-normal spread around its own median), and how often it returns, reworks, extends and
suspends, so that closure and on-time rates spread the way a real city's do.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from urbangrid.domain.sla import Stage
from urbangrid.domain.timelimits import Limits, parse_limits


@dataclass(frozen=True)
class Place:
    """A point inside a base cell, with the cell's four codes."""

    codes: tuple[str, str, str, str]
    lon: float
    lat: float


@dataclass(frozen=True)
class Kind:
    """A category as the generator needs it: its clocks' limits per stage (and whole case)."""

    code: str
    limits: Mapping[Stage, Limits]
    needs_verification: bool = False
    weight: float = 1.0

    @classmethod
    def of(
        cls,
        code: str,
        *,
        handle: str,
        file: str = "1wh",
        dispatch: str = "1wh",
        check: str = "1wd",
        case: str = "",
        needs_verification: bool = False,
        weight: float = 1.0,
    ) -> Kind:
        """A category from its limits as written in the taxonomy ("" chains the four stages)."""
        stages = {
            Stage.FILE: parse_limits(file),
            Stage.DISPATCH: parse_limits(dispatch),
            Stage.HANDLE: parse_limits(handle),
            Stage.CHECK: parse_limits(check),
        }
        whole = parse_limits(case) if case else sum(stages.values(), ())
        return cls(code, {**stages, Stage.CASE: whole}, needs_verification, weight)


@dataclass(frozen=True)
class Profile:
    """How one department works (drawn from its code, so stable across runs)."""

    median_share: float  # median handling time as a share of the time limit
    sigma: float  # log-normal spread of handling times
    p_return: float  # share of its dispatches that were misrouted to it and come back
    p_rework: float
    p_extend: float
    p_suspend: float
    p_stall: float  # share of accepted cases nobody gets round to (the backlog)
    satisfaction: float  # mean rating, 1..5

    @classmethod
    def of(cls, department: str, seed: int) -> Profile:
        rng = random.Random(zlib.crc32(department.encode()) ^ seed)
        return cls(
            median_share=rng.choice((0.25, 0.35, 0.45, 0.55, 0.7, 0.85, 1.05)),
            sigma=rng.uniform(0.45, 1.0),
            p_return=rng.uniform(0.01, 0.10),
            p_rework=rng.uniform(0.02, 0.14),
            p_extend=rng.uniform(0.01, 0.07),
            p_suspend=rng.uniform(0.003, 0.02),
            p_stall=rng.choice((0.0, 0.0, 0.003, 0.006, 0.015, 0.03)),
            satisfaction=rng.uniform(3.4, 4.7),
        )
