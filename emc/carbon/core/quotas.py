"""Energy and water quotas (能耗定额) per institution category, and over-quota warnings (超定额预警): pure.

A quota (GB/T 40498-2021 公共机构能源资源消费定额; Jiangsu DB32/T 4001-2021) gives, for one category of
institution and one indicator, three levels: 约束值 (constraint: the ceiling; an institution above it must explain
itself to the bureau and gets priority for custody contracts), 基准值 (baseline) and 引导值 (guide: what the
best reach). The bureau may correct an institution's quota (a 24-hour data room, a hospital's extra wards) by a
factor or by new levels, with a reason.

Warnings (platform practice, docs/domain.md §4 [K]): year-to-date use is compared with the quota *pro-rated by
season* — the level × the year's denominator × the share of a year's use expected by now (:mod:`.season`) —
and each tier crossed (default 80 / 90 / 100 % of the ``level``, the constraint by default) warns once a year.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from emc.datafiles import Strict

from .indicators import INDICATORS

Level = Literal["constraint", "baseline", "guide"]
DEFAULT_TIERS = (Decimal("0.80"), Decimal("0.90"), Decimal("1.00"))
CATEGORIES = ("organ", "school", "hospital", "venue", "other")  # emc.kinds.InstitutionCategory
RATIO = Decimal("0.0001")


class Quota(Strict):
    id: str = Field(min_length=1, max_length=120)
    version: int = Field(default=1, ge=1)
    region: str = Field(pattern=r"^\d{6}$")  # applies to institutions in this region's subtree
    category: str
    indicator: str
    constraint: Decimal = Field(gt=0)  # 约束值
    baseline: Decimal = Field(gt=0)  # 基准值
    guide: Decimal = Field(gt=0)  # 引导值
    year_from: int | None = Field(default=None, ge=2000, le=2100)
    year_to: int | None = Field(default=None, ge=2000, le=2100)
    tiers: tuple[Decimal, ...] = DEFAULT_TIERS
    level: Level = "constraint"  # the level warnings measure against
    source: str = Field(min_length=1, max_length=500)
    illustrative: bool = False  # figures made up in the standard's shape: not for real decisions

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        if v not in CATEGORIES:
            raise ValueError(f"category {v!r} is not one of {list(CATEGORIES)}")
        return v

    @field_validator("indicator")
    @classmethod
    def _indicator(cls, v: str) -> str:
        if v not in INDICATORS:
            raise ValueError(f"indicator {v!r} is not one of {sorted(INDICATORS)}")
        return v

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        if not v or list(v) != sorted(set(v)) or not all(Decimal(0) < t <= Decimal(2) for t in v):
            raise ValueError("tiers must be increasing fractions of the level, each in (0, 2] (e.g. [0.8, 0.9, 1.0])")
        return v

    @model_validator(mode="after")
    def _order(self) -> Quota:
        if not self.guide <= self.baseline <= self.constraint:
            raise ValueError(f"levels must satisfy guide ≤ baseline ≤ constraint (got {self.guide}, {self.baseline}, "
                             f"{self.constraint})")
        if self.year_from and self.year_to and self.year_to < self.year_from:
            raise ValueError(f"year_to {self.year_to} is before year_from {self.year_from}")
        return self

    def applies_to(self, year: int) -> bool:
        return (self.year_from is None or year >= self.year_from) and (self.year_to is None or year <= self.year_to)


class Correction(Strict):
    """An institution's correction of one quota: a factor on all levels, or new levels."""

    institution: str = Field(min_length=1, max_length=40)  # institution code
    quota: str = Field(min_length=1, max_length=120)  # quota id
    factor: Decimal | None = Field(default=None, gt=0, le=5)
    constraint: Decimal | None = Field(default=None, gt=0)
    baseline: Decimal | None = Field(default=None, gt=0)
    guide: Decimal | None = Field(default=None, gt=0)
    reason: str = Field(min_length=5, max_length=500)

    @model_validator(mode="after")
    def _one_way(self) -> Correction:
        levels = (self.constraint, self.baseline, self.guide)
        if (self.factor is None) == all(v is None for v in levels):
            raise ValueError("give either factor, or constraint/baseline/guide, not both and not neither")
        return self


