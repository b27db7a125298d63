"""From contracts to institutions, and from institutions up the region tree, counting nothing twice: pure.

Attribution of a contract's verified savings (the settlement's M&V figure per utility and period):

1. a settlement period longer than a month is spread over its months by days (the last month takes the
   remainder, so the months add up to the period exactly);
2. a meter claimed by two contracts for the same utility and month belongs to the contract that started first
   (then the lower code): the later contract's claim on it is dropped and reported, so one reduction is never
   counted twice;
3. a contract covering several institutions splits each month's savings by the use of its meters in that month
   (main meters only; equally when none recorded use), the last institution taking the remainder.

Roll-up: each institution's figures are added once to every region on its path (district → city → province,
``Region.path``). Figures are kept per institution, so an institution with several contracts is still one
institution, and a region's savings are the sum of its institutions' attributed savings — each contract's
savings exactly once. Regions whose institutions book under different CO₂ series say so (``mixed_series``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from .accounting import Booking, q3
from .indicators import Totals

K = TypeVar("K", bound=Hashable)
ZERO = Decimal(0)


# -- attribution -------------------------------------------------------------------------------------------
def split(total: Decimal, weights: Mapping[K, Decimal]) -> dict[K, Decimal]:
    """``total`` shared in proportion to ``weights`` (equally when they are all zero), each part half-up to
    0.001, the last key (sorted) taking the remainder so the parts add up to ``total`` exactly."""
    keys = _ordered(weights)
    if not keys:
        return {}
    whole = sum((max(weights[k], ZERO) for k in keys), ZERO)
    parts: dict[K, Decimal] = {}
    for k in keys[:-1]:
        share = max(weights[k], ZERO) / whole if whole > 0 else Decimal(1) / len(keys)
        parts[k] = q3(total * share)
    parts[keys[-1]] = total - sum(parts.values(), ZERO)
    return parts


def _ordered(keys: Iterable[K]) -> list[K]:
    try:
        return sorted(keys)  # type: ignore[type-var]
    except TypeError:
        return sorted(keys, key=repr)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def spread_by_days(total: Decimal, start: date, end: date) -> dict[date, Decimal]:
    """A period's figure over the months it covers, [start, end), by days (the last month takes the remainder)."""
    if end <= start:
        raise ValueError(f"period {start}–{end} is empty")
    days: dict[date, Decimal] = {}
    cursor = start
    while cursor < end:
        stop = min(next_month(cursor), end)
        days[month_start(cursor)] = Decimal((stop - cursor).days)
        cursor = stop
    return split(total, days)


@dataclass(frozen=True)
class Claim:
    """A contract's claim on its meters for one utility and month."""

    contract: Any
    utility: str
    month: date
    meters: frozenset[int]
    rank: tuple[Any, ...]  # earlier claims win: (start date, code)


@dataclass(frozen=True)
class Overlap:
    contract: Any  # whose claim was dropped
    meter: int
    utility: str
    month: date
    kept_by: Any

    def message(self) -> str:
        return (f"contract {self.contract}: {self.utility} savings of {self.month:%Y-%m} on meter {self.meter} are "
                f"already claimed by contract {self.kept_by}; not counted twice")


def resolve(claims: Iterable[Claim]) -> tuple[dict[tuple[Any, str, date], frozenset[int]], list[Overlap]]:
    """The meters each claim keeps (by contract, utility, month) and the overlaps dropped."""
    kept: dict[tuple[Any, str, date], frozenset[int]] = {}
    overlaps: list[Overlap] = []
    owner: dict[tuple[str, date, int], Any] = {}
    for c in sorted(claims, key=lambda c: (c.utility, c.month, c.rank)):
        mine = set()
        for m in sorted(c.meters):
            holder = owner.get((c.utility, c.month, m))
            if holder is not None and holder != c.contract:
                overlaps.append(Overlap(c.contract, m, c.utility, c.month, holder))
                continue
            owner[(c.utility, c.month, m)] = c.contract
            mine.add(m)
        kept[(c.contract, c.utility, c.month)] = frozenset(mine)
    return kept, overlaps


