"""What a settlement is computed from: plain data handed over by the service layer.

* :class:`UtilitySavings` — from M&V (GB/T 28750-2012, IPMVP): per period and utility, the adjusted baseline
  (校准能耗), the actual use, savings = adjusted baseline − actual (**positive = saved**, docs/domain.md §3), and its
  uncertainty. Optional interval savings (local time, quantity) for time-of-use valuation.
* :class:`Bill` — the period's actual energy/water cost per utility (for custody and average-cost valuation).
* :class:`CustodyChange` — an approved, dated change to a custody fee (floor area, energy users, tariff,
  non-routine event; GB/T 24915-2020 App. C, JS/T 301-2024).
* :class:`TermsVersion` — a contract version and the date it takes effect (contracts/README.md, "Amending").

Quantities are quantised to 0.001 of their unit on construction (:func:`emc.settlement.core.lines.quantity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal
from zoneinfo import ZoneInfo

from emc.contracts.spec import ContractFile
from emc.money import fen, to_decimal

from .lines import QTY, ZERO, quantity
from .periods import Period, split_period


def local_time(moment: datetime, tz: str) -> datetime:
    """Wall-clock time in the institution's zone (naive datetimes are taken as already local)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


class SettlementInputError(ValueError):
    """Inputs that cannot describe a real period (a programming or integration error, not a data finding)."""


@dataclass(frozen=True)
class UtilitySavings:
    utility: str
    adjusted_baseline: Any
    actual: Any
    savings: Any = None  # given by M&V; checked against adjusted_baseline − actual
    uncertainty: Any = None  # absolute, same unit, at ``confidence``
    confidence: Any = None  # e.g. 0.68 or 0.90
    source: str = ""  # M&V result id / version
    intervals: tuple[tuple[datetime, Any], ...] = ()  # interval savings for TOU valuation

    def __post_init__(self) -> None:
        adj, act = quantity(self.adjusted_baseline), quantity(self.actual)
        derived = adj - act
        if self.savings is not None:
            given = quantity(self.savings)
            if abs(given - derived) > 2 * QTY:
                raise SettlementInputError(
                    f"{self.utility}: savings {given} ≠ adjusted baseline {adj} − actual {act} = {derived}")
        object.__setattr__(self, "adjusted_baseline", adj)
        object.__setattr__(self, "actual", act)
        object.__setattr__(self, "savings", derived)
        if self.uncertainty is not None:
            object.__setattr__(self, "uncertainty", abs(quantity(self.uncertainty)))
        if self.confidence is not None:
            object.__setattr__(self, "confidence", to_decimal(str(self.confidence)))
        object.__setattr__(self, "intervals", tuple((t, quantity(q)) for t, q in self.intervals))

    def scaled(self, share: Fraction, remainder_of: UtilitySavings | None = None) -> UtilitySavings:
        """This period's figures × ``share`` (days pro rata); with ``remainder_of`` the figures are
        ``self − remainder_of`` so that split parts add up exactly."""
        if remainder_of is not None:
            adj = self.adjusted_baseline - remainder_of.adjusted_baseline
            act = self.actual - remainder_of.actual
        else:
            adj = quantity(self.adjusted_baseline * share.numerator / share.denominator)
            act = quantity(self.actual * share.numerator / share.denominator)
        unc = None
        if self.uncertainty is not None:
            unc = quantity(self.uncertainty * share.numerator / share.denominator)
        return replace(self, adjusted_baseline=adj, actual=act, savings=None, uncertainty=unc, intervals=())


@dataclass(frozen=True)
class Bill:
    utility: str
    quantity: Any
    cost: Any  # CNY, whole fen
    tariff_version: str | None = None
    ref: str = ""  # bill number / import batch

    def __post_init__(self) -> None:
        object.__setattr__(self, "quantity", quantity(self.quantity))
        cost = to_decimal(self.cost)
        if cost != fen(cost):
            raise SettlementInputError(f"bill {self.ref or self.utility}: cost {cost} has fractions of a fen")
        object.__setattr__(self, "cost", cost)


@dataclass(frozen=True)
class PeriodData:
    """Everything measured for one period. ``parts`` optionally gives figures for the pieces of a period
    that an amendment splits (each with its own ``period``); without them the period's figures are shared
    out by days."""

    period: Period
    savings: tuple[UtilitySavings, ...] = ()
    bills: tuple[Bill, ...] = ()
    parts: tuple[PeriodData, ...] = ()

    def __post_init__(self) -> None:
        seen = [s.utility for s in self.savings]
        if len(seen) != len(set(seen)):
            raise SettlementInputError(f"{self.period.label}: one savings figure per utility, got {seen}")

    def savings_for(self, utility: str) -> UtilitySavings | None:
        return next((s for s in self.savings if s.utility == utility), None)

    def bills_for(self, utility: str) -> tuple[Bill, ...]:
        return tuple(b for b in self.bills if b.utility == utility)

    def part(self, period: Period) -> PeriodData | None:
        return next((p for p in self.parts if (p.period.start, p.period.end) == (period.start, period.end)), None)


