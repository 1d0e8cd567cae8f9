"""Exact integer arithmetic for turning published counts into event counts.

`scaled_count` scales a count with round-half-even on the exact decimal product, and
`apportion` splits an integer over weights (largest remainder) so that the parts add up
to the whole: a replay never drifts from the official figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

Scale = Decimal | float | str | int | Fraction
MAX_SCALE_EXPONENT = 30


def exact_scale(scale: Scale) -> Fraction:
    """`scale` as an exact non-negative fraction; a float stands for its shortest decimal
    form (0.1 is 1/10, not the binary value nearest to it)."""
    if isinstance(scale, bool):
        raise TypeError("scale must be a number, not a bool")
    if isinstance(scale, float):
        if not math.isfinite(scale):
            raise ValueError(f"scale must be finite, got {scale!r}")
        scale = repr(scale)
    if isinstance(scale, str):
        try:
            scale = Decimal(scale.strip())
        except ArithmeticError:
            raise ValueError(f"scale is not a number: {scale!r}") from None
    if isinstance(scale, Decimal) and not scale.is_finite():
        raise ValueError(f"scale must be finite, got {scale}")
    if isinstance(scale, Decimal) and scale and abs(scale.adjusted()) > MAX_SCALE_EXPONENT:
        # the exact fraction of 1e999999999 alone would not fit in memory
        raise ValueError(f"scale must lie within 1e-{MAX_SCALE_EXPONENT} and 1e{MAX_SCALE_EXPONENT}")
    exact = Fraction(scale)
    if exact < 0:
        raise ValueError(f"scale must not be negative, got {scale}")
    return exact


def scaled_count(count: int, scale: Scale) -> int:
    """round-half-even(count x scale), computed exactly: 5 x 0.1 = 0.5 gives 0, 15 x 0.1 gives 2."""
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    return round(count * exact_scale(scale))


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` over `weights` by largest remainder (Hamilton).

    The shares add up to `total` exactly and each is the floor or the ceiling of its exact
    quota `total * w / sum(weights)`; zero weights get zero. Ties between equal remainders
    go to the lower index, so the result depends only on the arguments.
    """
    if total < 0:
        raise ValueError(f"total must not be negative, got {total}")
    if not weights:
        raise ValueError("weights must not be empty")
    exact: list[Fraction] = []
    for weight in weights:
        if isinstance(weight, float) and not math.isfinite(weight):
            raise ValueError(f"weights must be finite, got {weight!r}")
        value = Fraction(weight)
        if value < 0:
            raise ValueError(f"weights must not be negative, got {weight!r}")
        exact.append(value)
    weight_sum = sum(exact)
    if weight_sum == 0:
        if total:
            raise ValueError(f"cannot apportion {total} over weights that are all zero")
        return [0] * len(exact)
    shares: list[int] = []
    remainders: list[Fraction] = []
    for value in exact:
        share, remainder = divmod(total * value, weight_sum)
        shares.append(int(share))
        remainders.append(remainder)
    left = total - sum(shares)
    # Stable sort: equal remainders keep index order, so the lower index wins the tie.
    for index in sorted(range(len(exact)), key=remainders.__getitem__, reverse=True)[:left]:
        shares[index] += 1
    return shares
