"""Energy/water-cost custody (能源费用托管型, GB/T 24915-2020 Appendix C; 用水费用托管型, GB/T 34149-2017;
国管节能〔2022〕287号; JS/T 301-2024; DB32/T 4446-2023).

The institution pays a custody fee fixed from the baseline: ``baseline_cost`` × ``fee_factor`` per contract
year, adjusted for the agreed changes; the ESCO bears the actual bills and keeps (or absorbs) the difference.

Rules where the contract file is silent:

* Per period the fee is annual fee × 1/periods-per-year × the period's day fraction (a whole month is 1/12
  whatever its length; a month cut by the term or an amendment is pro rata by days).
* Changes (:class:`.inputs.CustodyChange`) are separate, signed lines so the base fee stays recognisable:
  floor area / energy users: baseline_cost × factor × Δ ÷ baseline value (the baseline's cost intensity per m²
  or per person applies to the change); price: annual baseline use × (new − baseline unit price) × factor;
  non-routine: the approved annual amount. Each change runs pro rata by the days it is in force. A change
  whose basis is not in ``adjust_for`` is refused with a ``change_not_agreed`` warning.
* Bills: by default the ESCO pays them directly (they stay off the statement and count as the ESCO's cost);
  with ``bills_paid_by = "institution"`` (utility accounts left in the institution's name) the statement adds
  a line ESCO → institution reimbursing them.
* Annual reconciliation (``reconciliation = "annual"``): the year's fee is recomputed exactly from the changes
  approved by the year-end (including retroactive ones) and rounded once; the difference to what the periods
  settled — rounding residue of the monthly fees included — is one ``reconciliation`` line.
* Savings-rate guarantee: achieved rate = Σ savings ÷ Σ adjusted baseline over the contract year, rounded to
  0.0001 %; with several utilities both are weighted by unit cost (the contract's ``[valuation.prices]`` if
  it has them, else each utility's average bill cost over the year). The penalty is
  ``guarantee_penalty_rate`` × the year's fee per percentage point missed, pro rata for part of a point, and
  never more than the year's fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from emc.contracts.spec import CANONICAL_UNITS, BaselineSpec, CostCustody, ValuationSpec, add_years
from emc.money import fen
from emc.tariffs.book import TariffBook, unit_price

from .inputs import CustodyChange, PeriodData
from .lines import (
    ESCO,
    INSTITUTION,
    ONE,
    UTILITY_ZH,
    ZERO,
    Line,
    SettlementWarning,
    fmt_fraction,
    fmt_money,
    fmt_num,
    fmt_pct,
    fmt_price,
    make_line,
    quantity,
    unit_shown,
)
from .periods import Period, overlap_days
from .state import ComponentState, Context, Outcome

RATE = Decimal("0.000001")  # achieved savings rates: 0.0001 %
FEE_CODES = ("custody_fee", "custody_change")


def annual_baseline_use(baseline: BaselineSpec, utility: str) -> Decimal:
    """The baseline's use per year: divided by the number of whole years it spans, else scaled by 365 days."""
    use = baseline.use[utility]  # type: ignore[index]
    end = baseline.end + (date.resolution)
    years = 0
    while add_years(baseline.start, years + 1) <= end:
        years += 1
    if years and add_years(baseline.start, years) == end:
        return quantity(use / years)
    return quantity(use * 365 / (end - baseline.start).days)


def _time(ctx: Context, start: date, end: date) -> tuple[Fraction, str, str]:
    """Share of a year for the days of [start, end) inside the period, and its text."""
    period = ctx.period
    assert isinstance(period, Period)
    per = Fraction(1, ctx.periods_per_year)
    days = overlap_days(period.start, period.end, start, end)
    part = Fraction(days, period.nominal_days)
    zh = f"{fmt_fraction(per)} 年" + (f" × {days}/{period.nominal_days} 天" if part != 1 else "")
    en = f"{fmt_fraction(per)} yr" + (f" × {days}/{period.nominal_days} days" if part != 1 else "")
    return per * part, zh, en


