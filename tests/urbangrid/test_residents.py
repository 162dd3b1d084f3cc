"""Duplicates and the steps open to a resident, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from urbangrid.domain.residents import (
    Nearby,
    ResidentView,
    bounding_box,
    distance_m,
    nearest_open_case,
    resident_actions,
)
from urbangrid.domain.states import CaseState

SHANGHAI = (31.2304, 121.4737)
offsets = st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01))


@given(st.lists(offsets, max_size=30), st.floats(1, 1000))
def test_the_joined_case_is_the_nearest_within_the_radius(
    moves: list[tuple[float, float]], radius: float
) -> None:
    lat, lon = SHANGHAI
    candidates = [Nearby(i + 1, lat + a, lon + b) for i, (a, b) in enumerate(moves)]
    found = nearest_open_case(candidates, lat=lat, lon=lon, radius_m=radius)
    distances = {c.case_id: distance_m(lat, lon, c.lat, c.lon) for c in candidates}
    within = {i: d for i, d in distances.items() if d <= radius}
    if not within:
        assert found is None
        return
    assert found is not None and distances[found] == min(within.values())
    # The box the database pre-filters with holds every candidate within the radius.
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius)
    for case_id in within:
        candidate = candidates[case_id - 1]
        assert min_lat <= candidate.lat <= max_lat and min_lon <= candidate.lon <= max_lon


def test_steps_open_to_a_resident() -> None:
    closed = datetime(2026, 5, 6, 10, tzinfo=UTC)
    window = timedelta(days=7)
    for state in CaseState:
        view = ResidentView(state, closed if state == CaseState.CLOSED else None, False, False)
        allowed = resident_actions(view, now=closed + timedelta(hours=1), reopen_window=window)
        if state == CaseState.CLOSED:
            assert allowed == ["rate", "reopen"]
        elif state == CaseState.VOID:
            assert allowed == []
        else:
            assert allowed == ["comment", "photo"]
    done = ResidentView(CaseState.CLOSED, closed, True, True)
    assert resident_actions(done, now=closed, reopen_window=window) == []
    late = ResidentView(CaseState.CLOSED, closed, False, False)
    assert resident_actions(
        late, now=closed + window + timedelta(seconds=1), reopen_window=window
    ) == ["rate"]
