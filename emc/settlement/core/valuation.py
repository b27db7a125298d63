"""Valuation policy: the unit price at which verified savings become money, per contract (``[valuation]``).

* ``baseline_price`` — the contract's baseline unit price escalated per contract year,
  price × (1 + e)^(year − 1) (US FEMP ESPC practice: savings are valued at contract rates with a stated
  escalation, not at whatever the bill says). The escalated price is rounded half-up to 0.0001 CNY.
* ``average_cost`` — the current bill's average unit cost, cost ÷ quantity, held within the contract's
  minimum/maximum safety limits (EnergyCAP cost avoidance "unit cost safety limits": a bill with an odd
  unit cost — a credit, a back-bill — must not swing the savings value). Rounded to 0.0001 CNY.
* ``time_of_use`` — interval savings priced by the band of the tariff version in force (GB/T 24915-2020
  App. A lets the parties agree the price basis; TOU needs interval data). If the tariff found is flat,
  water (supply + sewage + resource) or tiered, it is applied to the period's savings; tiered savings come
  off the top blocks.

Each :class:`Priced` piece carries the tariff version (if a tariff was used) into the line it prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from emc.contracts.spec import UnitCostLimits, ValuationSpec
from emc.tariffs.book import BAND_ZH, TariffBook, TariffError, group_by_band, tier_slices, unit_price

from .inputs import Bill, UtilitySavings, local_time
from .lines import ONE, QTY, ZERO, SettlementWarning, fmt_pct, fmt_price, price


@dataclass(frozen=True)
class Priced:
    """A quantity of savings and the unit price it is valued at."""

    utility: str
    quantity: Decimal
    price: Decimal
    basis_zh: str
    basis_en: str
    band: str = ""
    tariff_version: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)


def escalated_price(base: Decimal, escalation: Decimal, contract_year: int) -> Decimal:
    """base × (1 + escalation)^(contract_year − 1), half-up to 0.0001 CNY (FEMP ESPC escalation)."""
    return price(base * (ONE + escalation) ** (contract_year - 1))


def average_cost_price(bills: Sequence[Bill], limits: UnitCostLimits | None) -> tuple[Decimal, Decimal, str]:
    """(price used, raw average cost, '' | 'min' | 'max'): the bills' cost ÷ quantity, clamped to the
    safety limits (EnergyCAP)."""
    qty = sum((b.quantity for b in bills), ZERO)
    cost = sum((b.cost for b in bills), ZERO)
    if qty <= 0:
        raise ValueError("average cost needs a positive billed quantity")
    raw = price(cost / qty)
    if limits is not None and raw < limits.min:
        return price(limits.min), raw, "min"
    if limits is not None and raw > limits.max:
        return price(limits.max), raw, "max"
    return raw, raw, ""


Valued = tuple[list[Priced], list[SettlementWarning]]


def value_savings(
    valuation: ValuationSpec,
    savings: UtilitySavings,
    *,
    contract_year: int,
    on: date,
    bills: Sequence[Bill] = (),
    tariffs: TariffBook | None = None,
    tz: str = "Asia/Shanghai",
    component: str = "",
) -> Valued:
    """Price one utility's verified savings for one period (or part) under the contract's policy."""
    policy = str(valuation.policy)
    if policy == "baseline_price":
        return _at_baseline_price(valuation, savings, contract_year, component, on)
    if policy == "average_cost":
        return _at_average_cost(valuation, savings, bills, component, on)
    return _at_tariff(valuation, savings, tariffs, tz, component, on)


def _at_baseline_price(valuation: ValuationSpec, savings: UtilitySavings, contract_year: int, component: str,
                       on: date) -> Valued:
    """The contract's baseline unit price, escalated per contract year (FEMP ESPC escalation)."""
    u = savings.utility
    if u not in valuation.prices:
        return [], [SettlementWarning("no_valuation_price", f"no [valuation.prices] for {u}", component, on,
                                                        {"utility": u})]
    base, esc = valuation.prices[u], valuation.escalation  # type: ignore[index]
    p = escalated_price(base, esc, contract_year)
    escalated = esc != 0 and contract_year > 1
    return [Priced(u, savings.savings, p,
                   f"基准单价 {fmt_price(base)} 元 × (1 + {fmt_pct(esc)})^{contract_year - 1}" if escalated else "",
                   f"baseline price {fmt_price(base)} × (1 + {fmt_pct(esc)})^{contract_year - 1}" if escalated
                   else "", inputs={"price_basis": "baseline_price", "base_price": base, "escalation": esc})], []


