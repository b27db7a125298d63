"""Shared savings (GB/T 24915-2020 App. A), hand-computed on the hospital example and small variants."""

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emc.contracts.spec import ContractFile, load_contract_file
from emc.settlement.core import (
    ESCO,
    INSTITUTION,
    PeriodData,
    SettlementState,
    UtilitySavings,
    check_lines,
    settle_period,
    settlement_periods,
)
from emc.settlement.core.valuation import escalated_price

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
SMALL = Path(__file__).resolve().parent / "data" / "small-shared.toml"


def variant(path: Path, component: dict[str, Any] | None = None, **top: Any) -> ContractFile:
    data = load_contract_file(path).canonical()
    if component is not None:
        data["components"] = [{**data["components"][0], **component}]
    for key, value in top.items():
        data[key] = {**data[key], **value}
    return ContractFile.model_validate(data)


def saved(period: Any, **utilities: float) -> PeriodData:
    # adjusted baseline 1,000,000 (any value: only savings = adjusted − actual is valued)
    return PeriodData(period, savings=tuple(UtilitySavings(u, 1000000, 1000000 - s) for u, s in utilities.items()))


def amounts(s: Any) -> list[tuple[str, str, Decimal]]:
    return [(line.code, line.subkey, line.amount) for line in s.lines]


@pytest.fixture(scope="module")
def hospital() -> ContractFile:
    return load_contract_file(CONTRACTS / "hospital-hvac-lighting.toml")


def test_the_brief_example_line() -> None:
    small = load_contract_file(SMALL)  # 0.6832 CNY/kWh, ESCO share 85 % in year 1
    jan = settlement_periods(small.contract)[0]
    s = settle_period(small, jan, saved(jan, electricity=12345))
    (line,) = s.lines
    # 12,345 × 0.6832 × 0.85 = 7,168.9884 → 7,168.99
    assert line.amount == Decimal("7168.99")
    assert line.formula == "节能效益分享：节约电量 12,345 kWh × 0.6832 元/kWh × 分享比例 85% = 7,168.99 元"
    assert line.formula_en == ("Shared savings: electricity saved 12,345 kWh × CNY 0.6832/kWh × ESCO share 85% = "
                               "CNY 7,168.99")
    assert (line.payer, line.payee, line.component, line.utility) == (INSTITUTION, ESCO, "share", "electricity")
    assert line.inputs["savings"] == "12345.000" and line.inputs["share"] == "0.85"


def test_hospital_year_with_carry_forward_and_cap(hospital: ContractFile) -> None:
    q = [p for p in settlement_periods(hospital.contract)]
    state = SettlementState()

    # Q1 (Mar–May 2024), year 1, share 90 %, prices 0.6812 / 3.68:
    #   500,000 kWh × 0.6812 × 0.9 = 306,540.00;  20,000 m³ × 3.68 × 0.9 = 66,240.00
    s1 = settle_period(hospital, q[0], saved(q[0], electricity=500000, gas=20000), state)
    assert amounts(s1) == [("shared_savings", "electricity", Decimal("306540.00")),
                           ("shared_savings", "gas", Decimal("66240.00"))]
    assert s1.net() == Decimal("372780.00")

    # Q2: both negative. value = −30,000 × 0.6812 − 2,000 × 3.68 = −20,436 − 7,360 = −27,796.00:
    #   nothing paid, 27,796.00 carried forward (carry_forward = true), shown on a zero line
    s2 = settle_period(hospital, q[1], saved(q[1], electricity=-30000, gas=-2000), s1.state)
    assert amounts(s2) == [("no_payment", "total", Decimal("0.00"))]
    assert "结转下期 27,796.00 元" in s2.lines[0].formula
    assert s2.state.get("shared").deficit == {"total": Decimal("27796.00")}

    # Q3: value = 600,000 × 0.6812 + 10,000 × 3.68 = 408,720 + 36,800 = 445,520 > 27,796 carried:
    #   367,848.00 + 33,120.00 − 27,796 × 0.9 (= 25,016.40) = 375,951.60
    s3 = settle_period(hospital, q[2], saved(q[2], electricity=600000, gas=10000), s2.state)
    assert amounts(s3) == [("shared_savings", "electricity", Decimal("367848.00")),
                           ("shared_savings", "gas", Decimal("33120.00")),
                           ("carried_deficit", "total", Decimal("-25016.40"))]
    assert s3.net() == Decimal("375951.60") and s3.state.get("shared").deficit == {}

    # Q4: 2,100,000 kWh × 0.6812 × 0.9 = 1,287,468.00; paid so far 372,780.00 + 375,951.60 = 748,731.60;
    #   cap 2,000,000.00 a contract year → 748,731.60 + 1,287,468.00 − 2,000,000.00 = 36,199.60 cut
    s4 = settle_period(hospital, q[3], saved(q[3], electricity=2100000, gas=0), s3.state)
    assert amounts(s4) == [("shared_savings", "electricity", Decimal("1287468.00")),
                           ("shared_savings", "gas", Decimal("0.00")),
                           ("cap", "", Decimal("-36199.60"))]
    assert s4.state.get("shared").paid_in_year == Decimal("2000000.00")

    # Year 2 (from 1 Mar 2025): the cap counter resets; prices escalate 2 %:
    #   0.6812 × 1.02 = 0.694824 → 0.6948;  100,000 × 0.6948 × 0.9 = 62,532.00
    s5 = settle_period(hospital, q[4], saved(q[4], electricity=100000), s4.state)
    assert s5.contract_year == 2
    assert amounts(s5)[0] == ("shared_savings", "electricity", Decimal("62532.00"))
    assert s5.lines[0].unit_price == Decimal("0.6948")
    assert "（基准单价 0.6812 元 × (1 + 2%)^1）" in s5.lines[0].formula
    assert any(w.code == "no_savings_data" for w in s5.warnings)  # no gas figure given
    assert s5.state.get("shared").paid_in_year == Decimal("62532.00")
    for s in (s1, s2, s3, s4, s5):
        assert not check_lines(s.lines)


