"""The ranking: a floor of cases, shared ranks, and the documented second key."""

from __future__ import annotations

from urbangrid.domain.metrics import Entrant, standings


def listed(entrants: list[Entrant], min_cases: int) -> list[tuple[str, bool, int | None]]:
    places = standings(entrants, min_cases=min_cases)
    order = sorted(range(len(entrants)), key=lambda i: places[i].position)
    return [(entrants[i].name, places[i].ranked, places[i].rank) for i in order]


def test_low_volume_departments_are_unranked_and_ties_share_a_rank() -> None:
    entrants = [
        # Eleven street offices with a handful of cases and a perfect-looking score.
        *(Entrant(94.0, 4 + i % 4, f"street office {i:02d}") for i in range(11)),
        Entrant(88.0, 120, "Roads"),
        Entrant(88.0, 300, "Water"),
        Entrant(91.0, 40, "Parks"),
        Entrant(88.0, 120, "Greening"),
        Entrant(70.0, 20, "Markets"),  # exactly at the floor: ranked
        Entrant(None, 0, "New office"),
    ]
    found = listed(entrants, min_cases=20)
    assert found[:5] == [
        ("Parks", True, 1),
        ("Water", True, 2),  # tied at 88: more cases due first,
        ("Greening", True, 2),  # then by name
        ("Roads", True, 2),
        ("Markets", True, 5),  # competition ranks: after three at 2 comes 5
    ]
    unranked = found[5:]
    assert all(not ranked and rank is None for _, ranked, rank in unranked)
    # The unranked in the same order: more cases first, then by name; no score last.
    assert [name for name, _, _ in unranked][:3] == [
        "street office 03",
        "street office 07",
        "street office 02",
    ]
    assert unranked[-1][0] == "New office"


def test_with_no_floor_everyone_with_a_score_is_ranked() -> None:
    entrants = [Entrant(50.0, 1, "b"), Entrant(50.0, 1, "a"), Entrant(None, 9, "c")]
    assert listed(entrants, min_cases=0) == [("a", True, 1), ("b", True, 1), ("c", False, None)]
