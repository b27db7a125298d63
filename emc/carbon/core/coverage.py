"""Coverage: which institution × utility × month the ledger has data for — the one place it is derived (pure).

A month of an institution *has data* for a utility when the ledger books consumption of that utility in that
month (from meter readings or bills). An institution is expected to report every utility it meters (PV apart:
it is generation, not use) and every utility it has booked. A month is *complete* for an institution when each
of those utilities has data. Unknown is never zero, so a figure that compares, ranks or judges stands only on
complete months:

- year on year compares, per institution, the months complete in both years (like for like);
- a target is met (已完成) or missed (未完成) only when the year has ended and every institution counted has all
  twelve months; otherwise it is on track or at risk with a forecast;
- leaderboards rank the institutions complete for every month that has ended and list the others as incomplete;
- every page says what it stands on: "数据覆盖 2 / 12 月，38 / 112 家单位" — the months every reporting
  institution has complete, and the institutions complete for every month that has ended, of all in the region.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from .season import months_booked

NOT_USE = frozenset({"pv"})  # generation, not consumption: never expected as a month of use


def elapsed_months(year: int, as_of: date) -> int:
    """Months of ``year`` that have ended before ``as_of`` (0–12)."""
    return months_booked(date.fromordinal(as_of.toordinal() - 1), year)


@dataclass(frozen=True)
class Coverage:
    """One year's coverage over a set of institutions."""

    year: int
    elapsed: int  # months of the year that have ended on the day asked (12 for a past year)
    expected: Mapping[int, frozenset[str]]  # institution → the utilities it must report
    booked: Mapping[tuple[int, str], frozenset[int]]  # (institution, utility) → months (1–12) with consumption

    def months(self, institution: int) -> frozenset[int]:
        """The institution's complete months among those that have ended."""
        utilities = self.expected.get(institution, frozenset())
        if not utilities:
            return frozenset()
        common: set[int] = set(range(1, self.elapsed + 1))
        for u in utilities:
            common &= self.booked.get((institution, u), frozenset())
        return frozenset(common)

    @cached_property  # the booked months are fixed once built; a dashboard asks this once per target and region
    def through(self) -> int:
        """The last ended month with any consumption booked (0: none): how far the year's data reach."""
        return max((m for months in self.booked.values() for m in months if m <= self.elapsed), default=0)

    def complete(self, institution: int) -> bool:
        """Every month that has ended is complete (and at least one has)."""
        return self.elapsed > 0 and len(self.months(institution)) == self.elapsed

    def summary(self, institutions: Iterable[int]) -> dict[str, Any]:
        """What a page says it stands on, over ``institutions`` (all those of the region, with data or not)."""
        ids = list(institutions)
        reporting = {i for (i, _), months in self.booked.items() if any(m <= self.elapsed for m in months)}
        reporting &= set(ids)
        common: set[int] | None = None
        for i in reporting:
            common = set(self.months(i)) if common is None else common & self.months(i)
        complete = [i for i in ids if self.complete(i)]
        return {"year": self.year, "months": len(common or ()), "of_months": 12, "elapsed": self.elapsed,
                "institutions_complete": len(complete), "institutions_reporting": len(reporting),
                "institutions": len(ids), "closed": self.elapsed == 12,
                "complete": bool(ids) and self.elapsed == 12 and len(complete) == len(ids)}


def build(year: int, elapsed: int, metered: Mapping[int, Iterable[str]],
          booked: Mapping[tuple[int, str], Iterable[int]]) -> Coverage:
    """Coverage from the utilities each institution meters and the months the ledger booked."""
    expected: dict[int, set[str]] = {i: {u for u in us if u not in NOT_USE} for i, us in metered.items()}
    for (i, u), months in booked.items():
        if u not in NOT_USE and months:
            expected.setdefault(i, set()).add(u)
    return Coverage(year, elapsed, {i: frozenset(us) for i, us in expected.items()},
                    {k: frozenset(v) for k, v in booked.items() if k[1] not in NOT_USE})


def common_months(now: Coverage, before: Coverage, institution: int) -> frozenset[int]:
    """The months complete in both years: what a like-for-like year-on-year comparison may use."""
    return now.months(institution) & before.months(institution)
