"""Finance lease (融资租赁型): level instalments from principal, rate and term, and the amortisation schedule.

Instalment (annuity; numpy-financial ``pmt`` convention), with r = annual_rate / payments_per_year (a nominal
rate compounded at the payment frequency) and n = term_months / (12 / payments_per_year):

    in arrears (end):   A = (P − F·(1+r)^−n) · r / (1 − (1+r)^−n)            (r = 0: A = (P − F) / n)
    in advance (begin): A = the same ÷ (1 + r)

P principal, F residual (balloon) value due at the end of the term. The formula is evaluated in Decimal at 50
digits — ``numpy_financial.pmt`` is the same formula in binary floating point, which can round the wrong way
on an exact half fen; tests check the two agree — and rounded half-up to the fen: every instalment is this
same amount (lease contracts state one instalment).

Schedule rounding: each row's interest is fen(balance × r) on the balance outstanding over the interval
before the payment (zero for the first payment in advance); principal = instalment − interest. The last row's
principal is whatever brings the balance to the residual exactly and its interest absorbs the rounding
(a few fen at most), so Σ principal = P − F and Σ payments = n × A, to the fen.

Due dates: the term starts at the contract start; in arrears instalment k is due on the last day of its
interval (start + k intervals − 1 day), in advance on the first (start + (k − 1) intervals). A settlement
period bills the instalments due within it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from emc.contracts.spec import Lease
from emc.money import fen

from .lines import INSTITUTION, LESSOR, ONE, ZERO, fmt_money, make_line
from .periods import ONE_DAY, add_months
from .state import ComponentState, Context, Outcome


@dataclass(frozen=True)
class LeaseRow:
    number: int
    due: date
    payment: Decimal
    interest: Decimal
    principal: Decimal
    balance: Decimal  # outstanding after this payment


@dataclass(frozen=True)
class LeaseSchedule:
    principal: Decimal
    periodic_rate: Decimal
    payments: int
    timing: str
    residual: Decimal
    instalment: Decimal
    rows: tuple[LeaseRow, ...]

    @property
    def total_payments(self) -> Decimal:
        return sum((r.payment for r in self.rows), ZERO)

    @property
    def total_interest(self) -> Decimal:
        return sum((r.interest for r in self.rows), ZERO)


def level_instalment(principal: Decimal, periodic_rate: Decimal, payments: int, residual: Decimal = ZERO,
                     timing: str = "end") -> Decimal:
    """The exact (unrounded) level instalment."""
    with localcontext() as ctx:
        ctx.prec = 50
        if periodic_rate == 0:
            return (principal - residual) / payments
        discount = (ONE + periodic_rate) ** -payments
        amount = (principal - residual * discount) * periodic_rate / (ONE - discount)
        return amount / (ONE + periodic_rate) if timing == "begin" else amount


def lease_schedule(principal: Decimal, annual_rate: Decimal, term_months: int, payments_per_year: int = 12,
                   timing: str = "end", residual: Decimal = ZERO, start: date | None = None) -> LeaseSchedule:
    """Instalment and amortisation rows (see the module docstring for the rounding rule)."""
    months = 12 // payments_per_year
    if 12 % payments_per_year or term_months % months:
        raise ValueError(f"a {term_months}-month term cannot be paid {payments_per_year} times a year")
    n = term_months // months
    r = annual_rate / payments_per_year
    instalment = fen(level_instalment(principal, r, n, residual, timing))
    # in advance, the residual is reached one interval after the last payment
    target = residual if timing == "end" else fen(residual / (ONE + r))
    start = start or date(2000, 1, 1)
    rows, balance = [], principal
    for k in range(1, n + 1):
        if timing == "end":
            due = add_months(start, k * months) - ONE_DAY
            interest = fen(balance * r)
        else:
            due = add_months(start, (k - 1) * months)
            interest = ZERO if k == 1 else fen(balance * r)
        principal_part = instalment - interest
        if k == n:
            principal_part = balance - target
            interest = instalment - principal_part
        balance -= principal_part
        rows.append(LeaseRow(k, due, instalment, interest, principal_part, balance))
    return LeaseSchedule(principal, r, n, timing, residual, instalment, tuple(rows))


def schedule_for(comp: Lease, start: date) -> LeaseSchedule:
    return lease_schedule(comp.principal, comp.annual_rate, comp.term_months, comp.payments_per_year,
                          comp.timing, comp.residual, start)


def settle_lease_period(comp: Lease, ctx: Context, data: object, state: ComponentState) -> Outcome:
    """Instalments due within the period, institution → lessor."""
    schedule = schedule_for(comp, ctx.terms.contract.start)
    out = Outcome(state=state.for_year(ctx.period.contract_year))
    lessor = comp.lessor or "出租人"
    for row in schedule.rows:
        if not ctx.period.start <= row.due < ctx.period.end:
            continue
        out.lines.append(make_line(
            component=comp.key, code="lease_instalment", span=ctx.period, quantity=ONE, unit="期",
            unit_price=row.payment, price_unit="元/期", payer=INSTITUTION, payee=LESSOR, subkey=f"#{row.number}",
            contract_version=ctx.version,
            formula=(f"融资租赁租金（{lessor}）：第 {row.number}/{schedule.payments} 期，到期日 {row.due.isoformat()}，"
                     f"1 期 × {fmt_money(row.payment)} 元/期（本金 {fmt_money(row.principal)} + 利息 "
                     f"{fmt_money(row.interest)}，期末本金余额 {fmt_money(row.balance)}）"),
            formula_en=(f"Lease instalment {row.number}/{schedule.payments} due {row.due.isoformat()}: 1 × CNY "
                        f"{fmt_money(row.payment)} (principal {fmt_money(row.principal)} + interest "
                        f"{fmt_money(row.interest)}; balance after {fmt_money(row.balance)})"),
            inputs={"component": comp.key, "contract_version": ctx.version, "lessor": lessor,
                    "principal": comp.principal, "annual_rate": comp.annual_rate, "term_months": comp.term_months,
                    "payments_per_year": comp.payments_per_year, "timing": comp.timing, "due": row.due}))
    return out