def fee_lines(comp: CostCustody, ctx: Context) -> tuple[list[Line], list[SettlementWarning]]:
    """The custody fee of one period (or part): the base fee and one line per change in force."""
    period = ctx.period
    prorate, t_zh, t_en = _time(ctx, period.start, period.end)
    common = {"component": comp.key, "contract_version": ctx.version}
    lines = [make_line(
        component=comp.key, code="custody_fee", span=period, quantity=comp.baseline_cost, unit="元/年",
        unit_price=comp.fee_factor, price_unit="", prorate=prorate, payer=INSTITUTION, payee=ESCO,
        contract_version=ctx.version,
        formula=(f"能源费用托管费：基期能源费用 {fmt_money(comp.baseline_cost)} 元/年 × 托管费系数 "
                 f"{fmt_num(comp.fee_factor)} × {t_zh}"),
        formula_en=(f"Custody fee: baseline cost CNY {fmt_money(comp.baseline_cost)}/yr × fee factor "
                    f"{fmt_num(comp.fee_factor)} × {t_en}"),
        inputs={**common, "baseline_cost": comp.baseline_cost, "fee_factor": comp.fee_factor})]
    warnings: list[SettlementWarning] = []
    for change in ctx.changes:
        if change.component not in (None, comp.key):
            continue
        if overlap_days(period.start, period.end, change.effective, change.end()) == 0:
            continue
        if change.basis not in comp.adjust_for:
            warnings.append(SettlementWarning("change_not_agreed", f"change {change.ref}: the contract does not "
                                              f"adjust the fee for {change.basis}", comp.key, period.start))
            continue
        line = _change_line(comp, ctx, change)
        if isinstance(line, SettlementWarning):
            warnings.append(line)
        else:
            lines.append(line)
    return lines, warnings


def _change_line(comp: CostCustody, ctx: Context, change: CustodyChange) -> Line | SettlementWarning:
    prorate, t_zh, t_en = _time(ctx, change.effective, change.end())
    baseline = ctx.terms.baseline
    base: dict[str, object] = dict(
        component=comp.key, code="custody_change", span=ctx.period, payer=INSTITUTION, payee=ESCO,
        subkey=f"{change.basis}:{change.ref}", contract_version=ctx.version,
        inputs={"component": comp.key, "contract_version": ctx.version, "change": change.ref,
                "basis": change.basis, "effective": change.effective, "reason": change.reason})
    ref = f"（{change.ref}）"
    if change.basis in ("floor_area", "energy_users"):
        label_zh, label_en, unit = (("建筑面积", "floor area", "m²") if change.basis == "floor_area"
                                    else ("用能人数", "energy users", "人"))
        value = None if baseline is None else (
            baseline.floor_area_m2 if change.basis == "floor_area" else baseline.energy_users)
        if not value:
            return SettlementWarning("no_baseline_value", f"change {change.ref}: the baseline has no {label_en}",
                                     comp.key, ctx.start)
        assert change.delta is not None
        ratio = Fraction(change.delta) / Fraction(value)
        return make_line(
            quantity=comp.baseline_cost, unit="元/年", unit_price=comp.fee_factor, price_unit="",
            prorate=ratio * prorate,
            formula=(f"托管费调整（{label_zh}变化）：基期能源费用 {fmt_money(comp.baseline_cost)} 元/年 × 托管费系数 "
                     f"{fmt_num(comp.fee_factor)} × {label_zh}变化 {fmt_num(change.delta)} {unit} ÷ 基期"
                     f"{label_zh} {fmt_num(Decimal(value))} {unit} × {t_zh}{ref}"),
            formula_en=(f"Custody fee change ({label_en}): baseline cost CNY {fmt_money(comp.baseline_cost)}/yr × "
                        f"{fmt_num(comp.fee_factor)} × Δ {fmt_num(change.delta)} {unit} ÷ baseline "
                        f"{fmt_num(Decimal(value))} {unit} × {t_en} ({change.ref})"),
            **base)  # type: ignore[arg-type]
    if change.basis == "price":
        u = str(change.utility)
        if baseline is None or u not in baseline.use:
            return SettlementWarning("no_baseline_use", f"change {change.ref}: no baseline use for {u}",
                                     comp.key, ctx.start)
        assert change.new_price is not None and change.baseline_price is not None
        use = annual_baseline_use(baseline, u)
        unit = unit_shown(CANONICAL_UNITS[u])
        diff = change.new_price - change.baseline_price
        return make_line(
            quantity=use, unit=f"{unit}/年", unit_price=diff, price_unit=f"元/{unit}", rate=comp.fee_factor,
            prorate=prorate, utility=u, tariff_version=change.tariff_version,
            formula=(f"托管费调整（{UTILITY_ZH.get(u, u)}价变动）：基期年用量 {fmt_num(use)} {unit} × 单价变化 "
                     f"({fmt_price(change.new_price)} − {fmt_price(change.baseline_price)}) 元/{unit} × 托管费系数 "
                     f"{fmt_num(comp.fee_factor)} × {t_zh}{ref}"),
            formula_en=(f"Custody fee change ({u} price): baseline use {fmt_num(use)} {unit}/yr × "
                        f"(CNY {fmt_price(change.new_price)} − {fmt_price(change.baseline_price)})/{unit} × "
                        f"{fmt_num(comp.fee_factor)} × {t_en} ({change.ref})"),
            **base)  # type: ignore[arg-type]
    assert change.annual_amount is not None
    return make_line(
        quantity=change.annual_amount, unit="元/年", unit_price=ONE, price_unit="", prorate=prorate,
        formula=f"托管费调整（经批准的非常规变化）：{fmt_money(change.annual_amount)} 元/年 × {t_zh}{ref}",
        formula_en=f"Custody fee change (approved non-routine event): CNY {fmt_money(change.annual_amount)}/yr × "
                   f"{t_en} ({change.ref})",
        **base)  # type: ignore[arg-type]


