"""The numbers on a chart's axis: round ticks ("nice numbers"), 万/亿 in Chinese and k/M in English.

Pure functions (no page, no database): :func:`nice_ticks` picks a step of 1, 2, 2.5 or 5 × 10ⁿ so that about
five ticks cover the data; :func:`tick_label` writes one tick in the scale of the largest (3,750,000 → "375万" in
Chinese, "3.75M" in English), with exactly the decimals the step needs, so that ticks never read ``3.74737M``
or ``-10517.7``; :func:`value_text` writes one value for a tooltip, with separators.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

from emc.i18n import grouped

_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
# the scale of a tick: (threshold, divisor, suffix), largest first
_SCALES = {"zh": ((Decimal(10) ** 8, "亿"), (Decimal(10) ** 4, "万")),
           "en": ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k"))}


def nice_step(span: float, count: int = 5) -> Decimal:
    """The round step (1, 2, 2.5 or 5 × 10ⁿ) that cuts ``span`` into at most ``count`` intervals."""
    if not math.isfinite(span) or span <= 0:
        return Decimal(1)
    raw = Decimal(repr(span)) / count
    exp = Decimal(10) ** math.floor(math.log10(float(raw)))
    for m in _STEPS:
        if raw <= m * exp:
            return (m * exp).normalize()
    return (10 * exp).normalize()  # pragma: no cover - raw ≤ 10 × exp by the choice of exp


def nice_ticks(low: float, high: float, count: int = 5, *, from_zero: bool = True) -> list[Decimal]:
    """Round ticks covering [low, high]: the first at or below ``low`` (or at 0 with ``from_zero`` and data that
    does not cross it), the last at or above ``high``, ``count`` intervals or fewer."""
    if from_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if high <= low:
        high = low + (abs(low) or 1.0)
    step = nice_step(high - low, count)
    while True:
        first = (Decimal(repr(low)) / step).to_integral_value(rounding="ROUND_FLOOR") * step
        last = (Decimal(repr(high)) / step).to_integral_value(rounding="ROUND_CEILING") * step
        n = int((last - first) / step)
        if n <= count + 1:
            return [first + i * step for i in range(n + 1)]
        step = nice_step(float(step) * (n + 1), count)  # pragma: no cover - rounding out made one too many


def _scale(largest: Decimal, lang: str) -> tuple[Decimal, str]:
    for divisor, suffix in _SCALES.get(lang, _SCALES["zh"]):
        if largest >= divisor:
            return divisor, suffix
    return Decimal(1), ""


def _digits(step: Decimal) -> int:
    """Decimals a value needs to show ``step``'s precision: 2.5 → 1, 500 → 0, 0.25 → 2."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _plain(value: Decimal, digits: int, lang: str) -> str:
    """``value`` rounded to ``digits`` (half up), then signed: never ``-0``."""
    return grouped(value, digits, lang)


def tick_label(value: Decimal, ticks: list[Decimal], lang: str = "zh") -> str:
    """One tick's text, in the scale of the axis's largest tick: 1,500,000 on an axis up to 2,000,000 is
    "150万" in Chinese and "1.5M" in English; 2,500 on an axis up to 8,000 is "2,500" / "2.5k"."""
    if value == 0:
        return "0"
    largest = max((abs(t) for t in ticks), default=Decimal(0))
    divisor, suffix = _scale(largest, lang)
    step = min((abs(b - a) for a, b in zip(ticks, ticks[1:], strict=False) if b != a), default=Decimal(1))
    text = _plain(value / divisor, _digits(step / divisor), lang)
    return text + suffix


def value_text(value: float, lang: str = "zh") -> str:
    """A value in a tooltip: separators, no decimals from 100 up, two below (12,345 · 98.7 → "98.70")."""
    if not math.isfinite(value):
        return "—"
    return _plain(Decimal(repr(value)), 0 if abs(value) >= 100 else 2, lang)


def percent_text(fraction: float | Decimal | None, digits: int = 1, *, signed: bool = False) -> str:
    """A fraction as a percentage, rounded before it is signed (−0.00004 → "0.0%", never "-0.0%"); "—" for none
    or NaN. ``signed`` puts "+" before a rise."""
    if fraction is None:
        return "—"
    d = Decimal(str(fraction))
    if not d.is_finite():
        return "—"
    q = (d * 100).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    sign = "+" if q > 0 and signed else "−" if q < 0 else ""
    return f"{sign}{abs(q):,.{digits}f}%"


_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def written(value: object, lang: str = "zh") -> object:
    """A number from a contract's terms (a number, or text that is only a number) with separators and the decimals
    it was written with (16179328.00 → "16,179,328.00", 160000 → "160,000"); anything else (a word, a date, a
    flag) as it is."""
    if isinstance(value, str) and _DECIMAL.match(value):  # the terms keep money as text, exact to the fen
        value = Decimal(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return value
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not d.is_finite():
        return value
    return _plain(d, max(0, -int(d.as_tuple().exponent)), lang)
