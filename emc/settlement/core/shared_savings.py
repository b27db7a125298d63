"""Shared savings (节能效益分享型, GB/T 24915-2020 Appendix A; water: 节水效益分享型, GB/T 34149-2017).

Each period the institution pays the ESCO ``esco_share[contract year]`` × the value of verified savings.

Rules (contracts/README.md, and where it is silent, stated here):

* Value = Σ savings × unit price (:mod:`.valuation`), per utility (``basis = per_utility``) or netted over the
  component's utilities (``basis = total``: a utility with negative savings reduces the others' value).
* A line per valued piece (utility, TOU band, tier): savings × price × share, rounded per line.
* No savings, no payment: a non-positive value pays nothing. With ``carry_forward`` the deficit (in value,
  CNY, rounded to the fen) is carried and deducted — at the *then* current share — from the next positive
  value, across contract years; a deficit left at the end of the term lapses (the ESCO's risk). Without
  ``carry_forward`` it is dropped. The statement shows the negative value on a zero-amount line.
* ``floor_per_period``: if the period's payment is below the floor (× the period's day fraction when the
  period is cut), a top-up line brings it to the floor — the contract's minimum, whatever the savings.
* ``cap_per_year``: ESCO receipts from this component within a contract year stop at the cap (× the year's
  day fraction for a cut year); the excess is a negative ``cap`` line. Cap wins over floor.
"""

from __future__ import annotations

from decimal import Decimal

from emc.contracts.spec import CANONICAL_UNITS, SharedSavings
from emc.money import fen
from emc.tariffs.book import BAND_ZH

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
    fmt_money,
    fmt_num,
    fmt_pct,
    fmt_price,
    make_line,
    unit_shown,
)
from .state import ComponentState, Context, Outcome
from .valuation import Priced, value_savings


def settle_shared(comp: SharedSavings, ctx: Context, data: PeriodData, state: ComponentState) -> Outcome:
    year = ctx.period.contract_year
    state = state.for_year(year)
    share = comp.esco_share[min(year, len(comp.esco_share)) - 1]
    valuation = ctx.terms.valuation
    out = Outcome()
    if valuation is None:  # the spec refuses this; kept as data in case of a hand-built contract
        out.warnings.append(SettlementWarning("no_valuation", "shared savings need [valuation]", comp.key, ctx.start))
        out.state = state
        return out
    groups: dict[str, list[Priced]] = {}
    for utility in comp.utilities:
        u = str(utility)
        savings = data.savings_for(u)
        if savings is None:
            out.warnings.append(SettlementWarning("no_savings_data", f"no verified {u} savings for the period",
                                                  comp.key, ctx.start, {"utility": u}))
            continue
        out.inputs[f"{comp.key}.{u}.savings"] = str(savings.savings)
        priced, warnings = value_savings(valuation, savings, contract_year=year, on=ctx.start,
                                         bills=data.bills_for(u), tariffs=ctx.tariffs, tz=ctx.tz, component=comp.key)
        out.warnings.extend(warnings)
        if priced:  # a utility that could not be valued is a warning, not a zero value
            groups.setdefault("total" if comp.basis == "total" else u, []).extend(priced)
        if savings.uncertainty is not None:
            out.inputs[f"{comp.key}.{u}.uncertainty"] = str(savings.uncertainty)
    deficits = dict(state.deficit)
    lines: list[Line] = []
    for key, pieces in groups.items():
        lines.extend(_group_lines(comp, ctx, key, pieces, share, deficits))
    paid = sum((line.amount for line in lines), ZERO)
    if comp.floor_per_period is not None:
        floor = fen(exact(comp.floor_per_period, ONE, ONE, ctx.period.prorate))
        if paid < floor:
            lines.append(_money_line(comp, ctx, "floor_topup", floor - paid,
                                     f"保底补足：本期保底金额 {fmt_money(floor)} 元 − 分享金额 {fmt_money(paid)} 元",
                                     f"Floor top-up: period floor CNY {fmt_money(floor)} − shared CNY "
                                     f"{fmt_money(paid)}"))
            paid = floor
    if comp.cap_per_year is not None:
        cap = fen(exact(comp.cap_per_year, ONE, ONE, ctx.year.prorate))
        excess = state.paid_in_year + paid - cap
        if paid > 0 and excess > 0:
            cut = min(excess, paid)
            lines.append(_money_line(
                comp, ctx, "cap", -cut,
                f"年度封顶：本合同年上限 {fmt_money(cap)} 元，已付 {fmt_money(state.paid_in_year)} 元 + 本期 "
                f"{fmt_money(paid)} 元，超出部分不付",
                f"Annual cap: contract-year cap CNY {fmt_money(cap)}, paid CNY {fmt_money(state.paid_in_year)} + "
                f"this period CNY {fmt_money(paid)}; the excess is not paid"))
            paid -= cut
    out.lines = lines
    out.state = ComponentState(year, state.paid_in_year + paid, state.verified_in_year, state.paid_qty_in_year,
                               deficits)
    return out