def settle_custody_period(comp: CostCustody, ctx: Context, data: PeriodData, state: ComponentState) -> Outcome:
    lines, warnings = fee_lines(comp, ctx)
    out = Outcome(lines=lines, warnings=warnings, state=state.for_year(ctx.period.contract_year))
    fee = sum((line.amount for line in lines), ZERO)
    actual, parts = ZERO, []
    for utility in comp.utilities:
        u = str(utility)
        cost = sum((b.cost for b in data.bills_for(u)), ZERO)
        if not data.bills_for(u):
            out.warnings.append(SettlementWarning("no_bills", f"no {u} bill for the period", comp.key, ctx.start,
                                                {"utility": u}))
        out.inputs[f"{comp.key}.{u}.actual_cost"] = str(cost)
        out.inputs[f"{comp.key}.{u}.bills"] = ",".join(b.ref for b in data.bills_for(u))
        actual += cost
        parts.append(f"{UTILITY_ZH.get(u, u)} {fmt_money(cost)}")
    out.inputs[f"{comp.key}.fee"] = str(fee)
    out.inputs[f"{comp.key}.actual_cost"] = str(actual)
    out.inputs[f"{comp.key}.esco_margin"] = str(fee - actual)
    if ctx.bills_paid_by == "institution" and actual:
        out.lines.append(make_line(
            component=comp.key, code="bills_reimbursed", span=ctx.period, quantity=actual, unit="元",
            unit_price=ONE, price_unit="", payer=ESCO, payee=INSTITUTION, contract_version=ctx.version,
            formula=(f"代付能源费用返还：本期实际能源费用账单 {fmt_money(actual)} 元（{' + '.join(parts)}），"
                     "由节能服务公司承担"),
            formula_en=f"Reimbursed bills: actual energy and water bills CNY {fmt_money(actual)}, borne by the ESCO",
            inputs={"component": comp.key, "bills": ",".join(b.ref for b in data.bills)}))
    else:
        out.esco_costs = actual
    assert out.state is not None
    out.state = ComponentState(out.state.year, out.state.paid_in_year + fee, out.state.verified_in_year,
                               out.state.paid_qty_in_year, out.state.deficit)
    return out


Piece = tuple[Context, CostCustody, PeriodData]