def attribute(savings: Decimal, meters: Iterable[int], use: Mapping[int, Decimal],
              institution_of: Mapping[int, Any]) -> dict[Any, Decimal]:
    """One contract-month's savings split over the institutions of its kept meters by their use."""
    weights: dict[Any, Decimal] = defaultdict(Decimal)
    for m in meters:
        weights[institution_of[m]] += use.get(m, ZERO)
    return split(savings, dict(weights))


# -- figures and roll-up ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figures:
    """What the ledger says about one institution (or region) over a span, plus its denominators."""

    energy_kgce: Decimal = ZERO  # comprehensive energy (GB/T 2589-2020): electricity, gas, heat, fuels
    co2_scope1_kg: Decimal = ZERO
    co2_scope2_kg: Decimal = ZERO
    water_m3: Decimal = ZERO
    electricity_kwh: Decimal = ZERO
    gas_m3: Decimal = ZERO
    heat_gj: Decimal = ZERO
    pv_kwh: Decimal = ZERO
    pv_avoided_kgce: Decimal = ZERO
    pv_avoided_kgco2: Decimal = ZERO
    savings_kgce: Decimal = ZERO  # contract savings, whoever owns the reduction
    savings_kgco2: Decimal = ZERO
    esco_savings_kgce: Decimal = ZERO  # the ESCOs' part (carbon rights)
    esco_savings_kgco2: Decimal = ZERO
    floor_area_m2: Decimal = ZERO
    energy_users: Decimal = ZERO
    # The indicators' basis (statistics form): an institution's denominators count toward energy and carbon
    # only where its energy is metered, toward water only where its water is — an unmetered utility is
    # unknown, not zero. ``denominated`` counts institutions whose basis was set this way (0: use the plain
    # floor area and users above, as hand-made figures do).
    energy_basis_area_m2: Decimal = ZERO
    energy_basis_users: Decimal = ZERO
    water_basis_users: Decimal = ZERO
    denominated: Decimal = ZERO

    def with_denominators(self, floor_area_m2: Decimal, energy_users: Decimal) -> Figures:
        """This institution's figures with its statistics-form denominators and its indicator basis."""
        energy = self.energy_kgce > 0 or self.co2_kg > 0
        return replace(self, floor_area_m2=floor_area_m2, energy_users=energy_users,
                       energy_basis_area_m2=floor_area_m2 if energy else ZERO,
                       energy_basis_users=energy_users if energy else ZERO,
                       water_basis_users=energy_users if self.water_m3 > 0 else ZERO, denominated=Decimal(1))

    @property
    def co2_kg(self) -> Decimal:
        return self.co2_scope1_kg + self.co2_scope2_kg

    @property
    def institution_savings_kgco2(self) -> Decimal:
        return self.savings_kgco2 - self.esco_savings_kgco2

    def totals(self) -> Totals:
        if self.denominated:
            return Totals(self.energy_kgce, self.co2_kg, self.water_m3, self.energy_basis_area_m2,
                          self.energy_basis_users, self.water_basis_users)
        return Totals(self.energy_kgce, self.co2_kg, self.water_m3, self.floor_area_m2, self.energy_users)

    def __add__(self, other: Figures) -> Figures:
        return Figures(*[getattr(self, n) + getattr(other, n) for n in _NAMES])

    @staticmethod
    def total(items: Iterable[Figures]) -> Figures:
        """The sum of many (one pass per field, no intermediate objects)."""
        vectors = [[getattr(f, n) for n in _NAMES] for f in items]
        if not vectors:
            return Figures()
        return Figures(*[sum(column, ZERO) for column in zip(*vectors, strict=True)])

    def as_dict(self) -> dict[str, str]:
        out = {n: str(getattr(self, n)) for n in _NAMES}
        out["co2_kg"] = str(self.co2_kg)
        return out


