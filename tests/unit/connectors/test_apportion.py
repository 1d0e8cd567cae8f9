"""Exact scaling and largest-remainder apportioning."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.sources.apportion import apportion, exact_scale, scaled_count

counts = st.integers(min_value=0, max_value=10**7)
decimal_scales = st.decimals(min_value=0, max_value=100, places=3, allow_nan=False)
named_scales = st.sampled_from(["0.1", "0.25", "1", "2.5", "0.001", "0.5", "3"])
weight_lists = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=0, max_value=1e6, allow_nan=False)),
    min_size=1,
    max_size=48,
)


@pytest.mark.parametrize(
    ("count", "scale", "expected"),
    [
        (5, 0.1, 0),  # 0.5 rounds to even; a binary float product would give 1
        (15, 0.1, 2),
        (25, "0.1", 2),
        (35, Decimal("0.1"), 4),
        (3, 2.5, 8),  # 7.5 -> 8
        (5, "0.5", 2),  # 2.5 -> 2
        (7, 1, 7),
        (7, 0, 0),
        (10**30 + 5, 0.1, 10**29),
    ],
)
def test_scaled_count_rounds_half_even_on_the_exact_product(count, scale, expected) -> None:
    assert scaled_count(count, scale) == expected


@given(count=counts, scale=st.one_of(decimal_scales, named_scales))
def test_scaled_count_is_the_exact_rounded_product(count: int, scale: Decimal | str) -> None:
    exact = count * Fraction(Decimal(scale))
    result = scaled_count(count, scale)
    assert abs(result - exact) <= Fraction(1, 2)
    if abs(result - exact) == Fraction(1, 2):
        assert result % 2 == 0


@given(count=counts, scale=decimal_scales)
def test_a_float_scale_means_its_decimal_form(count: int, scale: Decimal) -> None:
    assert scaled_count(count, float(scale)) == scaled_count(count, str(float(scale)))


@pytest.mark.parametrize("scale", [-0.1, "-1", float("nan"), float("inf"), "abc", Decimal("NaN")])
def test_bad_scales_are_refused(scale) -> None:
    with pytest.raises(ValueError, match="scale"):
        exact_scale(scale)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        scaled_count(-1, 1)


@given(total=counts, weights=weight_lists)
def test_apportion_is_exact_and_within_one_of_the_quota(total: int, weights: list[float]) -> None:
    weight_sum = sum(Fraction(w) for w in weights)
    if weight_sum == 0:
        if total:
            with pytest.raises(ValueError, match="all zero"):
                apportion(total, weights)
        else:
            assert apportion(total, weights) == [0] * len(weights)
        return
    shares = apportion(total, weights)
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        quota = total * Fraction(weight) / weight_sum
        assert math.floor(quota) <= share <= math.ceil(quota)
        if weight == 0:
            assert share == 0


@given(total=counts, scale=st.one_of(decimal_scales, named_scales), weights=weight_lists)
def test_scaled_then_apportioned_counts_never_drift(total, scale, weights) -> None:
    if not any(weights):
        weights = [*weights, 1.0]
    n = scaled_count(total, scale)
    assert sum(apportion(n, weights)) == n


def test_ties_go_to_the_lower_index() -> None:
    assert apportion(1, [1, 1, 1]) == [1, 0, 0]
    assert apportion(2, [1, 1, 1]) == [1, 1, 0]
    assert apportion(5, [0, 1, 0, 1]) == [0, 3, 0, 2]


@pytest.mark.parametrize(
    ("total", "weights", "message"),
    [
        (-1, [1.0], "total"),
        (1, [], "empty"),
        (1, [1.0, -0.5], "negative"),
        (1, [math.inf], "finite"),
    ],
)
def test_bad_arguments_are_refused(total, weights, message) -> None:
    with pytest.raises(ValueError, match=message):
        apportion(total, weights)
