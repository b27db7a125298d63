"""Standard-coal and CO₂ factors as versioned data, and the rule that picks one for a booking: pure.

Sources (docs/domain.md §4): standard-coal factors from GB/T 2589-2020 综合能耗计算通则 (electricity by its
equivalent value 当量值 0.1229 kgce/kWh by default; the equal value 等价值 0.30 of old Jiangsu quota sets is a
separate series); grid CO₂ factors from the MEE/NBS notices (生态环境部、国家统计局 电力二氧化碳排放因子), national,
regional-grid and provincial, published about two years late. A factor file is TOML::

    [[factor]]
    id = "co2.electricity.mee_nbs_average.east_china_grid.2023"
    kind = "co2"                      # coal | co2
    carrier = "electricity"           # electricity | natural_gas | heat | water | gasoline | diesel | lpg
    series = "mee_nbs_average"        # never mixed: the city's ledger names the series it uses
    region = "east_china_grid"        # "*" for factors that hold everywhere
    data_year = 2023                  # omitted for constants (standard-coal factors)
    value = 0.5500
    unit = "kgCO2/kWh"
    status = "final"                  # provisional | final
    source = "生态环境部 国家统计局 2023年电力二氧化碳排放因子 (2025)"

Selection (:meth:`FactorBook.choose`): for the booking's year, a *final* factor beats a provisional one of
the same year; when the year is not published yet, the latest earlier year is used and the booking is
*provisional* (it is restated when the year's factor appears). Factors are never edited: a changed figure
is a new ``version`` of the same ``id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from emc.datafiles import Strict

# GB/T 2589-2020 §3: fuel with a net calorific value of 29 307 kJ is 1 kg of standard coal (1 kgce).
KJ_PER_KGCE = Decimal(29307)


class Carrier(StrEnum):
    electricity = "electricity"
    natural_gas = "natural_gas"
    heat = "heat"
    water = "water"
    gasoline = "gasoline"
    diesel = "diesel"
    lpg = "lpg"


# The unit each carrier is booked in (the metering domain's canonical units; fuels by mass).
CANONICAL_UNIT = {
    Carrier.electricity: "kWh", Carrier.natural_gas: "m3", Carrier.heat: "GJ", Carrier.water: "m3",
    Carrier.gasoline: "kg", Carrier.diesel: "kg", Carrier.lpg: "kg",
}
# How many canonical units one denominator unit is, per carrier.
_DENOMINATORS: dict[Carrier, dict[str, Decimal]] = {
    Carrier.electricity: {"kWh": Decimal(1), "MWh": Decimal(1000)},
    Carrier.natural_gas: {"m3": Decimal(1), "Nm3": Decimal(1)},
    Carrier.heat: {"GJ": Decimal(1), "MJ": Decimal("0.001")},
    Carrier.water: {"m3": Decimal(1), "t": Decimal(1)},
    Carrier.gasoline: {"kg": Decimal(1), "t": Decimal(1000)},
    Carrier.diesel: {"kg": Decimal(1), "t": Decimal(1000)},
    Carrier.lpg: {"kg": Decimal(1), "t": Decimal(1000)},
}
_NUMERATORS = {"coal": {"kgce": Decimal(1), "tce": Decimal(1000)},
               "co2": {"kgCO2": Decimal(1), "tCO2": Decimal(1000)}}


class FactorError(LookupError):
    """No factor answers a booking's question (series, region, year): an error, never a silent substitute."""


class Factor(Strict):
    id: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: int = Field(default=1, ge=1)
    kind: Literal["coal", "co2"]
    carrier: Carrier
    series: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+$")
    region: str = Field(default="*", min_length=1, max_length=40)
    data_year: int | None = Field(default=None, ge=1990, le=2100)
    value: Decimal = Field(gt=0)
    unit: str
    status: Literal["provisional", "final"]
    source: str = Field(min_length=1, max_length=500)
    tag: Literal["V", "S", "K"] | None = None  # docs/domain.md: checked / secondary source / common practice
    valid_from: int | None = Field(default=None, ge=1990, le=2100)  # years of use it may be applied to
    valid_to: int | None = Field(default=None, ge=1990, le=2100)
    heating_value: Decimal | None = Field(default=None, gt=0)  # kJ/m³ the figure assumes (gas CO₂)
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Factor:
        num, _, den = self.unit.partition("/")
        if num not in _NUMERATORS[self.kind]:
            raise ValueError(f"unit {self.unit!r}: a {self.kind} factor is in {' or '.join(_NUMERATORS[self.kind])} "
                             "per unit of the carrier")
        if den not in _DENOMINATORS[self.carrier]:
            raise ValueError(f"unit {self.unit!r}: {self.carrier} is measured in "
                             f"{' or '.join(_DENOMINATORS[self.carrier])}")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        if self.heating_value is not None and self.carrier != Carrier.natural_gas:
            raise ValueError("heating_value is only meaningful for natural_gas")
        return self

    @property
    def ref(self) -> str:
        """How bookings name the factor: id and version."""
        return f"{self.id}@v{self.version}"

    @property
    def per_unit(self) -> Decimal:
        """kg of standard coal or CO₂ per canonical unit of the carrier (kWh, m³, GJ, kg)."""
        num, _, den = self.unit.partition("/")
        return self.value * _NUMERATORS[self.kind][num] / _DENOMINATORS[self.carrier][den]

    def valid_for(self, year: int) -> bool:
        return (self.valid_from is None or year >= self.valid_from) and (self.valid_to is None or year <= self.valid_to)

    def content(self) -> dict[str, Any]:
        """The figures that make a version: reloading the same content is a no-op."""
        return self.model_dump(mode="json", exclude={"id", "version"})


