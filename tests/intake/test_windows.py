"""The embedded default's in-process rate-limit windows: the same answers as ``limits``'
moving window, with memory that does not grow with a flood of new names."""

from __future__ import annotations

import random
import time

import pytest
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from intake.windows import LocalWindows

LIMITS = parse_many("3/minute;5/hour")


def test_answers_as_limits_moving_window_does(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    ours = LocalWindows()
    theirs = MovingWindowRateLimiter(MemoryStorage())
    rng = random.Random(12)
    admitted = refused = 0
    for _ in range(600):
        clock[0] += rng.choice([0.5, 3, 20, 61, 400])
        name = rng.choice(["li.lei", "han.meimei", "wang.fang"])
        wait = ours.admit(LIMITS, "signin", name)
        full = [item for item in LIMITS if not theirs.test(item, "signin", name)]
        if not full:
            for item in LIMITS:
                theirs.hit(item, "signin", name)
        assert (wait == 0) == (not full)
        if full:
            expected = max(theirs.get_window_stats(i, "signin", name).reset_time for i in full)
            assert abs(wait - (expected - clock[0])) <= 1
            refused += 1
        else:
            admitted += 1
    assert admitted > 100 and refused > 100  # both answers were compared, many times


def test_a_flood_of_new_names_is_forgotten_as_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    windows = LocalWindows()
    per_minute = parse_many("5/minute")
    for n in range(1_000):
        windows.admit(per_minute, "signin", f"guess-{n}")
    assert len(windows) == 1_000
    clock[0] += 61
    windows.admit(per_minute, "signin", "li.lei")
    assert len(windows) == 1


def test_the_store_never_holds_more_than_its_cap() -> None:
    windows = LocalWindows(max_keys=100)
    per_day = parse_many("20/day")
    for n in range(1_000):
        assert windows.admit(per_day, "signin", f"guess-{n}") == 0
    assert len(windows) == 100
    # The most recent are kept: the last name's first attempt still counts, the first's not.
    assert [windows.admit(per_day, "signin", "guess-999") for _ in range(20)][-1] > 0
    assert [windows.admit(per_day, "signin", "guess-0") for _ in range(20)][-1] == 0
