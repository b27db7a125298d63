"""Guaranteed savings (GB/T 24915-2020 App. B; GB/T 34149-2017 节水效果保证型) on the university example."""

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emc.contracts.spec import ContractFile, load_contract_file
from emc.settlement.core import (
    ESCO,
    INSTITUTION,
    PeriodData,
    UtilitySavings,
    settle_contract_year,
    settle_period,
    settle_sequence,
    settlement_periods,
)

UNIVERSITY = Path(__file__).resolve().parent.parent / "contracts" / "university-water.toml"


def variant(component: dict[str, Any] | None = None, drop: tuple[str, ...] = (), **head: Any) -> ContractFile:
    data = load_contract_file(UNIVERSITY).canonical()
    comp = {k: v for k, v in data["components"][0].items() if k not in drop}
    data["components"] = [{**comp, **(component or {})}]
    data["contract"] = {**data["contract"], **head}
    return ContractFile.model_validate(data)


def water(period: Any, saved: Any, adjusted: Any = 760000, uncertainty: Any = None) -> PeriodData:
    return PeriodData(period, savings=(UtilitySavings("water", adjusted, Decimal(adjusted) - Decimal(str(saved)),
                                                      uncertainty=uncertainty),))


def lines(s: Any) -> list[tuple[str, str, str, Decimal]]:
    return [(line.code, line.payer, line.payee, line.amount) for line in s.lines]


@pytest.fixture(scope="module")
def university() -> ContractFile:
    return load_contract_file(UNIVERSITY)


def test_guarantee_met(university: ContractFile) -> None:
    year1 = settlement_periods(university.contract)[0]  # annual: 2024-04-01 … 2025-03-31
    period, year_end = settle_sequence(university, [water(year1, 150000)])
    # 150,000 m³ × 2.30 = 345,000.00 paid for savings; 150,000 ≥ 90,000 guaranteed: no shortfall
    assert lines(period) == [("savings_payment", INSTITUTION, ESCO, Decimal("345000.00"))]
    assert lines(year_end) == []


def test_shortfall_paid_by_the_esco(university: ContractFile) -> None:
    year1 = settlement_periods(university.contract)[0]
    period, year_end = settle_sequence(university, [water(year1, 70000)])
    # paid 70,000 × 2.30 = 161,000.00; shortfall (90,000 − 70,000) × 4.60 = 92,000.00 ESCO → college
    assert lines(period) == [("savings_payment", INSTITUTION, ESCO, Decimal("161000.00"))]
    assert lines(year_end) == [("shortfall", ESCO, INSTITUTION, Decimal("92000.00"))]
    assert "保证节约量 90,000 m³/年" in year_end.lines[0].formula
    assert period.net() + year_end.net() == Decimal("69000.00")


def test_savings_cap(university: ContractFile) -> None:
    year1 = settlement_periods(university.contract)[0]
    period, year_end = settle_sequence(university, [water(year1, 175000.5)])
    # at most 160,000 m³ a year are paid for: 160,000 × 2.30 = 368,000.00
    assert lines(period) == [("savings_payment", INSTITUTION, ESCO, Decimal("368000.00"))]
    assert lines(year_end) == []