def _group_lines(comp: SharedSavings, ctx: Context, key: str, pieces: list[Priced], share: Decimal,
                 deficits: dict[str, Decimal]) -> list[Line]:
    value = sum((exact(p.quantity, p.price) for p in pieces), ZERO)
    deficit = deficits.get(key, ZERO) if comp.carry_forward else ZERO
    net = value - deficit
    if net > 0:
        lines = [_piece_line(comp, ctx, p, share) for p in pieces]
        if deficit:
            lines.append(_money_line(
                comp, ctx, "carried_deficit", -deficit,
                f"抵扣以前期间结转的负效益 {fmt_money(deficit)} 元 × 分享比例 {fmt_pct(share)}",
                f"Deficit carried from earlier periods CNY {fmt_money(deficit)} × ESCO share {fmt_pct(share)}",
                rate=share, subkey=key))
        deficits.pop(key, None)
        if sum((line.amount for line in lines), ZERO) >= 0:
            return lines
    carried = fen(-net) if comp.carry_forward and net < 0 else ZERO
    if carried:
        deficits[key] = carried
    else:
        deficits.pop(key, None)
    shown = f"本期节能效益 {fmt_money(fen(value))} 元" + (f"，扣除结转 {fmt_money(deficit)} 元" if deficit else "")
    shown_en = f"Savings value this period CNY {fmt_money(fen(value))}" + (
        f" less carried deficit CNY {fmt_money(deficit)}" if deficit else "")
    tail = f"，结转下期 {fmt_money(carried)} 元" if carried else (
        "" if comp.carry_forward else "（合同未约定结转，不结转）")
    tail_en = f"; CNY {fmt_money(carried)} carried forward" if carried else (
        "" if comp.carry_forward else " (no carry-forward in the contract)")
    details = "；".join(f"{SAVED_ZH.get(p.utility, p.utility)} {fmt_num(p.quantity)}" for p in pieces)
    return [make_line(
        component=comp.key, code="no_payment", span=ctx.period, quantity=fen(net), unit="元", unit_price=ONE,
        price_unit="", rate=ZERO, payer=INSTITUTION, payee=ESCO, subkey=key, contract_version=ctx.version,
        formula=f"{shown}，不为正，本期不支付{tail}（{details}）",
        formula_en=f"{shown_en} is not positive: nothing paid{tail_en}",
        inputs={"component": comp.key, "value": fen(value), "deficit_in": deficit, "deficit_out": carried})]


def _piece_line(comp: SharedSavings, ctx: Context, p: Priced, share: Decimal) -> Line:
    unit = unit_shown(CANONICAL_UNITS[p.utility])
    what = "节水效益分享" if p.utility == "water" else "节能效益分享"
    band = ""
    if p.band.startswith("tier"):
        band = f"（第{p.band[4:]}阶梯）"
    elif p.band:
        band = f"（{BAND_ZH.get(p.band, p.band)}段）"
    return make_line(
        component=comp.key, code="shared_savings", span=ctx.period, quantity=p.quantity, unit=unit,
        unit_price=p.price, price_unit=f"元/{unit}", rate=share, payer=INSTITUTION, payee=ESCO,
        subkey=f"{p.utility}:{p.band}" if p.band else p.utility, utility=p.utility,
        contract_version=ctx.version, tariff_version=p.tariff_version,
        formula=(f"{what}：{SAVED_ZH.get(p.utility, p.utility)}{band} {fmt_num(p.quantity)} {unit} × "
                 f"{fmt_price(p.price)} 元/{unit}{f'（{p.basis_zh}）' if p.basis_zh else ''} × 分享比例 "
                 f"{fmt_pct(share)}"),
        formula_en=(f"Shared savings: {p.utility} saved{' (' + p.band + ')' if p.band else ''} "
                    f"{fmt_num(p.quantity)} {unit} × CNY {fmt_price(p.price)}/{unit}"
                    f"{f' ({p.basis_en})' if p.basis_en else ''} × ESCO share {fmt_pct(share)}"),
        inputs={"component": comp.key, "contract_version": ctx.version, "savings": p.quantity, "price": p.price,
                "share": share, **p.inputs})


def _money_line(comp: SharedSavings, ctx: Context, code: str, amount: Decimal, formula: str, formula_en: str,
                rate: Decimal = ONE, subkey: str = "") -> Line:
    return make_line(component=comp.key, code=code, span=ctx.period, quantity=amount, unit="元", unit_price=ONE,
                     price_unit="", rate=rate, payer=INSTITUTION, payee=ESCO, subkey=subkey,
                     contract_version=ctx.version, formula=formula, formula_en=formula_en,
                     inputs={"component": comp.key})
