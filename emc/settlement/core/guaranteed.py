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
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

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
from .periods import ContractYear, Period
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
                                              comp.key, ctx.start, {"utility": u}))
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


@dataclass
class _Tally:
    """The contract year's measurement, summed over its pieces."""

    verified: Decimal = ZERO
    adjusted: Decimal = ZERO
    variance: Decimal = ZERO
    guaranteed: Decimal = ZERO
    due_units: Decimal = ZERO  # exact money for per-unit payments
    missing: int = 0  # pieces without verified savings


def _tally(pieces: Sequence[Piece], u: str, cap: Decimal | None, year: ContractYear) -> _Tally:
    """Σ verified, adjusted baseline, variance and guarantee over the year; per-unit money due within the cap."""
    t = _Tally()
    for _, c, data in pieces:
        s = data.savings_for(u)
        if s is None:
            t.missing += 1
            continue
        before = _clamp(t.verified, cap)
        t.verified += s.savings
        t.adjusted += s.adjusted_baseline
        if s.uncertainty is not None:
            t.variance += s.uncertainty ** 2
        if c.guaranteed_rate is not None:
            t.guaranteed += s.adjusted_baseline * c.guaranteed_rate
        if c.savings_price is not None:
            t.due_units += (_clamp(t.verified, cap) - before) * c.savings_price
    for ctx, c, _ in pieces:
        if c.guaranteed_quantity is not None:
            t.guaranteed += exact(c.guaranteed_quantity, ONE, ONE, Fraction(ctx.period.days, year.nominal_days))
    t.guaranteed = quantity(t.guaranteed)
    return t


@dataclass
class _Year:
    """What every year-end line of the component shares: terms, span, measured figures, unit and inputs."""

    key: str
    comp: GuaranteedSavings
    u: str
    unit: str
    year: ContractYear
    span: Period | ContractYear
    version: str
    verified: Decimal
    adjusted: Decimal
    guaranteed: Decimal
    uncertainty: Decimal | None
    covered: int  # days the pieces cover
    common: dict[str, Any]


def _true_up(y: _Year, due_units: Decimal, cap: Decimal | None, settled: Sequence[Line]) -> list[Line]:
    """Per-unit payments: what the year's verified savings are worth less what the periods paid."""
    paid = sum((line.signed(INSTITUTION, ESCO) for line in settled if line.component == y.key
                and line.code == "savings_payment" and line.contract_year == y.year.number), ZERO)
    due = fen(due_units)
    if due == paid:
        return []
    cap_zh = f"，上限 {fmt_num(cap)} {y.unit}" if cap is not None else ""
    return [make_line(
        component=y.key, code="savings_true_up", span=y.span, quantity=due - paid, unit="元", unit_price=ONE,
        price_unit="", payer=INSTITUTION, payee=ESCO, subkey=y.u, contract_version=y.version,
        formula=(f"按节约量付费年度清算：全年应付 {fmt_money(due)} 元（核定{SAVED_ZH[y.u]} "
                 f"{fmt_num(y.verified)} {y.unit}{cap_zh}）− 已付 {fmt_money(paid)} 元"),
        formula_en=(f"Per-unit payments, year-end true-up: due CNY {fmt_money(due)} (verified "
                    f"{fmt_num(y.verified)} {y.unit}) − paid CNY {fmt_money(paid)}"),
        inputs=y.common)]


def _fee_lines(y: _Year) -> list[Line]:
    """The contract year's fee instalments, paid at its true-up."""
    number = y.year.number
    return [make_line(
        component=y.key, code="fee", span=y.span, quantity=inst.amount, unit="元", unit_price=ONE, price_unit="",
        payer=INSTITUTION, payee=ESCO, subkey=f"Y{number}.{i + 1}", contract_version=y.version,
        formula=f"节能服务费：第{number}合同年约定分期 {fmt_money(inst.amount)} 元（节能量确认后支付）",
        formula_en=f"Service fee: contract year {number} instalment CNY {fmt_money(inst.amount)}, due once "
                   "savings are confirmed",
        inputs=y.common) for i, inst in enumerate(c for c in y.comp.fee_schedule if c.contract_year == number)]