@dataclass(frozen=True)
class Choice:
    factor: Factor
    provisional: bool  # the booking must be restated when a final factor for its year appears
    reason: str  # why this factor, for the ledger's trail
    per_unit: Decimal = field(init=False)  # kg per canonical unit: asked once per booking, computed once
    ref: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_unit", self.factor.per_unit)
        object.__setattr__(self, "ref", self.factor.ref)


class FactorBook:
    """Every loaded factor; answers "which factor for this carrier, series, region and year"."""

    def __init__(self, factors: Iterable[Factor]) -> None:
        self._all: dict[tuple[str, int], Factor] = {}
        for f in factors:
            if (f.id, f.version) in self._all and self._all[(f.id, f.version)] != f:
                raise ValueError(f"factor {f.ref} given twice with different figures")
            self._all[(f.id, f.version)] = f
        # only the latest version of each id counts
        latest: dict[str, Factor] = {}
        for f in self._all.values():
            if f.id not in latest or f.version > latest[f.id].version:
                latest[f.id] = f
        self._current = list(latest.values())
        self._memo: dict[tuple[str, str, str, str, int], Choice | FactorError] = {}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._current, key=lambda f: (f.kind, f.carrier, f.series, f.region, f.data_year or 0)))

    def __len__(self) -> int:
        return len(self._current)

    def get(self, ref: str) -> Factor | None:
        fid, _, version = ref.rpartition("@v")
        return self._all.get((fid, int(version))) if version.isdigit() else None

    def series(self, kind: str, carrier: Carrier | str) -> list[tuple[str, str]]:
        """The (series, region) pairs available: what a city may choose from."""
        return sorted({(f.series, f.region) for f in self._current if f.kind == kind and f.carrier == carrier})

    def choose(self, kind: str, carrier: Carrier | str, series: str, region: str, year: int) -> Choice:
        """The factor for a booking of ``year``; see the module docstring for the rule."""
        key = (kind, str(carrier), series, region, year)
        if key not in self._memo:  # a rebuild asks the same question tens of thousands of times
            try:
                self._memo[key] = self._choose(kind, carrier, series, region, year)
            except FactorError as exc:
                self._memo[key] = exc
        found = self._memo[key]
        if isinstance(found, FactorError):
            raise FactorError(str(found))
        return found

    def _choose(self, kind: str, carrier: Carrier | str, series: str, region: str, year: int) -> Choice:
        matching = [f for f in self._current if f.kind == kind and f.carrier == carrier and f.series == series
                    and f.region in (region, "*") and f.valid_for(year)]
        if not matching:
            offered = ", ".join(f"{s}/{r}" for s, r in self.series(kind, carrier)) or "none loaded"
            raise FactorError(f"no {kind} factor for {carrier}, series {series!r}, region {region!r} valid in {year} "
                              f"(series/regions loaded: {offered})")
        constants = [f for f in matching if f.data_year is None]
        yearly = [f for f in matching if f.data_year is not None]
        chosen = _yearly_choice(yearly, year) if yearly else None
        if chosen is not None:
            return chosen
        if not constants:
            first = min(f.data_year for f in yearly if f.data_year is not None)
            raise FactorError(f"no {kind} factor for {carrier}, series {series!r}, region {region!r} for {year} "
                              f"or earlier (the first published year is {first})")
        best = max(constants, key=_rank)
        return Choice(best, best.status == "provisional", f"constant ({best.status})")


def _yearly_choice(yearly: list[Factor], year: int) -> Choice | None:
    """The year's own factor, else the latest earlier year's (provisionally); None if all are later."""
    same = [f for f in yearly if f.data_year == year]
    if same:
        best = max(same, key=_rank)
        return Choice(best, best.status == "provisional", f"{year} factor ({best.status})")
    earlier = [f for f in yearly if f.data_year is not None and f.data_year < year]
    if not earlier:
        return None
    last_year = max(f.data_year for f in earlier if f.data_year is not None)
    best = max((f for f in earlier if f.data_year == last_year), key=_rank)
    return Choice(best, True, f"{year} not published: {last_year} factor used provisionally")


def _rank(f: Factor) -> tuple[int, int]:
    """Final beats provisional; a later version beats an earlier one."""
    return (1 if f.status == "final" else 0, f.version)
