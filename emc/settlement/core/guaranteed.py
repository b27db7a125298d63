"""Guaranteed savings (节能量保证型, GB/T 24915-2020 Appendix B; 节水效果保证型, GB/T 34149-2017).

The ESCO guarantees a saving per contract year — a quantity, or a rate of the adjusted baseline — on one
utility. The institution pays for savings (``savings_price`` per verified unit, up to
``savings_cap_per_year``) and/or a ``fee_schedule``; if verified savings fall short, the ESCO pays
(guaranteed − verified) × ``shortfall_price`` or has it netted from the fee; a surplus may be shared.

Rules where the contract file is silent:

* The guarantee is tested **once per contract year** (:func:`settle_guaranteed_year`), never per period.
  A rate guarantee is Σ rate × adjusted baseline over the year's periods (each day under the terms in force on
  it); a quantity guarantee for a cut contract year is pro rata by days.
* Per-unit payments are provisional each period on the year-to-date verified savings (clamped to
  [0, cap]); a negative period pays nothing rather than clawing back; the year-end true-up pays or claws back
  the difference to Σ payable units × price.
* Fee instalments of a contract year are paid at its true-up ("once savings are confirmed").
* ``net_from_fee``: the shortfall amount is deducted from that year's fee instalments; any rest is paid by the
  ESCO. The shortfall is the literal (guaranteed − verified): negative verified savings count as they are.
* Surplus (verified − guaranteed) × ``surplus_esco_share`` is valued at ``shortfall_price`` — the contract's
  unit value of a saving, used symmetrically for shortfall and surplus.
* Settlement uses the M&V point estimate (IPMVP); when the gap to the guarantee lies within the combined
  uncertainty (root sum of squares of the periods' uncertainties, periods taken as independent) the statement
  carries a ``shortfall_within_uncertainty`` warning for the parties to see.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from emc.contracts.spec import CANONICAL_UNITS, GuaranteedSavings
from emc.money import fen

from .inputs import PeriodData
from .lines import (
    ESCO,
    INSTITUTION,
    ONE,
    SAVED_ZH,
    ZERO,
    Line,
    SettlementWarning,
    exact,
    fmt_fraction,
    fmt_money,
    fmt_num,
    fmt_pct,
    fmt_price,
    make_line,
    quantity,
    unit_shown,
)
from .state import ComponentState, Context, Outcome


def _cap(comp: GuaranteedSavings, ctx: Context) -> Decimal | None:
    if comp.savings_cap_per_year is None:
        return None
    return quantity(exact(comp.savings_cap_per_year, ONE, ONE, ctx.year.prorate))


def _clamp(value: Decimal, cap: Decimal | None) -> Decimal:
    value = max(value, ZERO)
    return value if cap is None else min(value, cap)


def settle_guaranteed_period(comp: GuaranteedSavings, ctx: Context, data: PeriodData,
                             state: ComponentState) -> Outcome:
    """Provisional per-unit payment for one period; the guarantee itself waits for the year-end."""
    year = ctx.period.contract_year
    state = state.for_year(year)
    u = str(comp.utilities[0])
    unit = unit_shown(CANONICAL_UNITS[u])
    out = Outcome(state=state)
    savings = data.savings_for(u)
    if savings is None:
        out.warnings.append(SettlementWarning("no_savings_data", f"no verified {u} savings for the period",
                                              comp.key, ctx.start))
        return out
    out.inputs[f"{comp.key}.{u}.savings"] = str(savings.savings)
    out.inputs[f"{comp.key}.{u}.adjusted_baseline"] = str(savings.adjusted_baseline)
    verified = state.verified_in_year + savings.savings
    paid_qty, paid = state.paid_qty_in_year, ZERO
    if comp.savings_price is not None:
        cap = _cap(comp, ctx)
        pay = _clamp(verified, cap) - paid_qty
        if pay > 0:
            cap_zh = f"，年度上限 {fmt_num(cap)} {unit}" if cap is not None else ""
            line = make_line(
                component=comp.key, code="savings_payment", span=ctx.period, quantity=pay, unit=unit,
                unit_price=comp.savings_price, price_unit=f"元/{unit}", payer=INSTITUTION, payee=ESCO, utility=u,
                subkey=u, contract_version=ctx.version,
                formula=(f"按核定节约量付费：本合同年累计{SAVED_ZH[u]} {fmt_num(verified)} {unit}{cap_zh}，本期计费 "
                         f"{fmt_num(pay)} {unit} × {fmt_price(comp.savings_price)} 元/{unit}"),
                formula_en=(f"Payment per unit saved: year-to-date {u} saved {fmt_num(verified)} {unit}, billed now "
                            f"{fmt_num(pay)} {unit} × CNY {fmt_price(comp.savings_price)}/{unit}"),
                inputs={"component": comp.key, "contract_version": ctx.version, "savings": savings.savings,
                        "year_to_date": verified, "source": savings.source})
            out.lines.append(line)
            paid_qty += pay
            paid = line.amount
    out.state = ComponentState(year, state.paid_in_year + paid, verified, paid_qty, state.deficit)
    return out


Piece = tuple[Context, GuaranteedSavings, PeriodData]


def settle_guaranteed_year(key: str, year_ctx: Context, pieces: Sequence[Piece], settled: Sequence[Line]) -> Outcome:
    """The contract-year true-up: per-unit payments, fee instalments, shortfall or surplus.

    ``pieces`` are the year's periods (or parts of them) with the component's terms in force on each;
    ``year_ctx`` carries the terms in force on the year's last day, which set the year-end prices."""
    out = Outcome()
    if not pieces:
        return out
    comp = pieces[-1][1]  # the terms in force at the year's end set the year-end prices
    u = str(comp.utilities[0])
    unit = unit_shown(CANONICAL_UNITS[u])
    year = year_ctx.year
    verified, adjusted, variance, guaranteed = ZERO, ZERO, ZERO, ZERO
    due_units = ZERO  # exact money for per-unit payments
    cap = _cap(comp, year_ctx)
    missing = 0
    for _, c, data in pieces:
        s = data.savings_for(u)
        if s is None:
            missing += 1
            continue
        before = _clamp(verified, cap)
        verified += s.savings
        adjusted += s.adjusted_baseline
        if s.uncertainty is not None:
            variance += s.uncertainty ** 2
        if c.guaranteed_rate is not None:
            guaranteed += s.adjusted_baseline * c.guaranteed_rate
        if c.savings_price is not None:
            due_units += (_clamp(verified, cap) - before) * c.savings_price
    for ctx, c, _ in pieces:
        if c.guaranteed_quantity is not None:
            guaranteed += exact(c.guaranteed_quantity, ONE, ONE, Fraction(ctx.period.days, year.nominal_days))
    guaranteed = quantity(guaranteed)
    if missing:
        out.warnings.append(SettlementWarning("year_incomplete", f"{missing} period(s) of contract year "
                                              f"{year.number} have no verified {u} savings", key, year.start))
    covered = sum(ctx.period.days for ctx, _, _ in pieces)
    if covered != year.days:
        out.warnings.append(SettlementWarning("year_incomplete", f"the periods cover {covered} of the year's "
                                              f"{year.days} days", key, year.start))
    uncertainty = quantity(variance.sqrt()) if variance else None
    out.inputs.update({f"{key}.verified": str(verified), f"{key}.adjusted_baseline": str(adjusted),
                       f"{key}.guaranteed": str(guaranteed)})
    if uncertainty is not None:
        out.inputs[f"{key}.uncertainty"] = str(uncertainty)
    common = {"component": key, "contract_version": year_ctx.version, "verified": verified,
              "adjusted_baseline": adjusted, "guaranteed": guaranteed, "uncertainty": uncertainty or "n/a"}
    span, version = year_ctx.period, year_ctx.version

    if any(c.savings_price is not None for _, c, _ in pieces):
        paid = sum((line.signed(INSTITUTION, ESCO) for line in settled if line.component == key
                    and line.code == "savings_payment" and line.contract_year == year.number), ZERO)
        due = fen(due_units)
        cap_zh = f"，上限 {fmt_num(cap)} {unit}" if cap is not None else ""
        if due != paid:
            out.lines.append(make_line(
                component=key, code="savings_true_up", span=span, quantity=due - paid, unit="元", unit_price=ONE,
                price_unit="", payer=INSTITUTION, payee=ESCO, subkey=u, contract_version=version,
                formula=(f"按节约量付费年度清算：全年应付 {fmt_money(due)} 元（核定{SAVED_ZH[u]} "
                         f"{fmt_num(verified)} {unit}{cap_zh}）− 已付 {fmt_money(paid)} 元"),
                formula_en=(f"Per-unit payments, year-end true-up: due CNY {fmt_money(due)} (verified "
                            f"{fmt_num(verified)} {unit}) − paid CNY {fmt_money(paid)}"),
                inputs=common))

    fee_total = ZERO
    for i, inst in enumerate(c for c in comp.fee_schedule if c.contract_year == year.number):
        line = make_line(
            component=key, code="fee", span=span, quantity=inst.amount, unit="元", unit_price=ONE, price_unit="",
            payer=INSTITUTION, payee=ESCO, subkey=f"Y{year.number}.{i + 1}", contract_version=version,
            formula=f"节能服务费：第{year.number}合同年约定分期 {fmt_money(inst.amount)} 元（节能量确认后支付）",
            formula_en=f"Service fee: contract year {year.number} instalment CNY {fmt_money(inst.amount)}, due once "
                       "savings are confirmed",
            inputs=common)
        out.lines.append(line)
        fee_total += line.amount

    if comp.guaranteed_rate is not None:
        g_zh = f"保证节约率 {fmt_pct(comp.guaranteed_rate)} × 校准基准用量 {fmt_num(adjusted)} {unit}"
        g_en = f"guaranteed rate {fmt_pct(comp.guaranteed_rate)} × adjusted baseline {fmt_num(adjusted)} {unit}"
    else:
        share = Fraction(covered, year.nominal_days)
        tail = f" × {fmt_fraction(share)}（天）" if share != 1 else ""
        g_zh = f"保证节约量 {fmt_num(comp.guaranteed_quantity or ZERO)} {unit}/年{tail}"
        g_en = f"guaranteed {fmt_num(comp.guaranteed_quantity or ZERO)} {unit}/yr" + (
            f" × {fmt_fraction(share)} (days)" if share != 1 else "")
    gap = guaranteed - verified
    if uncertainty is not None and abs(gap) <= uncertainty:
        out.warnings.append(SettlementWarning(
            "shortfall_within_uncertainty",
            f"guaranteed {guaranteed} and verified {verified} {unit} differ by less than the savings "
            f"uncertainty ±{uncertainty}; the point estimate settles", key, year.start))
    what = "节水效果保证" if u == "water" else "节能量保证"
    if gap > 0:
        shortfall_zh = (f"{what}未达标：保证量 {fmt_num(guaranteed)} {unit}（{g_zh}）− 核定{SAVED_ZH[u]} "
                        f"{fmt_num(verified)} {unit} = 短缺 {fmt_num(gap)} {unit}")
        shortfall_en = (f"Guarantee missed: guaranteed {fmt_num(guaranteed)} {unit} ({g_en}) − verified "
                        f"{fmt_num(verified)} {unit} = shortfall {fmt_num(gap)} {unit}")
        amount = fen(exact(gap, comp.shortfall_price))
        netted = min(amount, fee_total) if comp.shortfall == "net_from_fee" else ZERO
        if netted > 0:
            out.lines.append(make_line(
                component=key, code="shortfall_netted", span=span, quantity=-netted, unit="元", unit_price=ONE,
                price_unit="", payer=INSTITUTION, payee=ESCO, subkey=u, contract_version=version,
                formula=(f"{shortfall_zh} × {fmt_price(comp.shortfall_price)} 元/{unit} = {fmt_money(amount)} 元，"
                         "从服务费中扣减"),
                formula_en=f"{shortfall_en} × CNY {fmt_price(comp.shortfall_price)}/{unit} = CNY {fmt_money(amount)}, "
                           "netted from the fee",
                inputs=common))
        if netted == 0:
            out.lines.append(make_line(
                component=key, code="shortfall", span=span, quantity=gap, unit=unit, unit_price=comp.shortfall_price,
                price_unit=f"元/{unit}", payer=ESCO, payee=INSTITUTION, subkey=u, utility=u, contract_version=version,
                formula=f"{shortfall_zh} × {fmt_price(comp.shortfall_price)} 元/{unit}（节能服务公司赔付）",
                formula_en=f"{shortfall_en} × CNY {fmt_price(comp.shortfall_price)}/{unit} (paid by the ESCO)",
                inputs=common))
        elif amount > netted:
            out.lines.append(make_line(
                component=key, code="shortfall", span=span, quantity=amount - netted, unit="元", unit_price=ONE,
                price_unit="", payer=ESCO, payee=INSTITUTION, subkey=u, contract_version=version,
                formula=f"短缺赔付超出当年服务费部分：{fmt_money(amount)} 元 − 已扣减 {fmt_money(netted)} 元",
                formula_en=f"Shortfall beyond the year's fee: CNY {fmt_money(amount)} − netted CNY {fmt_money(netted)}",
                inputs=common))
    elif gap < 0 and comp.surplus_esco_share > 0:
        surplus = -gap
        out.lines.append(make_line(
            component=key, code="surplus_share", span=span, quantity=surplus, unit=unit,
            unit_price=comp.shortfall_price, price_unit=f"元/{unit}", rate=comp.surplus_esco_share, payer=INSTITUTION,
            payee=ESCO, subkey=u, utility=u, contract_version=version,
            formula=(f"超额节约分享：核定{SAVED_ZH[u]} {fmt_num(verified)} {unit} − 保证量 "
                     f"{fmt_num(guaranteed)} {unit} = "
                     f"{fmt_num(surplus)} {unit} × {fmt_price(comp.shortfall_price)} 元/{unit} × 分享比例 "
                     f"{fmt_pct(comp.surplus_esco_share)}"),
            formula_en=(f"Surplus sharing: verified {fmt_num(verified)} − guaranteed {fmt_num(guaranteed)} = "
                        f"{fmt_num(surplus)} {unit} × CNY {fmt_price(comp.shortfall_price)}/{unit} × ESCO share "
                        f"{fmt_pct(comp.surplus_esco_share)}"),
            inputs=common))
    return out