def split_data(data: PeriodData, parts: Sequence[Period], tz: str = "Asia/Shanghai") -> list[PeriodData]:
    """The figures for each part of a split period: the parts given in ``data.parts`` if any (all of them), or
    else the period's figures shared out by days — the fallback when M&V has only the whole period (bills);
    the last part takes the remainder, so the parts add up to the whole exactly. Interval readings go to the
    part their local day falls in."""
    if data.parts:
        given = [data.part(part) for part in parts]
        if any(g is None for g in given):
            raise SettlementInputError(f"{data.period.label}: parts given, but not for {[p.label for p in parts]}")
        return [g for g in given if g is not None]
    result: list[PeriodData] = []
    for i, part in enumerate(parts):
        share = Fraction(part.days, data.period.days)
        last = i == len(parts) - 1
        savings = []
        for s in data.savings:
            if last:
                taken = _sum_savings([r.savings_for(s.utility) for r in result], s)
                piece = s.scaled(share, remainder_of=taken)
            else:
                piece = s.scaled(share)
            intervals = tuple((t, q) for t, q in s.intervals if part.start <= local_time(t, tz).date() < part.end)
            savings.append(replace(piece, intervals=intervals))
        bills = []
        for j, b in enumerate(data.bills):
            if last:
                cost = b.cost - sum((r.bills[j].cost for r in result), ZERO)
                qty = b.quantity - sum((r.bills[j].quantity for r in result), ZERO)
            else:
                cost = fen(b.cost * share.numerator / share.denominator)
                qty = quantity(b.quantity * share.numerator / share.denominator)
            bills.append(replace(b, cost=cost, quantity=qty))
        result.append(PeriodData(part, tuple(savings), tuple(bills)))
    return result


def _sum_savings(pieces: list[UtilitySavings | None], whole: UtilitySavings) -> UtilitySavings:
    adj = sum((p.adjusted_baseline for p in pieces if p), ZERO)
    act = sum((p.actual for p in pieces if p), ZERO)
    return replace(whole, adjusted_baseline=adj, actual=act, savings=None, uncertainty=None, intervals=())


def split_at(period: Period, cuts: Sequence[date]) -> list[Period]:
    """Cut a period at each date strictly inside it."""
    parts = [period]
    for cut in sorted(set(cuts)):
        last = parts[-1]
        if last.start < cut < last.end:
            parts[-1:] = list(split_period(last, cut))
    return parts


Basis = Literal["floor_area", "energy_users", "price", "non_routine"]


@dataclass(frozen=True)
class CustodyChange:
    """An approved change to a custody fee, in force on ``[effective, until)``.

    * ``floor_area`` / ``energy_users``: ``delta`` is the change against the baseline (m², persons);
      annual fee change = baseline_cost × fee_factor × delta / baseline value.
    * ``price``: ``utility`` with ``baseline_price`` → ``new_price`` (CNY per canonical unit);
      annual fee change = annual baseline use × (new − baseline price) × fee_factor.
    * ``non_routine``: ``annual_amount`` is the approved annual fee change (CNY/yr, signed).
    """

    basis: Basis
    effective: date
    ref: str  # the approval / supplementary agreement (补充协议) / event id
    until: date | None = None  # exclusive
    delta: Decimal | None = None
    utility: str | None = None
    baseline_price: Decimal | None = None
    new_price: Decimal | None = None
    tariff_version: str | None = None
    annual_amount: Decimal | None = None
    component: str | None = None  # a component key; None = every custody component
    reason: str = ""

    def __post_init__(self) -> None:
        need = {"floor_area": ("delta",), "energy_users": ("delta",),
                "price": ("utility", "baseline_price", "new_price"), "non_routine": ("annual_amount",)}[self.basis]
        missing = [name for name in need if getattr(self, name) is None]
        if missing:
            raise SettlementInputError(f"custody change {self.ref}: basis {self.basis!r} needs {missing}")
        if self.until is not None and self.until <= self.effective:
            raise SettlementInputError(f"custody change {self.ref}: until must be after effective")

    def end(self) -> date:
        return self.until or date.max


@dataclass(frozen=True)
class TermsVersion:
    """A version of the contract's terms: ``version`` names it on every line (e.g. "v2" or a spec hash)."""

    version: str
    effective: date
    terms: ContractFile = field(repr=False)


def as_versions(terms: ContractFile | TermsVersion | Sequence[TermsVersion]) -> list[TermsVersion]:
    """Normalise to a list of versions sorted by effective date; a bare contract is version
    ``spec_hash()[:12]`` effective from its start."""
    if isinstance(terms, ContractFile):
        return [TermsVersion(terms.spec_hash()[:12], terms.contract.start, terms)]
    if isinstance(terms, TermsVersion):
        return [terms]
    versions = sorted(terms, key=lambda v: v.effective)
    if not versions:
        raise SettlementInputError("no contract version given")
    codes = {v.terms.contract.code for v in versions}
    if len(codes) != 1:
        raise SettlementInputError(f"versions of different contracts: {sorted(codes)}")
    return versions


def version_on(versions: Sequence[TermsVersion], day: date) -> TermsVersion:
    """The version in force on ``day`` (the first version also covers days before its effective date)."""
    chosen = versions[0]
    for v in versions:
        if v.effective <= day:
            chosen = v
    return chosen
