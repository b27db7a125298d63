"""Cost custody (GB/T 24915-2020 App. C; JS/T 301-2024): fee, agreed changes, bills, reconciliation, penalty."""

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emc.contracts.spec import ContractFile, load_contract_file
from emc.money import fen
from emc.settlement.core import (
    ESCO,
    INSTITUTION,
    Bill,
    CustodyChange,
    PeriodData,
    UtilitySavings,
    settle_contract_year,
    settle_period,
    settle_sequence,
    settlement_periods,
)

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
FEE = Decimal("16179328.00") * Decimal("0.97")  # Wuxi: 15,693,948.16 a year

CHANGES = [
    # east archive wing, +12,000 m² against the 205,000 m² baseline, from 16 March 2019
    CustodyChange("floor_area", date(2019, 3, 16), "补充协议2019-03", delta=Decimal(12000), reason="东区档案馆"),
    # electricity tariff 0.7936 → 0.8136 CNY/kWh from 1 July 2019
    CustodyChange("price", date(2019, 7, 1), "价格调整2019-07", utility="electricity", baseline_price=Decimal("0.7936"),
                  new_price=Decimal("0.8136"), tariff_version="JS-GS-10KV/electricity@2019-07-01"),
    # west wing closed for refurbishment June–August: approved −120,000.00 CNY/yr
    CustodyChange("non_routine", date(2019, 6, 1), "NRE-2019-01", until=date(2019, 9, 1),
                  annual_amount=Decimal("-120000.00"), reason="西翼装修停用"),
]


@pytest.fixture(scope="module")
def wuxi() -> ContractFile:
    return load_contract_file(CONTRACTS / "wuxi-civic-centre.toml")


def year1(contract: ContractFile) -> list[Any]:
    return [p for p in settlement_periods(contract.contract) if p.contract_year == 1]


def water(period: Any) -> PeriodData:
    return PeriodData(period, savings=(UtilitySavings("water", 20000, 19500),))


def by_code(s: Any) -> list[tuple[str, str, Decimal]]:
    return [(line.code, line.subkey, line.amount) for line in s.lines]


def test_agreed_changes_are_dated_lines(wuxi: ContractFile) -> None:
    results = settle_sequence(wuxi, [water(p) for p in year1(wuxi)], changes=CHANGES)
    months = {s.start: s for s in results if s.kind == "period"}
    # March: area change from the 16th: 15,693,948.16 × 12,000/205,000 × 1/12 × 16/31 = 39,512.694… → 39,512.69
    assert by_code(months[date(2019, 3, 1)]) == [
        ("custody_fee", "", Decimal("1307829.01")),
        ("custody_change", "floor_area:补充协议2019-03", Decimal("39512.69"))]
    # April: a whole month of it: 15,693,948.16 × 12,000/205,000 / 12 = 76,555.844… → 76,555.84
    assert by_code(months[date(2019, 4, 1)])[1][2] == Decimal("76555.84")
    # June: + non-routine −120,000.00 / 12 = −10,000.00
    assert by_code(months[date(2019, 6, 1)])[2] == ("custody_change", "non_routine:NRE-2019-01", Decimal("-10000.00"))
    # July: + price: 16,480,000 kWh/yr × 0.02 × 0.97 / 12 = 26,642.666… → 26,642.67, with the tariff version
    july = months[date(2019, 7, 1)]
    price = next(line for line in july.lines if line.subkey.startswith("price"))
    assert price.amount == Decimal("26642.67")
    assert price.tariff_version == "JS-GS-10KV/electricity@2019-07-01"
    assert july.inputs["tariff_versions"] == "JS-GS-10KV/electricity@2019-07-01"
    assert price.formula.startswith(
        "托管费调整（电价变动）：基期年用量 16,480,000 kWh × 单价变化 (0.8136 − 0.7936) 元/kWh")
    # September: the non-routine change ended on 31 August
    assert len(months[date(2019, 9, 1)].lines) == 3

    # Year-end: the year's fee recomputed exactly and rounded once —
    #   base 15,693,948.16 + area 15,693,948.16 × 12/205 × (16/31 + 8)/12 + price 319,712.00 × 5/12
    #   − non-routine 120,000.00 × 3/12 = 16,449,120.9406… → 16,449,120.94; the months settled 16,449,120.88
    year_end = results[-1]
    exact = (FEE + FEE * 12000 / 205000 * (Decimal(16) / 31 + 8) / 12
             + Decimal(16480000) * Decimal("0.02") * Decimal("0.97") * 5 / 12 - Decimal(120000) * 3 / 12)
    assert fen(exact) == Decimal("16449120.94")
    assert by_code(year_end) == [("reconciliation", "", Decimal("0.06"))]
    total = sum((line.signed(INSTITUTION, ESCO) for s in results for line in s.lines), Decimal(0))
    assert total == Decimal("16449120.94")