def test_monthly_provisional_payments_true_up_at_year_end() -> None:
    contract = variant(settlement_frequency="monthly")
    months = [p for p in settlement_periods(contract.contract) if p.contract_year == 1]
    saved = [10000, -3000, 8000] + [8000] * 9  # Σ = 87,000
    results = settle_sequence(contract, [water(p, s, 63000) for p, s in zip(months, saved, strict=True)])
    paid = [r.net() for r in results[:12]]
    # month 1: YTD 10,000 → 23,000.00; month 2: YTD 7,000 < 10,000 already paid → 0 (no claw-back mid-year);
    # month 3: YTD 15,000 → 5,000 more × 2.30 = 11,500.00; then 8,000 × 2.30 = 18,400.00 a month
    assert paid[:4] == [Decimal("23000.00"), Decimal("0"), Decimal("11500.00"), Decimal("18400.00")]
    assert sum(paid, Decimal(0)) == Decimal("200100.00")  # = 87,000 × 2.30: nothing to true up
    year_end = results[12]
    # shortfall 90,000 − 87,000 = 3,000 m³ × 4.60 = 13,800.00
    assert lines(year_end) == [("shortfall", ESCO, INSTITUTION, Decimal("13800.00"))]

    # If a correction lowers year-to-date savings below what was paid, the true-up claws it back:
    # payments made 23,000 (10,000 m³) but the year verifies only 6,000 m³ → due 13,800.00, −9,200.00
    one = settle_period(contract, months[0], water(months[0], 10000, 63000))
    data = [water(months[0], 10000, 63000), water(months[1], -4000, 63000)] + [water(p, 0, 63000) for p in months[2:]]
    true_up = settle_contract_year(contract, 1, data, one.lines)
    assert lines(true_up)[0] == ("savings_true_up", INSTITUTION, ESCO, Decimal("-9200.00"))


def test_net_from_fee() -> None:
    contract = variant({"fee_schedule": [{"contract_year": 1, "amount": "200000.00"}], "shortfall": "net_from_fee"},
                       drop=("savings_price", "savings_cap_per_year"))
    year1 = settlement_periods(contract.contract)[0]
    _, year_end = settle_sequence(contract, [water(year1, 80000)])
    # fee 200,000.00 due at the year-end; shortfall 10,000 × 4.60 = 46,000.00 netted from it
    assert lines(year_end) == [("fee", INSTITUTION, ESCO, Decimal("200000.00")),
                               ("shortfall_netted", INSTITUTION, ESCO, Decimal("-46000.00"))]
    assert year_end.net() == Decimal("154000.00")
    # a shortfall larger than the fee: 90,000 × 4.60 = 414,000.00; 200,000.00 netted, 214,000.00 paid by the ESCO
    _, year_end = settle_sequence(contract, [water(year1, 0)])
    assert lines(year_end) == [("fee", INSTITUTION, ESCO, Decimal("200000.00")),
                               ("shortfall_netted", INSTITUTION, ESCO, Decimal("-200000.00")),
                               ("shortfall", ESCO, INSTITUTION, Decimal("214000.00"))]
    assert year_end.net() == Decimal("-214000.00")


def test_surplus_sharing_and_uncertainty_warning() -> None:
    contract = variant({"surplus_esco_share": "0.5"}, drop=("savings_price", "savings_cap_per_year"))
    year1 = settlement_periods(contract.contract)[0]
    _, year_end = settle_sequence(contract, [water(year1, 100000)])
    # surplus (100,000 − 90,000) × 4.60 × 50 % = 23,000.00
    assert lines(year_end) == [("surplus_share", INSTITUTION, ESCO, Decimal("23000.00"))]
    _, year_end = settle_sequence(contract, [water(year1, 89000, uncertainty=5000)])
    # 1,000 m³ short × 4.60 = 4,600.00, but within the ±5,000 m³ savings uncertainty: settled, and flagged
    assert lines(year_end) == [("shortfall", ESCO, INSTITUTION, Decimal("4600.00"))]
    assert [w.code for w in year_end.warnings] == ["shortfall_within_uncertainty"]


def test_quantity_guarantee_in_a_cut_year() -> None:
    # A quantity guarantee in a contract year cut by the term is pro rata by days.
    contract = variant(end="2025-09-30", drop=("savings_price", "savings_cap_per_year"))
    year2 = settlement_periods(contract.contract)[1]  # 2025-04-01 … 2025-09-30: 183 of 365 days
    _, year_end = settle_sequence(contract, [water(year2, 40000)])
    # guaranteed 90,000 × 183/365 = 45,123.288 m³; short 5,123.288 × 4.60 = 23,567.1248 → 23,567.12
    assert year_end.lines[0].quantity == Decimal("5123.288")
    assert year_end.lines[0].amount == Decimal("23567.12")
    assert "× 183/365（天）" in year_end.lines[0].formula