def settle_custody_year(key: str, year_ctx: Context, pieces: Sequence[Piece], settled: Sequence[Line]) -> Outcome:
    """Contract-year reconciliation of the fee and the savings-rate guarantee."""
    out = Outcome()
    if not pieces:
        return out
    comp = pieces[-1][1]
    year = year_ctx.year
    exact_due = ZERO
    for ctx, c, _ in pieces:
        lines, warnings = fee_lines(c, ctx)
        exact_due += sum((line.exact for line in lines), ZERO)
        out.warnings.extend(w for w in warnings if w.code != "change_not_agreed")
    due = fen(exact_due)
    paid = sum((line.signed(INSTITUTION, ESCO) for line in settled if line.component == key
                and line.code in FEE_CODES and line.contract_year == year.number), ZERO)
    out.inputs.update({f"{key}.year_fee": str(due), f"{key}.settled_fee": str(paid)})
    span, version = year_ctx.period, year_ctx.version
    common = {"component": key, "contract_version": version, "year_fee": due, "settled": paid}
    if comp.reconciliation == "annual" and due != paid:
        diff = due - paid
        payer, payee = (INSTITUTION, ESCO) if diff > 0 else (ESCO, INSTITUTION)
        out.lines.append(make_line(
            component=key, code="reconciliation", span=span, quantity=abs(diff), unit="元", unit_price=ONE,
            price_unit="", payer=payer, payee=payee, contract_version=version,
            formula=(f"托管费年度清算：第{year.number}合同年应付托管费 {fmt_money(due)} 元"
                     "（按年末已批准的调整逐日重算）"
                     f" − 已结算 {fmt_money(paid)} 元"),
            formula_en=(f"Custody fee annual reconciliation: contract year {year.number} fee CNY {fmt_money(due)} "
                        f"(recomputed with all approved changes) − settled CNY {fmt_money(paid)}"),
            inputs=common))
    if comp.savings_rate_guarantee is not None and comp.guarantee_penalty_rate is not None:
        line = _rate_guarantee(comp, year_ctx, pieces, due, out)
        if line is not None:
            out.lines.append(line)
    return out


@dataclass
class _YearSums:
    """Per utility over the contract year: verified savings, adjusted baseline, billed cost and quantity."""

    savings: dict[str, Decimal]
    adjusted: dict[str, Decimal]
    cost: dict[str, Decimal]
    billed: dict[str, Decimal]


def _year_sums(comp: CostCustody, utilities: list[str], pieces: Sequence[Piece], out: Outcome) -> _YearSums:
    sums = _YearSums(*({u: ZERO for u in utilities} for _ in range(4)))
    for _, _, data in pieces:
        for u in utilities:
            s = data.savings_for(u)
            if s is None:
                out.warnings.append(SettlementWarning("no_savings_data", f"no verified {u} savings for "
                                                      f"{data.period.label}", comp.key, data.period.start,
                                                      {"utility": u}))
                continue
            sums.savings[u] += s.savings
            sums.adjusted[u] += s.adjusted_baseline
            for b in data.bills_for(u):
                sums.cost[u] += b.cost
                sums.billed[u] += b.quantity
    return sums


def _rate_weights(utilities: list[str], valuation: ValuationSpec | None,
                  sums: _YearSums) -> tuple[dict[str, Decimal], str, str] | None:
    """How several utilities' savings add up to one rate: by contract prices, else by the year's average bill
    cost; None when neither is known. One utility weighs one."""
    if len(utilities) == 1:
        return {utilities[0]: ONE}, "", ""
    if valuation is not None and all(u in valuation.prices for u in utilities):
        return ({u: valuation.prices[u] for u in utilities},  # type: ignore[index]
                "（按合同基准单价加权）", " (weighted by contract prices)")
    if all(sums.billed[u] > 0 for u in utilities):
        return ({u: sums.cost[u] / sums.billed[u] for u in utilities},
                "（按本合同年账单平均单价加权）", " (weighted by the year's average bill cost)")
    return None