def test_change_approved_after_the_months_is_reconciled(wuxi: ContractFile) -> None:
    # Months settled without any change; at the year-end the bureau has approved +200 energy users from
    # 1 October 2019 (retroactively): 15,693,948.16 × 200/5,800 × 2/12 = 90,195.1043… plus the 0.04 residue.
    periods = year1(wuxi)
    settled = [line for p in periods for line in settle_period(wuxi, p, water(p)).lines]
    late = [CustodyChange("energy_users", date(2019, 10, 1), "批复2019-12", delta=Decimal(200))]
    year_end = settle_contract_year(wuxi, 1, [water(p) for p in periods], settled, changes=late)
    expected = fen(FEE + FEE * 200 / 5800 * 2 / 12) - 12 * Decimal("1307829.01")
    assert by_code(year_end) == [("reconciliation", "", expected)]
    assert expected == Decimal("90195.14")


def test_bills_paid_by_the_institution_are_reimbursed(wuxi: ContractFile) -> None:
    dec = year1(wuxi)[0]
    data = PeriodData(dec, bills=(Bill("electricity", 1230000, "976128.00", ref="E"),
                                  Bill("water", 19700, "90620.00", ref="W"), Bill("gas", 40000, "140800.00", ref="G")))
    direct = settle_period(wuxi, dec, data)
    assert direct.esco_costs == Decimal("1207548.00") and len(direct.lines) == 1
    assert direct.inputs["custody.esco_margin"] == str(Decimal("1307829.01") - Decimal("1207548.00"))
    netted = settle_period(wuxi, dec, data, bills_paid_by="institution")
    assert by_code(netted)[1] == ("bills_reimbursed", "", Decimal("1207548.00"))
    assert (netted.lines[1].payer, netted.lines[1].payee) == (ESCO, INSTITUTION)
    # net to the ESCO is the fee less the bills: 1,307,829.01 − 1,207,548.00 = 100,281.01
    assert netted.net() == Decimal("100281.01") and netted.esco_costs == 0


def test_change_not_in_the_contract_is_refused(wuxi: ContractFile) -> None:
    data = wuxi.canonical()
    data["components"][0]["adjust_for"] = ["floor_area"]
    data["components"][0].pop("price_tariffs")  # price changes are what this contract no longer agrees to
    contract = ContractFile.model_validate(data)
    july = next(p for p in year1(contract) if p.start == date(2019, 7, 1))
    s = settle_period(contract, july, water(july), changes=CHANGES)
    assert [line.code for line in s.lines] == ["custody_fee", "custody_change"]  # the area change only
    assert [w.code for w in s.warnings if w.code != "no_bills"] == ["change_not_agreed", "change_not_agreed"]


def test_yixing_savings_rate_guarantee_penalty() -> None:
    yixing = load_contract_file(CONTRACTS / "yixing-county-custody.toml")
    periods = [p for p in settlement_periods(yixing.contract) if p.contract_year == 1]
    data = [PeriodData(p,
                       savings=(UtilitySavings("electricity", 4000000, 3840000), UtilitySavings("water", 50000, 48500)),
                       bills=(Bill("electricity", 3840000, "2688000.00", ref="E"), Bill("water", 48500, "210975.00",
                                                                                        ref="W")))
            for p in periods]
    results = settle_sequence(yixing, data)
    # monthly fee 34,497,568.50 × 0.95 / 12 = 2,731,057.50625 → 2,731,057.51
    assert all(s.lines[0].amount == Decimal("2731057.51") for s in results[:12])
    year_end = results[12]
    # year fee 34,497,568.50 × 0.95 = 32,772,690.075 → 32,772,690.08 (half-up on x.xx5);
    # 12 × 2,731,057.51 = 32,772,690.12 → the ESCO returns 0.04
    rec, penalty = year_end.lines
    assert (rec.code, rec.payer, rec.payee, rec.amount) == ("reconciliation", ESCO, INSTITUTION, Decimal("0.04"))
    # Achieved rate, cost-weighted by the year's average bill cost (2,688,000/3,840,000 = 0.70 CNY/kWh,
    # 210,975/48,500 = 4.35 CNY/m³):
    #   savings  1,920,000 kWh × 0.70 + 18,000 m³ × 4.35 = 1,344,000 + 78,300 = 1,422,300
    #   baseline 48,000,000 kWh × 0.70 + 600,000 m³ × 4.35 = 33,600,000 + 2,610,000 = 36,210,000
    #   rate 1,422,300 / 36,210,000 = 3.92792…% → 0.039279; missed 5 % − 3.9279 % = 1.0721 points
    #   penalty 1.0721 × 32,772,690.08 × 2 % = 702,712.0207 → 702,712.02, ESCO → institution
    assert year_end.inputs["custody.achieved_rate"] == "0.039279"
    assert (penalty.code, penalty.payer, penalty.payee) == ("guarantee_penalty", ESCO, INSTITUTION)
    assert (penalty.quantity, penalty.unit_price, penalty.rate) == (
        Decimal("1.072100"), Decimal("32772690.08"), Decimal("0.02"))
    assert penalty.amount == Decimal("702712.02")
    assert "按本合同年账单平均单价加权" in penalty.formula
