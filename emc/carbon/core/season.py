"""How much of a year's use falls in its first months: the seasonal profile behind forecasts and pro-rated
quotas (pure). The prior year's own monthly profile when complete, else the calendar (days)."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date
from decimal import Decimal


def days_share(year: int, months: int) -> Decimal:
    """Share of the year's days in its first ``months`` months."""
    days = sum(calendar.monthrange(year, m)[1] for m in range(1, months + 1))
    return Decimal(days) / Decimal(366 if calendar.isleap(year) else 365)


def seasonal_share(year: int, months: int, prior: Sequence[Decimal]) -> tuple[Decimal, str]:
    """Share of a year's numerator expected in its first ``months`` months: the prior year's profile when the
    prior year has twelve months and a positive total, else by days. Returns the share and its basis."""
    if months <= 0:
        return Decimal(0), "none"
    if months >= 12:
        return Decimal(1), "complete"
    if len(prior) == 12 and sum(prior) > 0 and all(v >= 0 for v in prior):
        return sum(prior[:months], Decimal(0)) / sum(prior, Decimal(0)), "prior-year profile"
    return days_share(year, months), "days"


def months_booked(through: date | None, year: int) -> int:
    """Months of ``year`` complete on ``through`` (the last day of data): 0–12."""
    if through is None or through.year < year:
        return 0
    if through.year > year:
        return 12
    last = calendar.monthrange(year, through.month)[1]
    return through.month if through.day == last else through.month - 1