def test_escalation_and_share_by_contract_year() -> None:
    # FEMP-style escalation, rounded half-up to 0.0001 CNY:
    assert escalated_price(Decimal("0.6812"), Decimal("0.02"), 1) == Decimal("0.6812")
    assert escalated_price(Decimal("0.6812"), Decimal("0.02"), 3) == Decimal("0.7087")  # 0.70872048
    assert escalated_price(Decimal("3.68"), Decimal("0.02"), 5) == Decimal("3.9834")  # 3.68 × 1.08243216 = 3.98335…
    hospital = load_contract_file(CONTRACTS / "hospital-hvac-lighting.toml")
    y5 = next(p for p in settlement_periods(hospital.contract) if p.contract_year == 5)
    s = settle_period(hospital, y5, saved(y5, electricity=10000))
    # year 5: share 70 %; 0.6812 × 1.02⁴ = 0.737356… → 0.7374; 10,000 × 0.7374 × 0.7 = 5,161.80
    assert s.lines[0].amount == Decimal("5161.80") and s.lines[0].rate == Decimal("0.70")


def test_per_utility_basis_floor_and_no_carry_forward() -> None:
    contract = variant(CONTRACTS / "hospital-hvac-lighting.toml",
                       {"basis": "per_utility", "carry_forward": False, "floor_per_period": "10000.00"})
    q1 = settlement_periods(contract.contract)[0]
    s = settle_period(contract, q1, saved(q1, electricity=10000, gas=-500))
    # electricity: 10,000 × 0.6812 × 0.9 = 6,130.80; gas negative: no payment, not carried (per utility)
    # floor 10,000.00 per period → top-up 10,000.00 − 6,130.80 = 3,869.20
    assert amounts(s) == [("shared_savings", "electricity", Decimal("6130.80")),
                          ("no_payment", "gas", Decimal("0.00")),
                          ("floor_topup", "", Decimal("3869.20"))]
    assert "合同未约定结转" in s.lines[1].formula
    assert s.net() == Decimal("10000.00") and s.state.get("shared").deficit == {}


def test_half_up_at_the_line() -> None:
    small = load_contract_file(SMALL)
    jan = settlement_periods(small.contract)[0]
    # 187.5 kWh × 0.6832 × 0.85 = 108.885 exactly → 108.89 half-up (banker's rounding would give 108.88)
    s = settle_period(small, jan, saved(jan, electricity=187.5))
    assert s.lines[0].amount == Decimal("108.89")
    # negative savings never pay (no carry-forward in this contract): the zero line keeps the value,
    # −187.5 × 0.6832 = −128.10, and the statement never shows "-0.00"
    s = settle_period(small, jan, saved(jan, electricity=-187.5))
    assert s.lines[0].amount == Decimal("0.00") and s.lines[0].quantity == Decimal("-128.10")
    assert str(s.lines[0].amount) == "0.00" and s.lines[0].formula.endswith("= 0.00 元")


def test_amended_share_applies_from_its_date() -> None:
    from emc.settlement.core import TermsVersion

    small = load_contract_file(SMALL)
    amended = variant(SMALL, {"esco_share": ["0.85", "0.75", "0.70"]})
    versions = [TermsVersion("v1", date(2024, 1, 1), small), TermsVersion("v2", date(2025, 1, 1), amended)]
    jan25 = next(p for p in settlement_periods(small.contract) if p.start == date(2025, 1, 1))
    s = settle_period(versions, jan25, saved(jan25, electricity=1000))
    # year 2 under v2: 1,000 × 0.6832 × 0.75 = 512.40
    assert s.lines[0].amount == Decimal("512.40") and s.lines[0].contract_version == "v2"
