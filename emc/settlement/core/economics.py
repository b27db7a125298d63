"""Contract economics from the ESCO's side: investment against the cash the contract brings, to date and
projected to the end of the term — NPV, IRR, simple and discounted payback.

Conventions (numpy-financial's, stated because Excel's differ — docs/design.md "Stack pitfalls"):

* Time is counted in contract years. **t = 0 is the contract start**, where the whole investment
  (``esco_investment``) sits, undiscounted. Cash of contract year k (settlements, bills the ESCO paid, any
  other flow dated in that year) is summed and placed at **t = k, the end of year k**.
* NPV = Σ_{t=0..T} F_t / (1 + r)^t — what ``numpy_financial.npv(r, F)`` computes (it starts at t = 0; Excel's
  NPV() would discount F_0 by one year). Evaluated in Decimal and rounded half-up to the fen.
* IRR is the r with NPV = 0, by ``numpy_financial.irr``. Only with exactly one sign change in the flows is it
  unique (Descartes' rule of signs on x = 1/(1+r)); with more, the answer is "no unique IRR" rather than
  whichever root the solver lands on; with none (or no root found), "no IRR".
* Payback: the first t where cumulative (discounted) flow reaches zero, interpolated linearly within the year
  (cash assumed to arrive evenly through it), in years to 0.01; None if not reached within the flows given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import TYPE_CHECKING

import numpy as np
import numpy_financial as npf

from emc.contracts.spec import ContractHead
from emc.money import fen

from .lines import ESCO, ONE, ZERO
from .periods import ONE_DAY, contract_years

if TYPE_CHECKING:
    from .engine import SettlementResult

CONVENTION = ("t=0 at the contract start (investment, undiscounted); contract year k's cash at t=k (year end); "
              "NPV = Σ F_t/(1+r)^t as numpy_financial.npv")
YEARS = Decimal("0.01")
IRR_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class CashFlow:
    """Cash to (+) or from (−) the ESCO on ``day``."""

    day: date
    amount: Decimal
    label: str = ""
    projected: bool = False


@dataclass(frozen=True)
class IRRResult:
    value: Decimal | None
    status: str  # "unique" | "no_unique_irr" | "none"
    sign_changes: int
    message: str


@dataclass(frozen=True)
class Metrics:
    flows: tuple[Decimal, ...]  # F_0 … F_T
    npv: Decimal
    irr: IRRResult
    simple_payback_years: Decimal | None
    discounted_payback_years: Decimal | None


@dataclass(frozen=True)
class Economics:
    investment: Decimal
    rate: Decimal
    as_of: date
    to_date: Metrics
    projected: Metrics
    convention: str = CONVENTION


def npv(rate: Decimal, flows: Sequence[Decimal]) -> Decimal:
    """Σ F_t / (1 + rate)^t with F_0 undiscounted, half-up to the fen."""
    with localcontext() as ctx:
        ctx.prec = 50
        total = sum((f / (ONE + rate) ** t for t, f in enumerate(flows)), ZERO)
    return fen(total)


def sign_changes(flows: Sequence[Decimal]) -> int:
    signs = [f > 0 for f in flows if f != 0]
    return sum(1 for a, b in zip(signs, signs[1:], strict=False) if a != b)


def irr(flows: Sequence[Decimal]) -> IRRResult:
    """The internal rate of return, or why there is none."""
    changes = sign_changes(flows)
    if changes == 0:
        return IRRResult(None, "none", 0, "现金流不变号，不存在内部收益率 | cash flows never change sign: no IRR")
    if changes > 1:
        return IRRResult(None, "no_unique_irr", changes,
                         f"现金流变号 {changes} 次，内部收益率不唯一 | cash flows change sign {changes} times: "
                         "no unique IRR")
    value = npf.irr(np.array([float(f) for f in flows]))
    if value is None or not np.isfinite(value):
        return IRRResult(None, "none", changes, "未找到内部收益率 | no IRR found")
    rate = Decimal(repr(float(value))).quantize(IRR_QUANTUM, rounding=ROUND_HALF_UP)
    return IRRResult(rate, "unique", changes, f"IRR {rate * 100:.4f}%")


def _payback(flows: Sequence[Decimal]) -> Decimal | None:
    cumulative = ZERO
    for t, f in enumerate(flows):
        previous = cumulative
        cumulative += f
        if cumulative >= 0:
            if t == 0 or previous >= 0:
                return Decimal(t).quantize(YEARS)
            return (Decimal(t - 1) + (-previous) / f).quantize(YEARS, rounding=ROUND_HALF_UP)
    return None


def simple_payback(flows: Sequence[Decimal]) -> Decimal | None:
    """Years until the cumulative undiscounted flow reaches zero."""
    return _payback(flows)


def discounted_payback(rate: Decimal, flows: Sequence[Decimal]) -> Decimal | None:
    """Years until the cumulative flow discounted at ``rate`` (t = 0 convention) reaches zero."""
    with localcontext() as ctx:
        ctx.prec = 50
        return _payback([f / (ONE + rate) ** t for t, f in enumerate(flows)])


def metrics(rate: Decimal, flows: Sequence[Decimal]) -> Metrics:
    return Metrics(tuple(flows), npv(rate, flows), irr(flows), simple_payback(flows), discounted_payback(rate, flows))


def yearly_flows(head: ContractHead, investment: Decimal, flows: Sequence[CashFlow],
                 years: int | None = None) -> list[Decimal]:
    """[−investment, F_1 … F_years]: cash flows summed per contract year (year-end placement)."""
    spans = contract_years(head)
    count = len(spans) if years is None else years
    result = [-investment] + [ZERO] * count
    for flow in flows:
        for year in spans[:count]:
            if year.start <= flow.day < year.end:
                result[year.number] += flow.amount
                break
        else:
            if flow.day < head.start:
                result[0] += flow.amount
            else:
                raise ValueError(f"cash flow on {flow.day} is after contract year {count}")
    return result


def esco_cash_flows(settlements: Sequence[SettlementResult]) -> list[CashFlow]:
    """The ESCO's actual cash per statement: what it receives less what it pays on the statement, less bills it
    paid directly (custody), dated on the statement's last day."""
    result = []
    for s in settlements:
        amount = sum((line.amount if line.payee == ESCO else -line.amount if line.payer == ESCO else ZERO
                      for line in s.lines), ZERO)
        result.append(CashFlow(s.end - ONE_DAY, amount - s.esco_costs, s.key))
    return result


