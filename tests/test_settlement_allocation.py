"""The split of one statement's amount among its institutions (emc.settlement.core.allocation): to the fen,
summing exactly to the total, deterministic, by largest remainder."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emc.money import MoneyError
from emc.settlement.core.allocation import AllocationError, allocate

D = Decimal


def amounts(parts: list) -> dict[str, Decimal]:
    return {p.code: p.amount for p in parts}


def test_a_hand_computed_three_way_split() -> None:
    # 100.00 元 by 1 : 1 : 1 is 33.333… each: 3333 fen each, one fen left over; the remainders are equal, so the
    # first code in order gets it
    parts = allocate(D("100.00"), {"B": D(1), "A": D(1), "C": D(1)})
    assert amounts(parts) == {"A": D("33.34"), "B": D("33.33"), "C": D("33.33")}
    assert [p.share_percent for p in parts] == [D("33.33")] * 3
    assert [p.code for p in parts] == ["A", "B", "C"]


def test_largest_remainder_wins_the_left_over_fen() -> None:
    # 10.00 元 by 0.5 : 0.3 : 0.2 exactly: no remainder; 0.01 元 by 2 : 7 : 1 → the fen goes to the biggest part
    assert amounts(allocate(D("10.00"), {"X": D("0.5"), "Y": D("0.3"), "Z": D("0.2")})) == {
        "X": D("5.00"), "Y": D("3.00"), "Z": D("2.00")}
    assert amounts(allocate(D("0.01"), {"A": D(2), "B": D(7), "C": D(1)})) == {
        "A": D("0.00"), "B": D("0.01"), "C": D("0.00")}
    # 1.00 元 by 1 : 2 : 3: exact parts 16.67, 33.33, 50 fen → floors 16, 33, 50, the fen to A (0.67 > 0.33)
    assert amounts(allocate(D("1.00"), {"A": D(1), "B": D(2), "C": D(3)})) == {
        "A": D("0.17"), "B": D("0.33"), "C": D("0.50")}


def test_one_institution_takes_the_whole_amount() -> None:
    parts = allocate(D("2731057.51"), {"YX-XZZX": D("123456.789")})
    assert amounts(parts) == {"YX-XZZX": D("2731057.51")}
    assert parts[0].share_percent == D("100.00")


def test_zero_use_institutions_get_nothing_and_the_rest_get_everything() -> None:
    parts = amounts(allocate(D("999.99"), {"A": D(0), "B": D("10.5"), "C": D(0), "D": D("10.5")}))
    assert parts["A"] == parts["C"] == D("0.00")
    assert parts["B"] + parts["D"] == D("999.99")


def test_a_negative_total_is_split_as_its_absolute_value() -> None:
    parts = amounts(allocate(D("-0.04"), {"A": D(1), "B": D(1), "C": D(1)}))
    assert parts == {"A": D("-0.02"), "B": D("-0.01"), "C": D("-0.01")}


def test_the_split_does_not_depend_on_the_order_of_the_input() -> None:
    weights = {"C": D(1), "A": D(1), "B": D(1), "D": D(3)}
    assert allocate(D("7.01"), weights) == allocate(D("7.01"), dict(sorted(weights.items())))


def test_refusals_say_why() -> None:
    with pytest.raises(AllocationError, match="no institution has a positive basis"):
        allocate(D("10.00"), {"A": D(0), "B": D(0)})
    with pytest.raises(AllocationError, match="no institution"):
        allocate(D("10.00"), {})
    with pytest.raises(AllocationError, match="institution B: weight -1 is negative"):
        allocate(D("10.00"), {"A": D(1), "B": D(-1)})
    with pytest.raises(MoneyError, match="not in whole fen"):
        allocate(D("10.001"), {"A": D(1)})


codes = st.text(alphabet="ABCDEFGHXYZ0123456789-", min_size=1, max_size=8)
weights = st.dictionaries(codes, st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False,
                                             allow_infinity=False), min_size=1, max_size=40)
totals = st.integers(min_value=-10**12, max_value=10**12).map(lambda f: (D(f) / 100).quantize(D("0.01")))


@settings(max_examples=300, deadline=None)
@given(total=totals, weights=weights)
def test_property_parts_sum_exactly_and_follow_the_weights(total: Decimal, weights: dict[str, Decimal]) -> None:
    if sum(weights.values()) == 0:
        with pytest.raises(AllocationError):
            allocate(total, weights)
        return
    parts = allocate(total, weights)
    assert sum(p.amount for p in parts) == total  # exact to the fen
    assert all(p.amount == p.amount.quantize(D("0.01")) for p in parts)
    assert [p.code for p in parts] == sorted(weights)
    whole = sum(weights.values())
    for p in parts:
        if weights[p.code] == 0:
            assert p.amount == 0  # zero use pays nothing
        elif total > 0:
            assert p.amount >= 0  # no negative part when every share is positive
        # never more than one fen from the exact proportional part
        exact = total * weights[p.code] / whole
        assert abs(p.amount - exact) < D("0.01")
