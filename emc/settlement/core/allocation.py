"""Splitting one statement's amount among the institutions that pay it (分摊), to the fen.

A county-wide custody or savings contract is settled once for many institutions, and the bureau pays one
amount; each institution's finance office books its own part. The part is the institution's weight over the
sum of weights — its measured use in the period, its baseline use, or a fixed share, as the contract's
``[allocation]`` says (contracts/README.md). Rules (the Hamilton / largest-remainder method, applied to whole
fen so the parts always add up to the statement's total exactly):

* every institution first gets the floor of its exact part in fen;
* the fen left over (fewer than the number of institutions) go one each to the largest remainders;
* equal remainders are broken by institution code, ascending, so the split never depends on input order;
* an institution with zero weight gets zero; a negative total is split as its absolute value, then signed.

Weights are exact decimals (quantities, fixed shares); nothing passes through binary floating point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from emc.money import FEN, MoneyError, is_exact_fen, to_decimal

PERCENT = Decimal("0.01")


class AllocationError(ValueError):
    """The amount cannot be split: no positive weight, or a weight that is negative."""


@dataclass(frozen=True)
class Part:
    """One institution's part: its weight, its share of all weights (percent, 2 decimals, for reading only)
    and its amount in whole fen."""

    code: str
    weight: Decimal
    share_percent: Decimal
    amount: Decimal


def allocate(total: Decimal, weights: Mapping[str, Decimal]) -> list[Part]:
    """Split ``total`` (whole fen) in proportion to ``weights`` (institution code → weight ≥ 0), in code
    order. The parts' amounts sum to ``total`` exactly."""
    total = to_decimal(total)
    if not is_exact_fen(total):
        raise MoneyError(f"{total} is not in whole fen")
    for code, weight in weights.items():
        if not to_decimal(weight).is_finite() or weight < 0:
            raise AllocationError(f"institution {code}: weight {weight} is negative; a basis of use cannot be")
    whole = sum((Fraction(w) for w in weights.values()), Fraction(0))
    if not weights or whole == 0:
        raise AllocationError("no institution has a positive basis to split the amount by")
    sign = -1 if total < 0 else 1
    fen_total = int(abs(total).scaleb(2))
    exact = {code: Fraction(fen_total) * Fraction(w) / whole for code, w in weights.items()}
    floors = {code: value.numerator // value.denominator for code, value in exact.items()}
    left = fen_total - sum(floors.values())
    by_remainder = sorted(exact, key=lambda code: (-(exact[code] - floors[code]), code))
    for code in by_remainder[:left]:
        floors[code] += 1
    return [Part(code, Decimal(weights[code]), _percent(Fraction(weights[code]) / whole),
                 (Decimal(sign * floors[code]) * FEN).quantize(FEN)) for code in sorted(weights)]


def _percent(fraction: Fraction) -> Decimal:
    return (Decimal(fraction.numerator) * 100 / Decimal(fraction.denominator)).quantize(PERCENT, ROUND_HALF_UP)
