"""Every figure the dashboard shows has a Chinese and an English label; the helpers' examples."""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from types import ModuleType

import pytest

import dashboard.clock
import dashboard.deck
import dashboard.i18n
import dashboard.show
import dashboard.signin
from dashboard.i18n import LABELS, t
from urbangrid.cases.lifecycle import NOTES
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import TRANSITIONS, Role
from urbangrid.evaluation.report import FLAT_COLUMNS
from urbangrid.evaluation.roles import STAGE_NAMES

VIEWS = Path(dashboard.__file__).parent / "views"


@pytest.mark.parametrize(
    "module", [dashboard.i18n, dashboard.show, dashboard.clock, dashboard.signin, dashboard.deck]
)
def test_examples_in_docstrings(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0


def test_every_measure_and_every_label_used_reads_in_both_languages() -> None:
    used = set(FLAT_COLUMNS)
    for page in VIEWS.glob("*.py"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']""", page.read_text("utf-8")))
    missing = sorted(key for key in used if key not in LABELS)
    assert not missing, missing
    for key in used:
        zh, en = t(key, "zh"), t(key, "en")
        assert zh and en and (zh != en or key == "language"), key
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{key}: {zh!r} is not Chinese"


def test_every_state_action_stage_and_role_reads_in_both_languages() -> None:
    """Staff never meet a code: each state, step, stage and role has its words in both."""
    keys = [f"state_{s}" for s in CaseState]
    keys += [f"action_{a}" for a in TRANSITIONS]
    # the events that annotate a case (a duplicate joining it, a moderation…) show in its timeline
    keys += [f"action_{a}" for a in sorted(NOTES)]
    keys += [f"stage_{s}" for s in STAGE_NAMES]
    keys += [f"role_{r}" for r in Role]
    missing = [key for key in keys if key not in LABELS]
    assert not missing, missing
    for key in keys:
        zh, en = t(key, "zh"), t(key, "en")
        assert re.search(r"[\u4e00-\u9fff]", zh), key
        assert en and "_" not in en and not en.isupper(), key
