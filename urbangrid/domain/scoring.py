"""The city's composite score as configuration (docs/domain.md §6): weights, volume bands and
grade thresholds are policy, so settings hold them and the evaluation applies them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# name → (numerator, denominator); every rate of §6 is one of these two-count ratios.
RATES: dict[str, tuple[str, str]] = {
    "closure_rate": ("closed", "due"),  # 结案率
    "on_time_closure_rate": ("closed_on_time", "due"),  # 按期结案率
    "on_time_handling_rate": ("handled_on_time", "handling_due"),  # 按期处置率
    "overdue_rate": ("overdue", "due"),  # 超期率
    "extension_rate": ("extended", "filed"),  # 延期率
    "rework_rate": ("reworked", "handled"),  # 返工率
    "reopen_rate": ("reopened", "closed"),  # 重开率
    "return_rate": ("returns", "dispatches"),  # 回退率
    "satisfaction_rate": ("satisfied", "ratings"),  # 满意率
}

DERIVED_RATES = ("accurate_dispatch_rate",)  # 准确派遣率 = 1 − return rate, over dispatches

RATE_NAMES: tuple[str, ...] = (*RATES, *DERIVED_RATES)


# ---------------------------------------------------------------------------------------------
# The composite score (综合指标值) and its grade


@dataclass(frozen=True)
class ScorePolicy:
    """The centre's formula: points per rate, points per volume band, grade thresholds.

    ``weights`` give the points a rate earns at its best (100%, or 0% for a rate where less is
    better); ``volume_bands`` are (at least this many due cases, points), and ``grades`` are
    (grade, minimum score) from the best grade down; a score below every threshold gets
    ``lowest_grade``. Weights plus the top volume points make 100.
    """

    weights: Mapping[str, float]
    volume_bands: Sequence[tuple[int, float]]
    grades: Sequence[tuple[str, float]]
    lowest_grade: str = "E"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(RATE_NAMES))
        if unknown:
            raise ValueError(
                f"metrics weights: unknown rate(s) {', '.join(unknown)}; "
                f"known: {', '.join(RATE_NAMES)}"
            )
        if any(w < 0 for w in self.weights.values()) or any(p < 0 for _, p in self.volume_bands):
            raise ValueError("metrics weights and volume points must not be negative")
        top = max((points for _, points in self.volume_bands), default=0.0)
        total = sum(self.weights.values()) + top
        if not math.isclose(total, 100.0, abs_tol=1e-6):
            raise ValueError(
                f"metrics weights ({sum(self.weights.values()):g}) plus the top volume band "
                f"({top:g}) must make 100 points, not {total:g}"
            )
        thresholds = [minimum for _, minimum in self.grades]
        if thresholds != sorted(thresholds, reverse=True):
            raise ValueError("metrics grades must run from the best grade down")


DEFAULT_POLICY = ScorePolicy(
    weights={"closure_rate": 30, "on_time_handling_rate": 30, "rework_rate": 30},
    volume_bands=((300, 10), (100, 8), (30, 6), (1, 4)),
    grades=(("A", 90), ("B", 75), ("C", 60), ("D", 40)),
)
