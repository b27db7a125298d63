"""Indicator targets (year-on-year or multi-year cuts) and their status during the year: pure.

A target cuts one indicator by ``cut`` (a fraction) from its value in ``base_year`` by ``year``: Changzhou's
2022 targets are one-year cuts (base 2021), the national 2025 targets cut from 2020 over five years (国管局、国家
发展改革委《"十四五"公共机构节约能源资源工作规划》). For a year between the two the milestone is the straight line:
``threshold(y) = base × (1 − cut × (y − base_year) / (year − base_year))``.

Status of a target in a year, from the months booked so far over the institutions whose data are complete
(:mod:`.coverage`; the rule, in order):

1. no base value, no denominator or no month booked → ``no_data``;
2. the year has ended and every institution's twelve months are complete (``Progress.closed``) → ``met``
   (已完成) if the year's indicator ≤ the threshold, else ``missed`` (未完成). Only then: a verdict on a year
   whose data are missing would be a verdict on zeros;
3. otherwise forecast the year-end numerator as year-to-date ÷ the share of the prior year's numerator that fell
   in the same months (its seasonal profile; by days when the prior year is incomplete or empty; the twelve
   months themselves when all are booked but some institution's are not) → ``on_track`` if the forecast
   indicator ≤ the threshold, else ``at_risk``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from emc.datafiles import Strict

from .indicators import CENT, INDICATORS
from .season import seasonal_share

Status = Literal["met", "on_track", "at_risk", "missed", "no_data"]
NATIONAL = "cn"  # a target of the whole country: shown to every region as a reference


def _indicator(name: str) -> str:
    if name not in INDICATORS:
        raise ValueError(f"indicator {name!r} is not one of {sorted(INDICATORS)}")
    return name


class Target(Strict):
    id: str = Field(min_length=1, max_length=120)
    region: str = Field(pattern=r"^(\d{6}|cn)$")
    indicator: str
    year: int = Field(ge=2000, le=2100)
    base_year: int = Field(ge=2000, le=2100)
    cut: Decimal = Field(gt=0, lt=1)  # 0.015 = a 1.5 % cut
    source: str = Field(min_length=1, max_length=500)
    tag: Literal["V", "S", "K"] | None = None

    @model_validator(mode="after")
    def _years(self) -> Target:
        _indicator(self.indicator)
        if self.base_year >= self.year:
            raise ValueError(f"base_year {self.base_year} must be before year {self.year}")
        return self

    def applies_to(self, year: int) -> bool:
        return self.base_year < year <= self.year

    def threshold(self, base_value: Decimal, year: int) -> Decimal:
        """The milestone for ``year`` on the straight line from the base year to the target year."""
        if not self.applies_to(year):
            raise ValueError(f"target {self.id} runs from {self.base_year + 1} to {self.year}, not {year}")
        fraction = Decimal(year - self.base_year) / Decimal(self.year - self.base_year)
        return (base_value * (1 - self.cut * fraction)).quantize(CENT, rounding=ROUND_HALF_UP)


class Reference(Strict):
    """A published actual to compare with (e.g. the national 2022 averages)."""

    id: str = Field(min_length=1, max_length=120)
    region: str = Field(pattern=r"^(\d{6}|cn)$")
    indicator: str
    year: int = Field(ge=2000, le=2100)
    value: Decimal = Field(gt=0)
    source: str = Field(min_length=1, max_length=500)
    tag: Literal["V", "S", "K"] | None = None

    @model_validator(mode="after")
    def _known(self) -> Reference:
        _indicator(self.indicator)
        return self


# -- status ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    """An indicator's year so far: the numerator of each booked month (January first), the year's
    denominator, the prior year's twelve monthly numerators, and the indicator in the target's base year."""

    monthly: tuple[Decimal, ...]
    denominator: Decimal
    prior_monthly: tuple[Decimal, ...] = ()
    base_value: Decimal | None = None
    closed: bool = False  # the year has ended and every institution's twelve months are complete
    institutions: int = 0  # the institutions these figures stand on
    of: int = 0  # of how many that should report


@dataclass(frozen=True)
class TargetStatus:
    target: Target
    year: int
    status: Status
    threshold: Decimal | None
    actual: Decimal | None  # the year's indicator so far (the year's when complete)
    forecast: Decimal | None  # the year-end forecast
    months: int
    basis: str  # how the forecast was made
    base_value: Decimal | None
    institutions: int = 0
    of: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target.id, "region": self.target.region, "indicator": self.target.indicator,
                "year": self.year, "target_year": self.target.year, "base_year": self.target.base_year,
                "cut": str(self.target.cut), "status": self.status, "threshold": _s(self.threshold),
                "actual": _s(self.actual), "forecast": _s(self.forecast), "months": self.months,
                "basis": self.basis, "base_value": _s(self.base_value), "source": self.target.source,
                "institutions": self.institutions, "of": self.of}


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def assess(target: Target, year: int, progress: Progress) -> TargetStatus:
    """The target's status in ``year`` (rule in the module docstring)."""
    months = len(progress.monthly)
    if months > 12:
        raise ValueError(f"{months} months booked in one year")
    base = progress.base_value
    threshold = target.threshold(base, year) if base is not None else None
    counted = (progress.institutions, progress.of)
    if threshold is None or progress.denominator <= 0 or months == 0:
        return TargetStatus(target, year, "no_data", threshold, None, None, months, "none", base, *counted)
    ytd = sum(progress.monthly, Decimal(0))
    actual = (ytd / progress.denominator).quantize(CENT, rounding=ROUND_HALF_UP)
    if months == 12 and progress.closed:
        return TargetStatus(target, year, "met" if actual <= threshold else "missed", threshold, actual, actual, 12,
                            "complete", base, *counted)
    share, basis = seasonal_share(year, months, progress.prior_monthly)
    if months == 12:
        basis = "incomplete"  # twelve months, but not every institution's: the verdict waits for the rest
    forecast = (ytd / share / progress.denominator).quantize(CENT, rounding=ROUND_HALF_UP) if share > 0 else None
    status: Status = "on_track" if forecast is not None and forecast <= threshold else "at_risk"
    return TargetStatus(target, year, status, threshold, actual, forecast, months, basis, base, *counted)
