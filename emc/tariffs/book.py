"""Tariffs as effective-dated data, and the pure functions that price quantities with them.

A tariff *version* is one price notice (or one bill's tariff) for one utility, in force on
``[effective_from, effective_to)``. Its :attr:`TariffVersion.id` is carried into every line it priced.
Shapes (docs/domain.md §5; one per version):

* flat: one unit price;
* water: supply + sewage treatment + water-resource fee (e.g. 1.67 + 1.95 + 0.20 = 3.82 CNY/m³);
* tiered: block prices on the quantity used within the tier's billing period (阶梯价格);
* time of use: season → time windows → band (尖峰/峰/平/谷/深谷) → band price (e.g. Jiangsu
  苏发改价格发〔2025〕426号: peak = flat × 1.7, valley = flat × 0.35; summer/winter peak 14–22,
  valley 0–6 and 11–13).

Rules: TOU windows are local wall-clock minutes ``[start, end)`` with 0 ≤ start < end ≤ 1440 (a window
across midnight is written as two); minutes no window covers are in the season's default band. An interval
reading is priced by the band at its *start* (interval data are hourly or finer and band edges fall on the
hour). Holiday-specific bands are not modelled. Numbers are never literals here: versions are data the
service layer loads (from price notices or bills).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

BANDS = ("sharp", "peak", "flat", "valley", "deep_valley")
BAND_ZH = {"sharp": "尖峰", "peak": "峰", "flat": "平", "valley": "谷", "deep_valley": "深谷"}


class TariffError(ValueError):
    pass


@dataclass(frozen=True)
class TouWindow:
    start_minute: int
    end_minute: int
    band: str

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute <= 1440:
            raise TariffError(f"window {self.start_minute}..{self.end_minute} is not within one day")
        if self.band not in BANDS:
            raise TariffError(f"unknown band {self.band!r}; use one of {BANDS}")

    @classmethod
    def hours(cls, start: int, end: int, band: str) -> TouWindow:
        return cls(start * 60, end * 60, band)


@dataclass(frozen=True)
class TouSeason:
    months: frozenset[int]
    windows: tuple[TouWindow, ...]
    default_band: str = "flat"

    def __post_init__(self) -> None:
        spans = sorted((w.start_minute, w.end_minute) for w in self.windows)
        for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                raise TariffError("TOU windows overlap")

    def band_at(self, minute: int) -> str:
        for window in self.windows:
            if window.start_minute <= minute < window.end_minute:
                return window.band
        return self.default_band


@dataclass(frozen=True)
class Tier:
    """A block: ``up_to`` is the cumulative quantity where the block ends (None: no end)."""

    up_to: Decimal | None
    price: Decimal


@dataclass(frozen=True)
class WaterCharges:
    supply: Decimal  # 自来水费
    sewage: Decimal  # 污水处理费
    resource_fee: Decimal  # 水资源费（税）

    @property
    def total(self) -> Decimal:
        return self.supply + self.sewage + self.resource_fee


@dataclass(frozen=True)
class TariffVersion:
    code: str  # tariff family, e.g. "JS-GS-1-10KV"; one version per utility and date range
    version: str  # e.g. "2025-06-01" or the notice number
    utility: str
    unit: str  # canonical unit priced (kWh, m3 …)
    effective_from: date
    effective_to: date | None = None  # exclusive; None = until superseded
    price: Decimal | None = None
    water: WaterCharges | None = None
    tiers: tuple[Tier, ...] = ()
    band_prices: Mapping[str, Decimal] = field(default_factory=dict)
    seasons: tuple[TouSeason, ...] = ()
    source: str = ""  # price notice (文件号) or bill reference

    def __post_init__(self) -> None:
        shapes = [self.price is not None, self.water is not None, bool(self.tiers), bool(self.seasons)]
        if sum(shapes) != 1:
            raise TariffError(f"{self.id}: give exactly one of price, water, tiers or seasons (TOU)")
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise TariffError(f"{self.id}: effective_to must be after effective_from")
        if self.seasons:
            months = [m for s in self.seasons for m in s.months]
            if sorted(months) != list(range(1, 13)):
                raise TariffError(f"{self.id}: TOU seasons must cover each month exactly once")
            used = {s.default_band for s in self.seasons} | {w.band for s in self.seasons for w in s.windows}
            missing = used - set(self.band_prices)
            if missing:
                raise TariffError(f"{self.id}: no price for band(s) {sorted(missing)}")
        if self.tiers:
            ends = [t.up_to for t in self.tiers]
            if any(e is None for e in ends[:-1]) or ends != sorted(ends, key=lambda e: (e is None, e)):
                raise TariffError(f"{self.id}: tiers must rise, and only the last may be open-ended")

    @property
    def id(self) -> str:
        return f"{self.code}/{self.utility}@{self.version}"

    @property
    def kind(self) -> str:
        return "flat" if self.price is not None else "water" if self.water else "tiered" if self.tiers else "tou"

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


def close_open_ends(versions: Iterable[TariffVersion]) -> list[TariffVersion]:
    """Versions written without ``effective_to`` end where the next version of the same code and utility
    begins (a price notice replaces the previous one; nobody writes the old one's end date)."""
    ordered = sorted(versions, key=lambda v: (v.code, v.utility, v.effective_from))
    out = []
    for v, nxt in zip(ordered, [*ordered[1:], None], strict=False):  # strict fails on no versions
        if v.effective_to is None and nxt is not None and (nxt.code, nxt.utility) == (v.code, v.utility):
            v = replace(v, effective_to=nxt.effective_from)
        out.append(v)
    return out


class TariffBook:
    """All tariff versions the settlement may use; looks one up by (code, utility, day)."""

    def __init__(self, versions: Iterable[TariffVersion]) -> None:
        self.versions = tuple(sorted(versions, key=lambda v: (v.code, v.utility, v.effective_from)))
        by_key: dict[tuple[str, str], list[TariffVersion]] = {}
        for v in self.versions:
            by_key.setdefault((v.code, v.utility), []).append(v)
        for key, group in by_key.items():
            for a, b in zip(group, group[1:], strict=False):
                if a.effective_to is None or a.effective_to > b.effective_from:
                    raise TariffError(f"{key}: versions {a.version} and {b.version} overlap")
        self._by_key = by_key

    def on(self, code: str, utility: str, day: date) -> TariffVersion:
        for v in self._by_key.get((code, utility), []):
            if v.in_force(day):
                return v
        raise TariffError(f"no {utility} tariff {code!r} in force on {day}")


def unit_price(version: TariffVersion) -> Decimal:
    """The single unit price of a flat or water tariff (water: supply + sewage + resource fee)."""
    if version.price is not None:
        return version.price
    if version.water is not None:
        return version.water.total
    raise TariffError(f"{version.id} is {version.kind}: it has no single unit price")


def band_at(version: TariffVersion, local: datetime) -> str:
    """TOU band at a local wall-clock time."""
    if not version.seasons:
        raise TariffError(f"{version.id} is not a time-of-use tariff")
    season = next(s for s in version.seasons if local.month in s.months)
    return season.band_at(local.hour * 60 + local.minute)


def price_at(version: TariffVersion, local: datetime) -> Decimal:
    """Unit price at a local time: the band price for TOU, the unit price otherwise."""
    if version.seasons:
        return version.band_prices[band_at(version, local)]
    return unit_price(version)


def tier_slices(version: TariffVersion, upper: Decimal, lower: Decimal = Decimal(0)) -> list[tuple[Decimal, Decimal]]:
    """Split the cumulative quantity range ``[lower, upper)`` into (quantity, price) blocks.

    A charge for ``q`` units is ``tier_slices(v, q)``; avoided cost of savings is the slice between actual
    use and adjusted baseline, ``tier_slices(v, adjusted_baseline, actual)`` — savings come off the top
    blocks (the most expensive units are the ones not bought)."""
    if not version.tiers:
        raise TariffError(f"{version.id} is not a tiered tariff")
    if upper < lower:
        raise TariffError("upper must not be below lower")
    slices: list[tuple[Decimal, Decimal]] = []
    floor = Decimal(0)
    for tier in version.tiers:
        ceiling = tier.up_to
        lo = max(lower, floor)
        hi = upper if ceiling is None else min(upper, ceiling)
        if hi > lo:
            slices.append((hi - lo, tier.price))
        if ceiling is None:
            break
        floor = ceiling
    return slices


def tiered_charge(version: TariffVersion, quantity_: Decimal) -> Decimal:
    """Unrounded charge for ``quantity_`` units on a tiered tariff."""
    return sum((q * p for q, p in tier_slices(version, quantity_)), Decimal(0))


def group_by_band(
    intervals: Sequence[tuple[datetime, Decimal]],
    version_on: Callable[[date], TariffVersion],
) -> dict[tuple[str, str], tuple[TariffVersion, Decimal]]:
    """Sum interval quantities (local times) per (tariff version id, band).

    ``version_on`` is a callable ``date -> TariffVersion`` (usually ``lambda d: book.on(code, utility, d)``),
    so a period crossing a tariff change prices each interval under the version in force on its day."""
    groups: dict[tuple[str, str], tuple[TariffVersion, Decimal]] = {}
    for local, qty in intervals:
        version = version_on(local.date())
        band = band_at(version, local)
        key = (version.id, band)
        previous = groups.get(key, (version, Decimal(0)))[1]
        groups[key] = (version, previous + qty)
    return groups