def _rate_guarantee(comp: CostCustody, year_ctx: Context, pieces: Sequence[Piece], year_fee: Decimal,
                    out: Outcome) -> Line | None:
    """The savings-rate guarantee (JS/T 301-2024): achieved rate against the guarantee; a penalty per point
    missed, as a share of the year's fee and never more than the fee."""
    year = year_ctx.year
    utilities = [str(u) for u in comp.utilities]
    sums = _year_sums(comp, utilities, pieces, out)
    savings, adjusted = sums.savings, sums.adjusted
    weighting = _rate_weights(utilities, year_ctx.terms.valuation, sums)
    if weighting is None:
        out.warnings.append(SettlementWarning("no_rate_weights", "several utilities but neither contract prices nor "
                                              "bills to weight them: savings-rate guarantee not assessed",
                                              comp.key, year.start))
        return None
    weights, basis_zh, basis_en = weighting
    denominator = sum((adjusted[u] * weights[u] for u in utilities), ZERO)
    if denominator <= 0:
        return None
    achieved = (sum((savings[u] * weights[u] for u in utilities), ZERO) / denominator).quantize(
        RATE, rounding=ROUND_HALF_UP)
    guarantee = comp.savings_rate_guarantee or ZERO
    penalty_rate = comp.guarantee_penalty_rate or ZERO
    out.inputs[f"{comp.key}.achieved_rate"] = str(achieved)
    if achieved >= guarantee:
        return None
    points = (guarantee - achieved) * 100
    if penalty_rate * points > 1:
        points = ONE / penalty_rate  # never more than the year's fee
    return make_line(
        component=comp.key, code="guarantee_penalty", span=year_ctx.period, quantity=points, unit="个百分点",
        unit_price=year_fee, price_unit="元", rate=penalty_rate, payer=ESCO, payee=INSTITUTION,
        contract_version=year_ctx.version,
        formula=(f"节能率保证违约金：保证节约率 {fmt_pct(guarantee)} − 实际节约率 {fmt_pct(achieved)}{basis_zh} = "
                 f"{fmt_num(points)} 个百分点 × 本合同年托管费 {fmt_money(year_fee)} 元 × 每个百分点 "
                 f"{fmt_pct(penalty_rate)}"),
        formula_en=(f"Savings-rate guarantee penalty: guaranteed {fmt_pct(guarantee)} − achieved {fmt_pct(achieved)}"
                    f"{basis_en} = {fmt_num(points)} points × year's fee CNY {fmt_money(year_fee)} × "
                    f"{fmt_pct(penalty_rate)} per point"),
        inputs={"component": comp.key, "contract_version": year_ctx.version, "achieved_rate": achieved,
                **{f"{u}.savings": savings[u] for u in utilities}, **{f"{u}.adjusted_baseline": adjusted[u]
                                                                      for u in utilities}})


def tariff_price_changes(comp: CostCustody, baseline: BaselineSpec, tariffs: TariffBook) -> list[CustodyChange]:
    """The ``price`` changes a custody component's ``price_tariffs`` imply (GB/T 24915-2020 App. C: the fee
    follows energy-price changes when the contract says so): against the version in force on the baseline's
    last day, every later version of the same tariff with another unit price is a change from its
    effective date to the next version's. Raises TariffError when a tariff is missing or has no single unit
    price (a time-of-use tariff cannot set a custody fee; name its average-price tariff instead)."""
    changes: list[CustodyChange] = []
    for utility, code in (comp.price_tariffs or {}).items():
        u = str(utility)
        base = tariffs.on(code, u, baseline.end)
        base_price = unit_price(base)
        for v in tariffs.versions:
            if (v.code, v.utility) != (code, u) or v.effective_from <= base.effective_from:
                continue
            new_price = unit_price(v)
            if new_price == base_price:
                continue
            changes.append(CustodyChange(
                basis="price", effective=v.effective_from, until=v.effective_to, ref=v.source or v.id, utility=u,
                baseline_price=base_price, new_price=new_price, tariff_version=v.id, component=comp.key,
                reason=f"{UTILITY_ZH.get(u, u)}价格调整 {base.id} → {v.id}"))
    return changes
