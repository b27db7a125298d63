"""What a synthetic portfolio is asked to be (:class:`PortfolioSpec`) and the demo's spec for a given day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from dateutil.relativedelta import relativedelta

PREFIX = "SYN-"
# The synthetic city's one weather station: every synthetic institution names it, so weather-normalised
# baselines (ASHRAE G14 degree-day models) can be fitted on the generated portfolio as on a real one.
WEATHER_STATION = f"{PREFIX}WX"
TIMEZONE = "Asia/Shanghai"
CHUNK_ROWS = 50_000
Interval = Literal["daily", "hourly", "monthly", "none"]

CATEGORIES = ("organ", "school", "hospital", "venue", "other")
CATEGORY_SHARE = (0.45, 0.30, 0.10, 0.05, 0.10)
CONTRACT_TYPES = ("cost_custody", "shared_savings", "guaranteed_savings", "lease", "hybrid")
TYPE_SHARE = (0.35, 0.30, 0.12, 0.08, 0.15)
UTILITIES = ("electricity", "water", "gas", "pv")


@dataclass(frozen=True)
class PortfolioSpec:
    """What to generate. ``meters`` is a target: every (contract, institution, utility) gets at least
    one meter, so a tiny ``meters`` with many contracts yields more."""

    institutions: int = 415
    contracts: int = 200
    meters: int = 2000
    years: int = 3
    start: date = date(2021, 1, 1)
    interval: Interval = "daily"
    seed: int = 1
    city: str = "320200"
    # benchmark shape: every contract settles monthly from one year into the window (the first year is its
    # baseline) to the window's end, so N contracts over Y years give exactly N × 12 × (Y − 1) contract-months
    settle_monthly: bool = False
    # the readings window ends here (exclusive; a 1st of a month) instead of after ``years`` whole years: the
    # demo's window runs from January of last year to the last full month before the day it is built
    until: date | None = None
    # every institution, under contract or not, meters its electricity, water (and gas): the city's own
    # statistics meters (统计表计) beside the contracts' ones, so the city's ledger has every institution
    meter_every_institution: bool = False
    # a weather station (WEATHER_STATION) with the daily temperatures that drove the readings, named by every
    # institution, so weather-normalised baselines fit (benchmarks); the demo's portfolio has none, so its
    # synthetic contracts wait for a baseline as they did before
    weather: bool = False

    def __post_init__(self) -> None:
        if self.institutions < 1:
            raise ValueError("institutions must be at least 1")
        if self.contracts < 0 or self.meters < 0:
            raise ValueError("contracts and meters must not be negative")
        if not 1 <= self.years <= 20:
            raise ValueError("years must be between 1 and 20")
        if self.interval not in ("daily", "hourly", "monthly", "none"):
            raise ValueError(f"interval {self.interval!r} is not one of daily, hourly, monthly, none")
        if self.interval == "monthly" and self.start.day != 1:
            raise ValueError("monthly readings need a start on the first day of a month")
        if not (len(self.city) == 6 and self.city.isdigit()):
            raise ValueError(f"city {self.city!r} is not a 6-digit GB/T 2260 code")
        if self.until is not None and (self.until <= self.start or self.until.day != 1):
            raise ValueError(f"until {self.until} must be the 1st of a month after start {self.start}")

    @property
    def end(self) -> date:
        """Exclusive end of the readings window."""
        return self.until or add_months(self.start, 12 * self.years)

    @property
    def months(self) -> int:
        """Whole months in the readings window."""
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month


def demo_spec(contracts: int, today: date) -> PortfolioSpec:
    """The demo's city: ``contracts`` synthetic contracts over twice as many institutions, every institution
    metered, monthly readings from January of last year to the last full month before ``today`` (a complete
    previous year and a year to date; deterministic for a given day)."""
    return PortfolioSpec(institutions=contracts * 2, contracts=contracts, meters=contracts * 6, years=2,
                         start=date(today.year - 1, 1, 1), until=today.replace(day=1), interval="monthly", seed=2024,
                         meter_every_institution=True)



def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the last day of a shorter month."""
    return day + relativedelta(months=months)
