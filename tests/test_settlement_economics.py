"""ESCO economics: NPV (t = 0 convention), IRR (unique or not), payback — by hand."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy_financial as npf

from emc.contracts.spec import load_contract_file
from emc.settlement.core import (
    CashFlow,
    contract_economics,
    discounted_payback,
    irr,
    npv,
    projected_flows,
    simple_payback,
)

D = Decimal
FLOWS = [D(-1000), D(300), D(400), D(500)]
CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


def test_npv_hand_case_counts_from_t0() -> None:
    # −1000 + 300/1.1 + 400/1.1² + 500/1.1³ = −1000 + 272.7273 + 330.5785 + 375.6574 = −21.0368 → −21.04
    assert npv(D("0.10"), FLOWS) == D("-21.04")
    assert round(npf.npv(0.10, [float(f) for f in FLOWS]), 2) == -21.04  # numpy-financial: the same convention
    # Excel's NPV() would discount every flow (t = 1 …): −21.0368 / 1.1 = −19.12 — not what we report
    assert npv(D("0.10"), [D(0)] + FLOWS) == D("-19.12")
    assert npv(D(0), FLOWS) == D("200.00")


def test_irr_unique_case() -> None:
    result = irr([D(-100), D(110)])  # −100 + 110/(1 + r) = 0 → r = 10 %
    assert (result.status, result.value, result.sign_changes) == ("unique", D("0.100000"), 1)
    result = irr(FLOWS)
    assert result.status == "unique" and result.value == D("0.088963")
    assert abs(npv(result.value, FLOWS)) <= D("0.01")  # NPV at the IRR is zero (to rounding)


def test_no_unique_irr_when_flows_change_sign_twice() -> None:
    # −100 + 230/(1+r) − 132/(1+r)² = 0 has two roots: r = 10 % and r = 20 %
    flows = [D(-100), D(230), D(-132)]
    assert npv(D("0.10"), flows) == 0 and npv(D("0.20"), flows) == 0
    result = irr(flows)
    assert (result.status, result.value, result.sign_changes) == ("no_unique_irr", None, 2)
    assert "no unique IRR" in result.message and "内部收益率不唯一" in result.message
    assert irr([D(100), D(200)]).status == "none"  # never negative: no IRR at all
    assert irr([D(-100), D(0), D(-5)]).status == "none"


def test_payback() -> None:
    # cumulative −1000, −700, −300, +200 → 2 + 300/500 = 2.6 years
    assert simple_payback(FLOWS) == D("2.60")
    # discounted at 10 %: −1000, −727.27, −396.69, −21.04 → not within the flows
    assert discounted_payback(D("0.10"), FLOWS) is None
    # discounted at 5 %: −1000, −714.29, −351.47, +80.45 → 2 + 351.47/431.92 = 2.81
    assert discounted_payback(D("0.05"), FLOWS) == D("2.81")


def test_contract_economics_to_date_and_projected() -> None:
    hospital = load_contract_file(CONTRACTS / "hospital-hvac-lighting.toml").contract  # 5.9 M, 2024-03 … 2030-02
    actual = [CashFlow(date(2024, 5, 31), D("372780.00")), CashFlow(date(2025, 2, 28), D("1627220.00")),
              CashFlow(date(2025, 5, 31), D("400000.00"))]
    as_of = date(2025, 6, 30)
    projected = projected_flows(hospital, as_of, D("1800000.00"))
    economics = contract_economics(hospital, actual + projected, rate=D("0.06"), as_of=as_of)
    # to date: t=0 −5.9 M, year 1 = 2,000,000.00, year 2 (so far) = 400,000.00
    assert economics.to_date.flows == (D("-5900000.00"), D("2000000.00"), D("400000.00"))
    assert economics.to_date.irr.status == "unique" and economics.to_date.irr.value < 0
    assert economics.to_date.simple_payback_years is None
    # projection at 1.8 M a year: year 2 keeps its actual 400,000.00 and adds the 243 days after 30 June 2025
    # (1 Jul 2025 … 28 Feb 2026) of a 365-day year: 1,800,000 × 243/365 = 1,198,356.164… → 1,198,356.16
    flows = economics.projected.flows
    assert flows == (D("-5900000.00"), D("2000000.00"), D("1598356.16")) + (D("1800000.00"),) * 4
    assert economics.projected.npv == npv(D("0.06"), list(flows))
    assert economics.projected.irr.status == "unique"
    # cumulative −5,900,000, −3,900,000, −2,301,643.84, −501,643.84, +1,298,356.16
    # → 3 + 501,643.84 / 1,800,000 = 3.2787 → 3.28 years
    assert economics.projected.simple_payback_years == D("3.28")
    assert "t=0 at the contract start" in economics.convention