def _guarantee_text(y: _Year) -> tuple[str, str]:
    """How the guarantee was reached (rate × adjusted baseline, or quantity pro rata by days), zh and en."""
    comp = y.comp
    if comp.guaranteed_rate is not None:
        return (f"保证节约率 {fmt_pct(comp.guaranteed_rate)} × 校准基准用量 {fmt_num(y.adjusted)} {y.unit}",
                f"guaranteed rate {fmt_pct(comp.guaranteed_rate)} × adjusted baseline {fmt_num(y.adjusted)} {y.unit}")
    share = Fraction(y.covered, y.year.nominal_days)
    tail = f" × {fmt_fraction(share)}（天）" if share != 1 else ""
    g_zh = f"保证节约量 {fmt_num(comp.guaranteed_quantity or ZERO)} {y.unit}/年{tail}"
    g_en = f"guaranteed {fmt_num(comp.guaranteed_quantity or ZERO)} {y.unit}/yr" + (
        f" × {fmt_fraction(share)} (days)" if share != 1 else "")
    return g_zh, g_en


def _shortfall_lines(y: _Year, gap: Decimal, fee_total: Decimal) -> list[Line]:
    """A missed guarantee: netted from the year's fee (``net_from_fee``) up to the fee, the rest paid by the ESCO."""
    comp, unit, u = y.comp, y.unit, y.u
    g_zh, g_en = _guarantee_text(y)
    what = "节水效果保证" if u == "water" else "节能量保证"
    shortfall_zh = (f"{what}未达标：保证量 {fmt_num(y.guaranteed)} {unit}（{g_zh}）− 核定{SAVED_ZH[u]} "
                    f"{fmt_num(y.verified)} {unit} = 短缺 {fmt_num(gap)} {unit}")
    shortfall_en = (f"Guarantee missed: guaranteed {fmt_num(y.guaranteed)} {unit} ({g_en}) − verified "
                    f"{fmt_num(y.verified)} {unit} = shortfall {fmt_num(gap)} {unit}")
    amount = fen(exact(gap, comp.shortfall_price))
    netted = min(amount, fee_total) if comp.shortfall == "net_from_fee" else ZERO
    lines = []
    if netted > 0:
        lines.append(make_line(
            component=y.key, code="shortfall_netted", span=y.span, quantity=-netted, unit="元", unit_price=ONE,
            price_unit="", payer=INSTITUTION, payee=ESCO, subkey=u, contract_version=y.version,
            formula=(f"{shortfall_zh} × {fmt_price(comp.shortfall_price)} 元/{unit} = {fmt_money(amount)} 元，"
                     "从服务费中扣减"),
            formula_en=f"{shortfall_en} × CNY {fmt_price(comp.shortfall_price)}/{unit} = CNY {fmt_money(amount)}, "
                       "netted from the fee",
            inputs=y.common))
    if netted == 0:
        lines.append(make_line(
            component=y.key, code="shortfall", span=y.span, quantity=gap, unit=unit, unit_price=comp.shortfall_price,
            price_unit=f"元/{unit}", payer=ESCO, payee=INSTITUTION, subkey=u, utility=u, contract_version=y.version,
            formula=f"{shortfall_zh} × {fmt_price(comp.shortfall_price)} 元/{unit}（节能服务公司赔付）",
            formula_en=f"{shortfall_en} × CNY {fmt_price(comp.shortfall_price)}/{unit} (paid by the ESCO)",
            inputs=y.common))
    elif amount > netted:
        lines.append(make_line(
            component=y.key, code="shortfall", span=y.span, quantity=amount - netted, unit="元", unit_price=ONE,
            price_unit="", payer=ESCO, payee=INSTITUTION, subkey=u, contract_version=y.version,
            formula=f"短缺赔付超出当年服务费部分：{fmt_money(amount)} 元 − 已扣减 {fmt_money(netted)} 元",
            formula_en=f"Shortfall beyond the year's fee: CNY {fmt_money(amount)} − netted CNY {fmt_money(netted)}",
            inputs=y.common))
    return lines


