"""Booking one institution-month-utility into physical units, standard coal and CO₂: pure.

* Comprehensive energy (综合能耗, GB/T 2589-2020) in kgce: electricity, natural gas, heat and fuels. Water is
  *not* part of a public institution's comprehensive energy: it is booked in m³ with kgce = 0 (the 0.0857 kgce/t
  working-medium factor is for audit reports only, :func:`working_medium_kgce`).
* CO₂ in kg: scope 1 for natural gas and fuels (burnt on site), scope 2 for purchased electricity and heat
  (docs/domain.md §4; GHG Protocol scopes). Grid electricity uses the city's chosen MEE/NBS series and region.
* On-site PV generation is *avoided* grid electricity (booked as its own kind, never netted against the grid
  meter's consumption).
* Contract savings (verified by M&V, positive = saved) are *avoided* kgce and CO₂, attributed to the contract's
  carbon-rights owner (institution, ESCO, or shared at the contract's ESCO share).

Every booking names the factors it used (``id@vN``), whether they are provisional, and its source. Figures are
Decimal, quantised half-up to 0.001 of their unit (quantity, kgce, kgCO₂): 1.07 GWh × 0.1229 kgce/kWh =
131 503.000 kgce = 131.503 tce. A restatement (:func:`restate`) compares a provisional booking with the one made
on a final factor; both are kept and the difference is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from .factors import KJ_PER_KGCE, Carrier, Choice, FactorBook

MILLI = Decimal("0.001")
ZERO = Decimal(0)

# Metering utilities → carriers. PV is generation, booked against grid electricity's factors.
CARRIER_OF = {"electricity": Carrier.electricity, "gas": Carrier.natural_gas, "heat": Carrier.heat,
              "water": Carrier.water, "pv": Carrier.electricity, "gasoline": Carrier.gasoline,
              "diesel": Carrier.diesel, "lpg": Carrier.lpg}
SCOPE_OF = {Carrier.electricity: 2, Carrier.heat: 2, Carrier.natural_gas: 1, Carrier.gasoline: 1,
            Carrier.diesel: 1, Carrier.lpg: 1, Carrier.water: 0}
Kind = Literal["consumption", "generation", "savings"]
Owner = Literal["institution", "esco", "shared"]


class AccountingError(ValueError):
    """A booking that cannot be made as asked (unknown utility, negative consumption, bad share)."""


def q3(value: Decimal) -> Decimal:
    """Half-up to 0.001: the one rounding point of every booked figure."""
    return value.quantize(MILLI, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LedgerPolicy:
    """The city's choices for its ledger (data, not code): which CO₂ series and grid region, and which
    standard-coal series for electricity (equivalent value by default) and natural gas."""

    co2_series: str
    co2_region: str
    electricity_coal_series: str = "equivalent"
    gas_coal_series: str = "gas_field"
    source: str = ""

    def coal_series(self, carrier: Carrier) -> str:
        if carrier == Carrier.electricity:
            return self.electricity_coal_series
        if carrier == Carrier.natural_gas:
            return self.gas_coal_series
        return "default"

    def co2(self, carrier: Carrier) -> tuple[str, str]:
        return (self.co2_series, self.co2_region) if carrier == Carrier.electricity else ("default", "*")


@dataclass(frozen=True)
class Usage:
    """What is to be booked: a quantity in the carrier's canonical unit (kWh, m³, GJ, kg) for one month."""

    institution: Any
    month: date  # first day of the month
    utility: str
    quantity: Decimal
    kind: Kind = "consumption"
    source: str = ""
    contract: Any = None  # savings only
    owner: Owner = "institution"  # savings only
    esco_share: Decimal | None = None  # savings with owner "shared"
    heating_value: Decimal | None = None  # natural gas: the supplier's net heating value, kJ/m³


@dataclass(frozen=True)
class Booking:
    institution: Any
    month: date
    utility: str
    kind: Kind
    contract: Any
    carrier: Carrier
    quantity: Decimal
    unit: str
    kgce: Decimal
    kgco2: Decimal
    scope: int  # 1, 2, or 0 (water)
    in_energy: bool  # counts in comprehensive energy (not water, not avoided figures)
    coal_factor: str  # "id@vN", or "id@vN×hv/…" when scaled by a heating value; "" for water
    co2_factor: str
    provisional: bool
    series: str  # the CO₂ series and region the figure belongs to ("mee_nbs_average/east_china_grid")
    source: str
    owner: Owner = "institution"
    esco_kgce: Decimal = ZERO  # the ESCO's part of avoided figures (carbon rights)
    esco_kgco2: Decimal = ZERO
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def tce(self) -> Decimal:
        return self.kgce / 1000

    @property
    def figures(self) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """What a rebuild compares: a booking whose figures and factors are unchanged is not booked again."""
        return (self.quantity, self.kgce, self.kgco2, self.esco_kgce, self.esco_kgco2)


