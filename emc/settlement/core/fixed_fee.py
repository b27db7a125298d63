"""Fixed and O&M fees: ``amount`` per month/quarter/year × (1 + escalation)^(contract year − 1).

The escalation factor is kept exact (1.02³ = 1.061208) and the line rounds once; a fee stated per year is
1/4 of it per quarterly period, one stated per month is 3 × per quarter, and a cut period is pro rata by days.
"""

from __future__ import annotations

from fractions import Fraction

from emc.contracts.spec import FixedFee

from .lines import ESCO, INSTITUTION, ONE, fmt_fraction, fmt_money, fmt_num, fmt_pct, make_line
from .state import ComponentState, Context, Outcome

PER_YEAR = {"month": 12, "quarter": 4, "year": 1}
PER_ZH = {"month": "月", "quarter": "季度", "year": "年"}


def settle_fixed_fee(comp: FixedFee, ctx: Context, data: object, state: ComponentState) -> Outcome:
    year = ctx.period.contract_year
    factor = (ONE + comp.escalation) ** (year - 1)
    share = Fraction(PER_YEAR[comp.per], ctx.periods_per_year)
    prorate = share * ctx.period.prorate
    payer, payee = (INSTITUTION, ESCO) if comp.payer == "institution" else (ESCO, INSTITUTION)
    label = comp.label or "固定费用"
    esc_zh = f" × (1 + {fmt_pct(comp.escalation)})^{year - 1}" if comp.escalation else ""
    days = ctx.period.prorate
    days_zh = f" × {fmt_fraction(days)}（天）" if days != 1 else ""
    days_en = f" × {fmt_fraction(days)} (days)" if days != 1 else ""
    line = make_line(
        component=comp.key, code="fixed_fee", span=ctx.period, quantity=comp.amount, unit=f"元/{PER_ZH[comp.per]}",
        unit_price=factor, price_unit="", prorate=prorate, payer=payer, payee=payee, contract_version=ctx.version,
        formula=f"{label}：{fmt_money(comp.amount)} 元/{PER_ZH[comp.per]}{esc_zh} × {fmt_fraction(share)}{days_zh}",
        formula_en=(f"{comp.label or 'Fixed fee'}: CNY {fmt_money(comp.amount)}/{comp.per}"
                    f"{' × (1 + ' + fmt_pct(comp.escalation) + ')^' + str(year - 1) if comp.escalation else ''} × "
                    f"{fmt_fraction(share)}{days_en}"),
        inputs={"component": comp.key, "contract_version": ctx.version, "escalation_factor": fmt_num(factor)})
    return Outcome(lines=[line], state=state.for_year(year))