def projected_flows(head: ContractHead, as_of: date, annual_net: Decimal, escalation: Decimal = ZERO) -> list[CashFlow]:
    """A simple projection: ``annual_net`` × (1 + escalation)^(year − 1) for each contract year, pro rata for the
    days after ``as_of``, dated on the year's last day."""
    result = []
    for year in contract_years(head):
        if year.last_day <= as_of:
            continue
        remaining = (year.end - max(year.start, as_of + ONE_DAY)).days
        amount = fen(annual_net * (ONE + escalation) ** (year.number - 1) * remaining / year.nominal_days)
        result.append(CashFlow(year.last_day, amount, f"projection year {year.number}", projected=True))
    return result


def contract_economics(head: ContractHead, flows: Sequence[CashFlow], *, rate: Decimal, as_of: date,
                       investment: Decimal | None = None, projected_from: date | None = None) -> Economics:
    """Metrics on actual cash to ``as_of`` (years 1 … the year of ``as_of``) and on actual + projected cash to
    the end of the term. Actual flows after ``as_of`` and projected flows up to ``projected_from`` (default
    ``as_of``: the known cash ends there) are ignored."""
    invest = investment if investment is not None else head.esco_investment
    if invest is None:
        raise ValueError("no ESCO investment: give investment= or contract.esco_investment")
    since = as_of if projected_from is None else projected_from
    actual = [f for f in flows if not f.projected and f.day <= as_of]
    ahead = [f for f in flows if f.projected and f.day > since]
    spans = contract_years(head)
    elapsed = next((y.number for y in spans if y.start <= as_of < y.end), len(spans) if as_of >= head.end else 0)
    return Economics(invest, rate, as_of, metrics(rate, yearly_flows(head, invest, actual, elapsed)),
                     metrics(rate, yearly_flows(head, invest, actual + ahead)))