def book(usage: Usage, factors: FactorBook, policy: LedgerPolicy) -> Booking:
    """Book one usage (consumption, PV generation or contract savings) with the city's policy."""
    carrier = CARRIER_OF.get(usage.utility)
    if carrier is None:
        raise AccountingError(f"{usage.institution} {usage.month:%Y-%m}: utility {usage.utility!r} has no carrier; "
                              f"expected one of {sorted(CARRIER_OF)}")
    if usage.kind == "generation" and usage.utility != "pv":
        raise AccountingError(f"generation is booked for pv only, not {usage.utility!r}")
    if usage.kind == "consumption" and usage.utility == "pv":
        raise AccountingError("pv is generation (avoided grid electricity), not consumption")
    if usage.kind != "savings" and usage.quantity < 0:
        raise AccountingError(f"{usage.institution} {usage.month:%Y-%m} {usage.utility}: negative quantity "
                              f"{usage.quantity}")
    quantity = q3(usage.quantity)
    year = usage.month.year
    notes: list[str] = []
    provisional = False
    coal_ref = ""
    kgce = ZERO
    if carrier != Carrier.water:
        coal, coal_ref, coal_note = _coal_factor(carrier, usage, factors, policy, year)
        kgce = q3(quantity * coal)
        provisional |= coal_note[0]
        notes += coal_note[1]
    co2_ref, kgco2 = "", ZERO
    series = ""
    if carrier != Carrier.water:
        co2_series, co2_region = policy.co2(carrier)
        choice = factors.choose("co2", carrier, co2_series, co2_region, year)
        per_unit, co2_ref = choice.per_unit, choice.ref
        if carrier == Carrier.natural_gas and usage.heating_value is not None and choice.factor.heating_value:
            # CO₂ of gas scales with its heating value (docs/domain.md §4: 2.162 kgCO₂/m³ at 38 931 kJ/m³)
            per_unit = per_unit * usage.heating_value / choice.factor.heating_value
            co2_ref += f"×{usage.heating_value}/{choice.factor.heating_value}"
        kgco2 = q3(quantity * per_unit)
        provisional |= choice.provisional
        notes += _note(choice)
        series = f"{co2_series}/{co2_region}" if carrier == Carrier.electricity else ""
    in_energy = usage.kind == "consumption" and carrier != Carrier.water
    esco_kgce, esco_kgco2 = _esco_part(usage, kgce, kgco2)
    return Booking(usage.institution, usage.month, usage.utility, usage.kind, usage.contract, carrier, quantity,
                   _UNIT[carrier], kgce, kgco2, 0 if carrier == Carrier.water else SCOPE_OF[carrier], in_energy,
                   coal_ref, co2_ref, provisional, series, usage.source,
                   usage.owner if usage.kind == "savings" else "institution", esco_kgce, esco_kgco2, tuple(notes))


_UNIT = {Carrier.electricity: "kWh", Carrier.natural_gas: "m3", Carrier.heat: "GJ", Carrier.water: "m3",
         Carrier.gasoline: "kg", Carrier.diesel: "kg", Carrier.lpg: "kg"}


def _note(choice: Choice) -> list[str]:
    return [f"{choice.ref}: {choice.reason}"] if choice.provisional else []


def _coal_factor(carrier: Carrier, usage: Usage, factors: FactorBook, policy: LedgerPolicy,
                 year: int) -> tuple[Decimal, str, tuple[bool, list[str]]]:
    if carrier == Carrier.natural_gas and usage.heating_value is not None:
        # GB/T 2589-2020: kgce = net heating value / 29 307 kJ per kgce (the institution's supplier's figure)
        return usage.heating_value / KJ_PER_KGCE, f"gbt2589.heating_value({usage.heating_value} kJ/m3)", (False, [])
    choice = factors.choose("coal", carrier, policy.coal_series(carrier), "*", year)
    return choice.per_unit, choice.ref, (choice.provisional, _note(choice))


def _esco_part(usage: Usage, kgce: Decimal, kgco2: Decimal) -> tuple[Decimal, Decimal]:
    """The ESCO's part of an avoided figure under the contract's carbon-rights term (GB/T 24915 contracts and
    京机管发〔2022〕21号 require the contract to say who owns the reduction)."""
    if usage.kind != "savings" or usage.owner == "institution":
        return ZERO, ZERO
    if usage.owner == "esco":
        return kgce, kgco2
    share = usage.esco_share
    if share is None or not ZERO <= share <= 1:
        raise AccountingError(f"contract {usage.contract}: shared carbon rights need an ESCO share between 0 and 1, "
                              f"got {share}")
    return q3(kgce * share), q3(kgco2 * share)


def working_medium_kgce(water_m3: Decimal, factors: FactorBook, year: int) -> tuple[Decimal, str]:
    """Water as an energy working medium (耗能工质, 0.0857 kgce/t): for energy audit reports only."""
    choice = factors.choose("coal", Carrier.water, "working_medium", "*", year)
    return q3(water_m3 * choice.per_unit), choice.ref


# -- restatement -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Restatement:
    old: Booking
    new: Booking
    delta_kgce: Decimal
    delta_kgco2: Decimal

    @property
    def reason(self) -> str:
        changed = [f"{a or '—'} → {b}" for a, b in ((self.old.coal_factor, self.new.coal_factor),
                                                      (self.old.co2_factor, self.new.co2_factor)) if a != b]
        return "; ".join(changed) or "same factors"


def restate(old: Booking, new: Booking) -> Restatement | None:
    """Compare a booking with the same usage booked again (e.g. once the year's final factor is published). None
    when nothing changed; otherwise both bookings and the difference. The old booking is kept (append-only)."""
    if (new.coal_factor, new.co2_factor, new.figures) == (old.coal_factor, old.co2_factor, old.figures):
        return None
    return Restatement(old, new, new.kgce - old.kgce, new.kgco2 - old.kgco2)
