"""Finance lease schedule against an independent hand formula, and the PV example's lease + O&M statements."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy_financial as npf
import pytest

from emc.contracts.spec import load_contract_file
from emc.money import fen
from emc.settlement.core import LESSOR, lease_schedule, level_instalment, settle_period, settlement_periods
from emc.settlement.core.lines import ESCO, INSTITUTION

PV = Path(__file__).resolve().parent.parent / "contracts" / "pv-lease.toml"


def test_pv_lease_instalment_by_hand() -> None:
    # P = 2,280,000.00, 4.50 %/yr quarterly in arrears over 96 months: r = 0.045/4 = 0.01125, n = 32.
    # Hand formula in floating point (independent of the code): A = P·r / (1 − (1 + r)^−n)
    p, r, n = 2280000.0, 0.045 / 4, 32
    by_hand = p * r / (1 - (1 + r) ** -n)
    assert round(by_hand, 2) == 85238.61  # the contract file's figure
    assert abs(npf.pmt(r, n, -p) - by_hand) < 1e-6
    schedule = lease_schedule(Decimal("2280000.00"), Decimal("0.0450"), 96, 4, "end", Decimal(0), date(2022, 10, 1))
    assert schedule.instalment == Decimal("85238.61") and schedule.payments == 32
    assert abs(float(level_instalment(Decimal("2280000"), Decimal("0.01125"), 32)) - by_hand) < 1e-9
    first, second = schedule.rows[:2]
    # row 1: interest 2,280,000.00 × 0.01125 = 25,650.00; principal 85,238.61 − 25,650.00 = 59,588.61
    assert (first.due, first.interest, first.principal, first.balance) == (
        date(2022, 12, 31), Decimal("25650.00"), Decimal("59588.61"), Decimal("2220411.39"))
    # row 2: 2,220,411.39 × 0.01125 = 24,979.628… → 24,979.63
    assert (second.due, second.interest) == (date(2023, 3, 31), Decimal("24979.63"))
    assert abs(float(npf.ipmt(r, 2, n, -p)) - 24979.63) < 0.01
    # the balance runs out exactly; level instalments; the last interest absorbs the rounding residue
    last = schedule.rows[-1]
    assert last.due == date(2030, 9, 30) and last.balance == 0
    assert sum((row.principal for row in schedule.rows), Decimal(0)) == Decimal("2280000.00")
    assert schedule.total_payments == 32 * Decimal("85238.61") == Decimal("2727635.52")
    assert abs(last.interest - fen(schedule.rows[-2].balance * Decimal("0.01125"))) <= Decimal("0.10")


def test_lease_in_advance_with_residual_and_zero_rate() -> None:
    # 100,000.00 at 6 %/yr monthly in advance over 12 months, residual 10,000.00 due at the end:
    # A = (P − F·(1+r)^−n)·r / (1 − (1+r)^−n) / (1+r), r = 0.005
    p, f, r, n = 100000.0, 10000.0, 0.005, 12
    by_hand = (p - f * (1 + r) ** -n) * r / (1 - (1 + r) ** -n) / (1 + r)
    assert abs(npf.pmt(r, n, -p, f, when="begin") - by_hand) < 1e-6
    schedule = lease_schedule(Decimal("100000.00"), Decimal("0.06"), 12, 12, "begin", Decimal("10000.00"),
                              date(2024, 1, 1))
    assert schedule.instalment == fen(Decimal(repr(by_hand)))
    assert schedule.rows[0].interest == 0 and schedule.rows[0].due == date(2024, 1, 1)
    # after the last payment the balance is the residual discounted one month: 10,000/1.005 = 9,950.248… → 9,950.25
    assert schedule.rows[-1].balance == Decimal("9950.25")
    # zero rate: (100.01 − 0) / 2 = 50.005 exactly → 50.01 half-up (float arithmetic gives 50.00499…)
    assert lease_schedule(Decimal("100.01"), Decimal(0), 2, 12).instalment == Decimal("50.01")
    with pytest.raises(ValueError):
        lease_schedule(Decimal("1000"), Decimal("0.05"), 10, 4)  # 10 months cannot be paid quarterly


def test_pv_statements_lease_and_escalated_om() -> None:
    pv = load_contract_file(PV)
    periods = settlement_periods(pv.contract)
    q1 = settle_period(pv, periods[0])  # 2022-10-01 … 2022-12-31
    lease, om = q1.lines
    assert (lease.code, lease.subkey, lease.payer, lease.payee, lease.amount) == (
        "lease_instalment", "#1", INSTITUTION, LESSOR, Decimal("85238.61"))
    assert "第 1/32 期，到期日 2022-12-31" in lease.formula and "江苏锡常融资租赁有限公司" in lease.formula
    # O&M 28,800.00/yr × 1/4 = 7,200.00 in year 1
    assert (om.code, om.payer, om.payee, om.amount) == ("fixed_fee", INSTITUTION, ESCO, Decimal("7200.00"))
    # year 2: 28,800.00 × 1.02 / 4 = 7,344.00; year 4: 28,800.00 × 1.02³ (1.061208) / 4 = 7,640.6976 → 7,640.70
    assert settle_period(pv, periods[4]).lines[1].amount == Decimal("7344.00")
    y4 = settle_period(pv, periods[12]).lines[1]
    assert y4.amount == Decimal("7640.70") and y4.unit_price == Decimal("1.061208")
    assert y4.formula == "光伏运维费：28,800.00 元/年 × (1 + 2%)^3 × 1/4 = 7,640.70 元"
    # every quarter bills exactly one instalment; 32 in the term
    assert sum(1 for p in periods for line in settle_period(pv, p).lines if line.code == "lease_instalment") == 32
    assert q1.totals() == {(INSTITUTION, LESSOR): Decimal("85238.61"), (INSTITUTION, ESCO): Decimal("7200.00")}