def _at_average_cost(valuation: ValuationSpec, savings: UtilitySavings, bills: Sequence[Bill], component: str,
                     on: date) -> Valued:
    """The period's bills' average unit cost, within the contract's safety limits (EnergyCAP)."""
    u = savings.utility
    if not bills:
        return [], [SettlementWarning("no_bill_for_average_cost", f"no {u} bill to take the average cost from",
                                      component, on, {"utility": u})]
    limits = valuation.limits.get(u)  # type: ignore[call-overload]
    warnings = []
    if limits is None:
        warnings.append(SettlementWarning("no_cost_limits", f"no safety limits for {u}: average cost used as is",
                                          component, on, {"utility": u}))
    p, raw, clamped = average_cost_price(bills, limits)
    if clamped:
        warnings.append(SettlementWarning("unit_cost_limited",
                                          f"{u} average cost {raw} is outside the limits; {clamped} {p} used",
                                          component, on))
    versions = sorted({b.tariff_version for b in bills if b.tariff_version})
    note_zh = f"（超出安全限值，按{'下' if clamped == 'min' else '上'}限）" if clamped else ""
    return [Priced(u, savings.savings, p, f"账单平均单价 {fmt_price(raw)} 元{note_zh}",
                   f"bill average unit cost {fmt_price(raw)}" + (f" (limited to {clamped})" if clamped else ""),
                   tariff_version=",".join(versions) or None,
                   inputs={"price_basis": "average_cost", "raw_average": raw, "limited": clamped or "no",
                           "bills": ",".join(b.ref for b in bills)})], warnings


def _at_tariff(valuation: ValuationSpec, savings: UtilitySavings, tariffs: TariffBook | None, tz: str,
               component: str, on: date) -> Valued:
    """The tariff in force: by time-of-use band from interval savings, by tier, or its flat (water) unit price."""
    u = savings.utility
    if tariffs is None or not valuation.tariff:
        return [], [SettlementWarning("no_tariff", "time-of-use valuation needs the tariff book", component, on)]
    code = valuation.tariff
    try:
        if savings.intervals:
            return _tou(code, savings, tariffs, tz, component, on)
        version = tariffs.on(code, u, on)
    except TariffError as exc:
        return [], [SettlementWarning("no_tariff", str(exc), component, on)]
    if version.kind == "tou":
        return [], [SettlementWarning("no_interval_data", f"{u}: TOU valuation needs interval savings", component, on)]
    if version.kind == "tiered":
        lo, hi = sorted((savings.actual, savings.adjusted_baseline))
        sign = ONE if savings.savings >= 0 else -ONE
        return [Priced(u, sign * q, p, f"阶梯价格 {version.id}", f"tiered tariff {version.id}", band=f"tier{i + 1}",
                       tariff_version=version.id, inputs={"price_basis": "tiered"})
                for i, (q, p) in enumerate(tier_slices(version, hi, lo))], []
    p = unit_price(version)
    basis_zh, basis_en = f"执行电价/水价 {version.id}", f"tariff {version.id}"
    if version.water is not None:
        w = version.water
        basis_zh = (f"水价 {version.id}（供水 {fmt_price(w.supply)} + 污水处理 {fmt_price(w.sewage)}"
                    f" + 水资源费 {fmt_price(w.resource_fee)}）")
        basis_en = f"water tariff {version.id} (supply + sewage + resource fee)"
    return [Priced(u, savings.savings, p, basis_zh, basis_en, tariff_version=version.id,
                   inputs={"price_basis": "tariff"})], []


def _tou(code: str, savings: UtilitySavings, tariffs: TariffBook, tz: str, component: str, on: date) -> Valued:
    u = savings.utility
    local = [(local_time(t, tz), q) for t, q in savings.intervals]
    groups = group_by_band(local, lambda d: tariffs.on(code, u, d))
    warnings = []
    total = sum((q for _, q in local), ZERO)
    if abs(total - savings.savings) > QTY * len(local):
        warnings.append(SettlementWarning("interval_total_mismatch",
                                          f"{u}: interval savings add up to {total}, the period's savings are "
                                          f"{savings.savings}; the intervals are valued", component, on))
    order = {b: i for i, b in enumerate(BAND_ZH)}
    priced = []
    for (vid, band), (version, qty) in sorted(groups.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        priced.append(Priced(u, qty, version.band_prices[band], f"分时电价 {BAND_ZH[band]}段（{vid}）",
                             f"time-of-use {band} band ({vid})", band=band, tariff_version=vid,
                             inputs={"price_basis": "time_of_use", "intervals": len(local)}))
    return priced, warnings
