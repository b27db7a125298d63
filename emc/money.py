"""The one place money is made: Decimal, CNY, rounded half-up to the fen (0.01) at documented points.

Never pass a float here: a float has already lost the fen (0.1 + 0.2). Convert from str/int/Decimal.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

FEN = Decimal("0.01")


class MoneyError(ValueError):
    pass


def to_decimal(value: Any) -> Decimal:
    """Exact Decimal from str, int or Decimal; floats are refused."""
    if isinstance(value, bool | float):
        raise MoneyError(f"{value!r}: money and prices must be given as text or integers, not floats")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip().replace(",", ""))
        except InvalidOperation as exc:
            raise MoneyError(f"{value!r} is not a number") from exc
    else:
        raise MoneyError(f"{value!r} ({type(value).__name__}) is not a number")
    if not result.is_finite():
        raise MoneyError(f"{value!r} is not a finite number")
    return result


def fen(value: Any) -> Decimal:
    """Round to the fen, half-up (the rule Chinese finance offices use)."""
    return to_decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def is_exact_fen(value: Decimal) -> bool:
    return value == value.quantize(FEN)


def to_fen_int(value: Decimal) -> int:
    """Integer fen for storage; refuses amounts that are not already whole fen."""
    if not is_exact_fen(value):
        raise MoneyError(f"{value} has fractions of a fen; round with money.fen() first")
    return int(value.scaleb(2))


def from_fen_int(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(FEN)


def format_cny(value: Decimal) -> str:
    """12,345.60 style, for pages and PDFs."""
    return f"{fen(value):,.2f}"
