"""The four public-institution indicators and their year-on-year change: pure.

From the statistics form 公共机构能源资源消费统计 (docs/domain.md §4): floor area is office area only (no housing or
dormitories), energy users are everyone actually working there, including non-staff. National figures for 2022
(321.27 kgce/person, 18.03 kgce/m², 20.99 m³/person) are in ``seed/targets.toml`` as references.

| name              | formula                              | unit          |
|-------------------|--------------------------------------|---------------|
| energy_per_capita | comprehensive energy ÷ energy users  | kgce/person   |
| energy_per_area   | comprehensive energy ÷ floor area    | kgce/m²       |
| water_per_capita  | water ÷ energy users                 | m³/person     |
| carbon_per_area   | CO₂ (scope 1 + 2) ÷ floor area       | kgCO₂/m²      |

Values are rounded half-up to 0.01 of their unit, changes to 0.0001 (0.01 %). An indicator without a
denominator (no floor area or users recorded for the year) is None, never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

IndicatorName = Literal["energy_per_capita", "energy_per_area", "water_per_capita", "carbon_per_area"]
INDICATORS: dict[str, tuple[str, str, str, str]] = {
    # name: (numerator, denominator, unit, 中文)
    "energy_per_capita": ("energy_kgce", "energy_users", "kgce/person", "人均综合能耗"),
    "energy_per_area": ("energy_kgce", "floor_area_m2", "kgce/m2", "单位建筑面积能耗"),
    "water_per_capita": ("water_m3", "energy_users", "m3/person", "人均用水量"),
    "carbon_per_area": ("co2_kg", "floor_area_m2", "kgCO2/m2", "单位建筑面积碳排放"),
}
CENT = Decimal("0.01")
BASIS_POINT = Decimal("0.0001")


@dataclass(frozen=True)
class Totals:
    """Numerators and denominators of one institution or region for one year (or part of it)."""

    energy_kgce: Decimal = Decimal(0)
    co2_kg: Decimal = Decimal(0)
    water_m3: Decimal = Decimal(0)
    floor_area_m2: Decimal = Decimal(0)
    energy_users: Decimal = Decimal(0)
    # per-capita water over the institutions whose water is metered (None: the same users as energy)
    water_users: Decimal | None = None

    def numerator(self, indicator: str) -> Decimal:
        return Decimal(getattr(self, INDICATORS[indicator][0]))

    def denominator(self, indicator: str) -> Decimal:
        if indicator == "water_per_capita" and self.water_users is not None:
            return Decimal(self.water_users)
        return Decimal(getattr(self, INDICATORS[indicator][1]))

    def __add__(self, other: Totals) -> Totals:
        water_users = None if self.water_users is None and other.water_users is None else \
            (self.water_users if self.water_users is not None else self.energy_users) + \
            (other.water_users if other.water_users is not None else other.energy_users)
        return Totals(self.energy_kgce + other.energy_kgce, self.co2_kg + other.co2_kg, self.water_m3 + other.water_m3,
                      self.floor_area_m2 + other.floor_area_m2, self.energy_users + other.energy_users, water_users)


def value(totals: Totals, indicator: str) -> Decimal | None:
    """One indicator, or None without a denominator."""
    if indicator not in INDICATORS:
        raise ValueError(f"indicator {indicator!r} is not one of {sorted(INDICATORS)}")
    den = totals.denominator(indicator)
    if den <= 0:
        return None
    return (totals.numerator(indicator) / den).quantize(CENT, rounding=ROUND_HALF_UP)


def values(totals: Totals) -> dict[str, Decimal | None]:
    return {name: value(totals, name) for name in INDICATORS}


def change(current: Decimal | None, previous: Decimal | None) -> Decimal | None:
    """Year-on-year change as a fraction (−0.015 = a 1.5 % cut); None without both years."""
    if current is None or previous is None or previous == 0:
        return None
    return ((current - previous) / previous).quantize(BASIS_POINT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class IndicatorRow:
    name: str
    unit: str
    label_zh: str
    value: Decimal | None
    previous: Decimal | None
    change: Decimal | None


def table(current: Totals, previous: Totals | None) -> list[IndicatorRow]:
    """The four indicators with last year's value and the change, in the statistics form's order."""
    rows = []
    for name, (_, _, unit, label) in INDICATORS.items():
        now = value(current, name)
        before = value(previous, name) if previous is not None else None
        rows.append(IndicatorRow(name, unit, label, now, before, change(now, before)))
    return rows
