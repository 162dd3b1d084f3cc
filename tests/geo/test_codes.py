from __future__ import annotations

import numpy as np
import pytest

from geo.codes import CodeError, code_problem, generate_codes, normalize_code, reading_order


@pytest.mark.parametrize(
    ("raw", "level", "expected"),
    [
        (310101, 1, "310101"),
        (" 310115 ", 1, "310115"),
        (310115125.0, 2, "310115125"),
        ("310115125003", 3, "310115125003"),
        ("310115125003014", 4, "310115125003014"),
        ("31011512500314", 4, "310115125003014"),  # CJ/T 213 14-digit cell
        ("31011512500399", 4, "310115125003099"),
    ],
)
def test_normalize_accepts_and_widens(raw: object, level: int, expected: str) -> None:
    assert normalize_code(raw, level) == expected


@pytest.mark.parametrize(
    ("raw", "level", "message"),
    [
        ("31011", 1, "has 5 digits, level 1 needs 6"),
        ("3101151250", 2, "has 10 digits, level 2 needs 9"),
        ("31011512500", 3, "has 11 digits"),
        ("3101151250031", 4, "has 13 digits, level 4 needs 15"),
        ("31o101", 1, "is not all digits"),
        ("３１０１０１", 1, "is not all digits"),  # full-width digits are not ASCII
        ("310115000", 2, "zero sequence number"),
        (310101.5, 1, "not a whole number"),
        (None, 1, "is not a code"),
        (True, 1, "is not a code"),
    ],
)
def test_normalize_rejects_with_a_reason(raw: object, level: int, message: str) -> None:
    with pytest.raises(CodeError, match=message):
        normalize_code(raw, level)


def test_normalize_checks_the_parent_prefix() -> None:
    assert normalize_code("310115125", 2, parent="310115") == "310115125"
    with pytest.raises(CodeError, match="does not start with its parent's code 310104"):
        normalize_code("310115125", 2, parent="310104")
    assert code_problem("310115125", 2, "310104") is not None


def test_street_numbers_follow_the_suffix_ranges() -> None:
    names = ["外滩街道", "张江镇", "新村乡", "某开发区", "川沙新镇", "花木街道"]
    x = np.arange(len(names), dtype=float)  # west to east, one row
    y = np.zeros(len(names))
    codes = generate_codes("310115", 2, x, y, names=names, existing=["310115001", "310115100"])
    assert codes == [
        "310115002",  # 001 is taken
        "310115101",  # 100 is taken
        "310115200",
        "310115003",  # no known suffix: the 街道 range
        "310115102",
        "310115004",
    ]


def test_street_range_running_out_is_an_error() -> None:
    existing = [f"310115{n:03d}" for n in range(1, 100)]
    with pytest.raises(CodeError, match="no free level 2 number left in 001-099 under 310115"):
        generate_codes("310115", 2, [0.0], [0.0], names=["新街道"], existing=existing)
    # A town still fits.
    assert generate_codes("310115", 2, [0.0], [0.0], names=["新镇"], existing=existing) == [
        "310115100"
    ]


def test_cells_are_numbered_in_reading_order() -> None:
    # A 3 x 3 block given in scrambled order; 001 is north-west, 009 south-east.
    cols, rows = np.meshgrid([0.0, 1.0, 2.0], [2.0, 1.0, 0.0])
    x, y = cols.ravel(), rows.ravel()
    perm = np.random.default_rng(3).permutation(9)
    codes = generate_codes("310115125003", 4, x[perm], y[perm], row_height=1.0)
    by_position = dict(zip(zip(x[perm], y[perm], strict=True), codes, strict=True))
    assert by_position[(0.0, 2.0)] == "310115125003001"
    assert by_position[(2.0, 2.0)] == "310115125003003"
    assert by_position[(0.0, 1.0)] == "310115125003004"
    assert by_position[(2.0, 0.0)] == "310115125003009"


def test_reading_order_bands_rows_of_uneven_points() -> None:
    # Slightly uneven y within a row must not break west-to-east order.
    x = np.array([2.0, 0.0, 1.0, 0.5])
    y = np.array([10.02, 9.98, 10.0, 8.0])
    assert reading_order(x, y, row_height=1.0).tolist() == [1, 2, 0, 3]


def test_communities_skip_numbers_in_use_and_stop_at_999() -> None:
    codes = generate_codes("310115125", 3, [0.0, 1.0], [0.0, 0.0], existing=["310115125001"])
    assert codes == ["310115125002", "310115125003"]
    existing = [f"310115125{n:03d}" for n in range(1, 1000)]
    with pytest.raises(CodeError, match="001-999"):
        generate_codes("310115125", 3, [0.0], [0.0], existing=existing)


def test_districts_without_a_code_get_the_private_range() -> None:
    assert generate_codes(None, 1, [0.0, 1.0], [0.0, 0.0]) == ["900001", "900002"]


def test_generation_needs_a_well_formed_parent() -> None:
    with pytest.raises(CodeError, match="parent code '31011' has 5 digits"):
        generate_codes("31011", 2, [0.0], [0.0])
    with pytest.raises(ValueError, match="need the parent's code"):
        generate_codes(None, 3, [0.0], [0.0])