_NAMES = tuple(f.name for f in fields(Figures))


def contributions(kind: str, utility: str, scope: int, in_energy: bool, quantity: Decimal, kgce: Decimal,
                  kgco2: Decimal, esco_kgce: Decimal = ZERO, esco_kgco2: Decimal = ZERO) -> list[tuple[str, Decimal]]:
    """What one booking (or a sum of like bookings) adds to an institution's figures, field by field."""
    if kind == "consumption":
        out = [("energy_kgce", kgce if in_energy else ZERO)]
        if scope in (1, 2):
            out.append((f"co2_scope{scope}_kg", kgco2))
        column = _QUANTITY_FIELD.get(utility)
        if column:
            out.append((column, quantity))
        return out
    if kind == "generation":
        return [("pv_kwh", quantity), ("pv_avoided_kgce", kgce), ("pv_avoided_kgco2", kgco2)]
    return [("savings_kgce", kgce), ("savings_kgco2", kgco2), ("esco_savings_kgce", esco_kgce),
            ("esco_savings_kgco2", esco_kgco2)]


_QUANTITY_FIELD = {"water": "water_m3", "electricity": "electricity_kwh", "gas": "gas_m3", "heat": "heat_gj"}


def contribution(kind: str, utility: str, scope: int, in_energy: bool, quantity: Decimal, kgce: Decimal,
                 kgco2: Decimal, esco_kgce: Decimal = ZERO, esco_kgco2: Decimal = ZERO) -> Figures:
    return Figures(**dict(contributions(kind, utility, scope, in_energy, quantity, kgce, kgco2, esco_kgce,
                                        esco_kgco2)))


def fold(rows: Iterable[tuple[Any, ...]]) -> Figures:
    """Sum rows of (kind, utility, scope, in_energy, quantity, kgce, kgco2, esco_kgce, esco_kgco2)."""
    acc: dict[str, Decimal] = {}
    for kind, utility, scope, in_energy, *sums in rows:
        for name, value in contributions(kind, utility, scope, bool(in_energy), *(v or ZERO for v in sums)):
            acc[name] = acc.get(name, ZERO) + value
    return Figures(**acc)


def add_booking(f: Figures, b: Booking) -> Figures:
    return f + contribution(b.kind, b.utility, b.scope, b.in_energy, b.quantity, b.kgce, b.kgco2, b.esco_kgce,
                            b.esco_kgco2)


def by_institution(bookings: Iterable[Booking]) -> dict[Any, Figures]:
    out: dict[Any, Figures] = defaultdict(Figures)
    for b in bookings:
        out[b.institution] = add_booking(out[b.institution], b)
    return dict(out)


@dataclass
class RegionFigures:
    code: str
    figures: Figures = field(default_factory=Figures)
    institutions: int = 0
    series: set[str] = field(default_factory=set)

    @property
    def mixed_series(self) -> bool:
        return len(self.series) > 1


def region_codes(path: str) -> list[str]:
    """"/320000/320200/320211/" → ["320000", "320200", "320211"]."""
    return [c for c in path.split("/") if c]


def roll_up(figures: Mapping[Any, Figures], paths: Mapping[Any, str],
            series: Mapping[Any, str] | None = None) -> dict[str, RegionFigures]:
    """Every region on each institution's path gets that institution's figures once."""
    members: dict[str, list[Any]] = defaultdict(list)
    for inst in figures:
        for code in region_codes(paths[inst]):
            members[code].append(inst)
    vectors = {inst: [getattr(f, n) for n in _NAMES] for inst, f in figures.items()}
    out: dict[str, RegionFigures] = {}
    for code, insts in members.items():
        total = Figures(*[sum(column, ZERO) for column in zip(*(vectors[i] for i in insts), strict=True)])
        out[code] = RegionFigures(code, total, len(insts), {series[i] for i in insts if series and series.get(i)})
    return out