@dataclass(frozen=True)
class Levels:
    constraint: Decimal
    baseline: Decimal
    guide: Decimal
    corrected_by: str = ""  # the correction's reason, when there is one

    def of(self, level: str) -> Decimal:
        return Decimal(getattr(self, level))


def levels(quota: Quota, correction: Correction | None = None) -> Levels:
    """The quota's levels for one institution, with its correction applied."""
    if correction is None:
        return Levels(quota.constraint, quota.baseline, quota.guide)
    if correction.factor is not None:
        f = correction.factor
        return Levels(quota.constraint * f, quota.baseline * f, quota.guide * f, correction.reason)
    out = Levels(correction.constraint or quota.constraint, correction.baseline or quota.baseline,
                 correction.guide or quota.guide, correction.reason)
    if not out.guide <= out.baseline <= out.constraint:
        raise ValueError(f"correction of {quota.id} for {correction.institution}: levels must satisfy "
                         "guide ≤ baseline ≤ constraint")
    return out


def grade(value: Decimal | None, lv: Levels) -> str | None:
    """Where a year's indicator falls: within the guide, the baseline, the constraint, or over quota."""
    if value is None:
        return None
    if value <= lv.guide:
        return "guide"
    if value <= lv.baseline:
        return "baseline"
    if value <= lv.constraint:
        return "constraint"
    return "over"


@dataclass(frozen=True)
class QuotaCheck:
    level: str
    level_value: Decimal  # the (corrected) annual level, e.g. kgce/m²
    year_to_date: Decimal  # the numerator so far (kgce or m³)
    allowed_to_date: Decimal  # level × denominator × seasonal share
    share: Decimal
    ratio: Decimal  # year_to_date ÷ allowed_to_date
    crossed: tuple[Decimal, ...]  # every tier at or below the ratio

    def as_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Decimal) else ([str(t) for t in v] if isinstance(v, tuple) else v)
                for k, v in self.__dict__.items()}


def check(lv: Levels, level: str, tiers: Iterable[Decimal], year_to_date: Decimal, denominator: Decimal,
          share: Decimal) -> QuotaCheck | None:
    """Year-to-date use against the pro-rated quota; None when there is nothing to compare (no denominator, no
    month booked)."""
    if denominator <= 0 or share <= 0:
        return None
    level_value = lv.of(level)
    allowed = level_value * denominator * share
    ratio = (year_to_date / allowed).quantize(RATIO, rounding=ROUND_HALF_UP)
    crossed = tuple(t for t in tiers if ratio >= t)
    return QuotaCheck(level, level_value, year_to_date, allowed.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP),
                      share.quantize(RATIO, rounding=ROUND_HALF_UP), ratio, crossed)


def new_tiers(result: QuotaCheck, already: Iterable[Decimal]) -> list[Decimal]:
    """Tiers crossed that have not warned yet this year: each tier warns exactly once, even when one month
    crosses several, and a ratio falling back below a tier does not make it warn again."""
    done = {Decimal(t) for t in already}
    return [t for t in result.crossed if t not in done]


def applicable(quotas: Iterable[Quota], path: str, year: int) -> Quota | None:
    """Of the quotas for one category and indicator, the one for an institution at ``path``
    ("/320000/320200/320211/") in ``year``: the most specific region, then the latest version."""
    codes = [c for c in path.split("/") if c]
    best: tuple[tuple[int, int], Quota] | None = None
    for q in quotas:
        if q.region in codes and q.applies_to(year):
            rank = (codes.index(q.region), q.version)
            if best is None or rank > best[0]:
                best = (rank, q)
    return best[1] if best else None