def _surplus_line(y: _Year, surplus: Decimal) -> Line:
    """The ESCO's share of savings beyond the guarantee, valued at the shortfall price."""
    comp, unit, u = y.comp, y.unit, y.u
    return make_line(
        component=y.key, code="surplus_share", span=y.span, quantity=surplus, unit=unit,
        unit_price=comp.shortfall_price, price_unit=f"元/{unit}", rate=comp.surplus_esco_share, payer=INSTITUTION,
        payee=ESCO, subkey=u, utility=u, contract_version=y.version,
        formula=(f"超额节约分享：核定{SAVED_ZH[u]} {fmt_num(y.verified)} {unit} − 保证量 "
                 f"{fmt_num(y.guaranteed)} {unit} = "
                 f"{fmt_num(surplus)} {unit} × {fmt_price(comp.shortfall_price)} 元/{unit} × 分享比例 "
                 f"{fmt_pct(comp.surplus_esco_share)}"),
        formula_en=(f"Surplus sharing: verified {fmt_num(y.verified)} − guaranteed {fmt_num(y.guaranteed)} = "
                    f"{fmt_num(surplus)} {unit} × CNY {fmt_price(comp.shortfall_price)}/{unit} × ESCO share "
                    f"{fmt_pct(comp.surplus_esco_share)}"),
        inputs=y.common)


def _coverage_warnings(y: _Year, missing: int) -> list[SettlementWarning]:
    out = []
    if missing:
        out.append(SettlementWarning("year_incomplete", f"{missing} period(s) of contract year "
                                     f"{y.year.number} have no verified {y.u} savings", y.key, y.year.start,
                                     {"missing": str(missing), "year": str(y.year.number), "utility": y.u}))
    if y.covered != y.year.days:
        out.append(SettlementWarning("year_incomplete", f"the periods cover {y.covered} of the year's "
                                     f"{y.year.days} days", y.key, y.year.start,
                                     {"covered": str(y.covered), "days": str(y.year.days)}))
    return out


def settle_guaranteed_year(key: str, year_ctx: Context, pieces: Sequence[Piece], settled: Sequence[Line]) -> Outcome:
    """The contract-year true-up: per-unit payments, fee instalments, shortfall or surplus.

    ``pieces`` are the year's periods (or parts of them) with the component's terms in force on each;
    ``year_ctx`` carries the terms in force on the year's last day, which set the year-end prices."""
    out = Outcome()
    if not pieces:
        return out
    comp = pieces[-1][1]  # the terms in force at the year's end set the year-end prices
    u = str(comp.utilities[0])
    cap = _cap(comp, year_ctx)
    t = _tally(pieces, u, cap, year_ctx.year)
    uncertainty = quantity(t.variance.sqrt()) if t.variance else None
    common = {"component": key, "contract_version": year_ctx.version, "verified": t.verified,
              "adjusted_baseline": t.adjusted, "guaranteed": t.guaranteed, "uncertainty": uncertainty or "n/a"}
    y = _Year(key, comp, u, unit_shown(CANONICAL_UNITS[u]), year_ctx.year, year_ctx.period, year_ctx.version,
              t.verified, t.adjusted, t.guaranteed, uncertainty, sum(ctx.period.days for ctx, _, _ in pieces), common)
    out.warnings.extend(_coverage_warnings(y, t.missing))
    out.inputs.update({f"{key}.verified": str(t.verified), f"{key}.adjusted_baseline": str(t.adjusted),
                       f"{key}.guaranteed": str(t.guaranteed)})
    if uncertainty is not None:
        out.inputs[f"{key}.uncertainty"] = str(uncertainty)
    if any(c.savings_price is not None for _, c, _ in pieces):
        out.lines.extend(_true_up(y, t.due_units, cap, settled))
    fees = _fee_lines(y)
    out.lines.extend(fees)
    gap = t.guaranteed - t.verified
    if uncertainty is not None and abs(gap) <= uncertainty:
        out.warnings.append(SettlementWarning(
            "shortfall_within_uncertainty",
            f"guaranteed {t.guaranteed} and verified {t.verified} {y.unit} differ by less than the savings "
            f"uncertainty ±{uncertainty}; the point estimate settles", key, y.year.start,
            {"guaranteed": str(t.guaranteed), "verified": str(t.verified), "unit": y.unit,
             "uncertainty": str(uncertainty)}))
    if gap > 0:
        out.lines.extend(_shortfall_lines(y, gap, sum((line.amount for line in fees), ZERO)))
    elif gap < 0 and comp.surplus_esco_share > 0:
        out.lines.append(_surplus_line(y, -gap))
    return out
