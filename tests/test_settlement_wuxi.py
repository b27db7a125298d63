"""The flagship: Wuxi civic centre, hybrid water + electricity + gas custody with a 2 %/yr water guarantee.

First full contract year (2018-12-01 … 2019-11-30), twelve monthly statements and the year-end true-up,
with figures chosen here (the contract file states the fee formula: (16,179,328.00 × 0.97) / 12 a month; the
ESCO pays the bills; water savings below 2 % of the adjusted water baseline cost the ESCO 4.60 CNY/m³).
"""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from emc.contracts.spec import ContractFile, load_contract_file
from emc.money import fen
from emc.settlement.core import (
    ESCO,
    INSTITUTION,
    Bill,
    PeriodData,
    TermsVersion,
    UtilitySavings,
    check_lines,
    esco_cash_flows,
    settle_contract_year,
    settle_period,
    settle_sequence,
    settlement_periods,
    split_period,
)

WUXI = Path(__file__).resolve().parent.parent / "contracts" / "wuxi-civic-centre.toml"

# Month: (adjusted water baseline m³ from M&V, verified water savings m³)
WATER = [
    (20000, 300), (19000, 250), (16000, 200), (20500, 350), (21000, 400), (22500, 450),
    (24000, 500), (26500, 550), (26000, 500), (23000, 400), (22000, 350), (21500, 250.5),
]
# Σ adjusted baseline = 262,000 m³; Σ savings = 4,500.5 m³ (1.72 %)


@pytest.fixture(scope="module")
def wuxi() -> ContractFile:
    return load_contract_file(WUXI)


def year_one(contract: ContractFile) -> list[PeriodData]:
    periods = [p for p in settlement_periods(contract.contract) if p.contract_year == 1]
    data = []
    for period, (adjusted, saved) in zip(periods, WATER, strict=True):
        actual = adjusted - saved  # the last month is a float, as a model would return it: 21249.5
        data.append(PeriodData(
            period,
            savings=(UtilitySavings("water", adjusted, actual, saved, uncertainty=60, confidence="0.68",
                                    source=f"mv:WX-SMZX-W:{period.start:%Y-%m}"),),
            bills=(
                Bill("electricity", 1230000, "976128.00", "JS-GS-10KV@2018", f"E-{period.start:%Y%m}"),
                Bill("water", actual, fen(Decimal(str(actual)) * Decimal("4.60")), "WX-WATER@2018",
                     f"W-{period.start:%Y%m}"),
                Bill("gas", 40000, "140800.00", "WX-GAS@2018", f"G-{period.start:%Y%m}"),
            ),
        ))
    return data


def test_first_contract_year_monthly_statements(wuxi: ContractFile) -> None:
    data = year_one(wuxi)
    results = settle_sequence(wuxi, data)
    months, year_end = results[:12], results[12]
    assert [s.kind for s in results] == ["period"] * 12 + ["year_end"]
    # December 2018 … November 2019: twelve months across two calendar years, all contract year 1
    assert months[0].start == date(2018, 12, 1) and months[-1].end == date(2019, 12, 1)
    for month in months:
        # one money line a month: the custody fee. 16,179,328.00 × 0.97 = 15,693,948.16 a year;
        # ÷ 12 = 1,307,829.01333… → 1,307,829.01 (half-up at the line). The guarantee waits for the year-end.
        assert [(line.code, line.payer, line.payee, line.amount) for line in month.lines] == [
            ("custody_fee", INSTITUTION, ESCO, Decimal("1307829.01"))]
        line = month.lines[0]
        assert line.formula == ("能源费用托管费：基期能源费用 16,179,328.00 元/年 × 托管费系数 0.97 × 1/12 年"
                                " = 1,307,829.01 元")
        assert line.formula_en.startswith("Custody fee: baseline cost CNY 16,179,328.00/yr × fee factor 0.97")
        assert line.contract_version == wuxi.spec_hash()[:12] and line.inputs["component"] == "custody"
        assert month.net() == Decimal("1307829.01")
        # the ESCO bears the bills: off the statement, recorded as its cost and in the inputs
        bills = sum((b.cost for b in data[months.index(month)].bills), Decimal(0))
        assert month.esco_costs == bills
        assert Decimal(month.inputs["custody.esco_margin"]) == Decimal("1307829.01") - bills
        assert month.inputs["savings.water.source"].startswith("mv:WX-SMZX-W:")
        assert not check_lines(month.lines)

    # Year-end true-up.
    #  Custody reconciliation: year fee fen(16,179,328.00 × 0.97) = 15,693,948.16;
    #    settled 12 × 1,307,829.01 = 15,693,948.12 → institution pays the 0.04 rounding residue.
    #  Water guarantee: guaranteed = 2 % × 262,000 = 5,240 m³; verified 4,500.5 m³;
    #    shortfall 739.5 m³ × 4.60 = 3,401.70 CNY, paid by the ESCO.
    by_code = {line.code: line for line in year_end.lines}
    assert set(by_code) == {"reconciliation", "shortfall"}
    rec = by_code["reconciliation"]
    assert (rec.payer, rec.payee, rec.amount, rec.component) == (INSTITUTION, ESCO, Decimal("0.04"), "custody")
    short = by_code["shortfall"]
    assert (short.payer, short.payee, short.component) == (ESCO, INSTITUTION, "water-guarantee")
    assert (short.quantity, short.unit, short.unit_price, short.amount) == (
        Decimal("739.500"), "m³", Decimal("4.60"), Decimal("3401.70"))
    assert short.formula == (
        "节水效果保证未达标：保证量 5,240 m³（保证节约率 2% × 校准基准用量 262,000 m³）− 核定节约水量 4,500.5 m³ = "
        "短缺 739.5 m³ × 4.60 元/m³（节能服务公司赔付） = 3,401.70 元")
    assert year_end.inputs["water-guarantee.guaranteed"] == "5240.000"
    assert year_end.inputs["water-guarantee.verified"] == "4500.500"
    assert year_end.inputs["water-guarantee.uncertainty"] == "207.846"  # √(12 × 60²)
    assert year_end.net() == Decimal("0.04") - Decimal("3401.70")
    assert not year_end.warnings

    # The year adds up: fees + reconciliation = the annual fee exactly.
    fees = sum((line.amount for s in results for line in s.lines if line.component == "custody"), Decimal(0))
    assert fees == fen(Decimal("16179328.00") * Decimal("0.97")) == Decimal("15693948.16")
    # ESCO's cash for the year: fees − shortfall − bills it paid
    bills = sum((b.cost for d in data for b in d.bills), Decimal(0))
    assert sum((f.amount for f in esco_cash_flows(results)), Decimal(0)) == Decimal("15693948.16") - Decimal(
        "3401.70") - bills


def test_water_guarantee_met_pays_nothing(wuxi: ContractFile) -> None:
    periods = [p for p in settlement_periods(wuxi.contract) if p.contract_year == 1]
    # 2.5 % saved every month: 21,000 × 12 adjusted, 525 × 12 saved ≥ 2 % × 252,000 = 5,040
    data = [PeriodData(p, savings=(UtilitySavings("water", 21000, 20475),)) for p in periods]
    year_end = settle_contract_year(wuxi, 1, data, [])
    codes = [line.code for line in year_end.lines]
    assert "shortfall" not in codes and "surplus_share" not in codes  # no surplus sharing in this contract
    # nothing was settled in the periods here, so the reconciliation asks for the whole year's fee
    assert year_end.lines[0].code == "reconciliation" and year_end.lines[0].amount == Decimal("15693948.16")


def test_missing_month_is_reported(wuxi: ContractFile) -> None:
    data = year_one(wuxi)[:11]
    year_end = settle_contract_year(wuxi, 1, data, [])
    assert any(w.code == "year_incomplete" for w in year_end.warnings)


def test_mid_month_amendment_in_the_wuxi_contract(wuxi: ContractFile) -> None:
    # A supplementary agreement lowers the fee factor to 0.95 from 16 March 2019.
    amended = ContractFile.model_validate({**wuxi.canonical(), "components": [
        {**wuxi.canonical()["components"][0], "fee_factor": "0.95"}, wuxi.canonical()["components"][1]]})
    versions = [TermsVersion("v1", date(2018, 12, 1), wuxi), TermsVersion("v2", date(2019, 3, 16), amended)]
    march = next(p for p in settlement_periods(wuxi.contract) if p.start == date(2019, 3, 1))
    data = PeriodData(march, savings=(UtilitySavings("water", 20500, 20150),))
    s = settle_period(versions, march, data)
    fees = [line for line in s.lines if line.code == "custody_fee"]
    # 16,179,328.00 × 0.97 × 1/12 × 15/31 = 632,820.490… → 632,820.49 (v1, 1–15 March)
    # 16,179,328.00 × 0.95 × 1/12 × 16/31 = 661,090.821… → 661,090.82 (v2, 16–31 March)
    assert [(f.contract_version, f.start, f.end, f.amount) for f in fees] == [
        ("v1", date(2019, 3, 1), date(2019, 3, 16), Decimal("632820.49")),
        ("v2", date(2019, 3, 16), date(2019, 4, 1), Decimal("661090.82")),
    ]
    assert fees[0].formula.endswith("× 1/12 年 × 15/31 天 = 632,820.49 元")
    assert s.versions == ("v1", "v2")
    # whole-month savings were shared out by days, and the statement says so
    assert any(w.code == "prorated_by_days" for w in s.warnings)

    # M&V can give the two parts directly instead (measured per part: no proration warning)
    part1, part2 = split_period(march, date(2019, 3, 16))
    parts = (PeriodData(part1, savings=(UtilitySavings("water", 9900, 9750),)),
             PeriodData(part2, savings=(UtilitySavings("water", 10600, 10400),)))
    s2 = settle_period(versions, march, PeriodData(march, savings=data.savings, parts=parts))
    assert not any(w.code == "prorated_by_days" for w in s2.warnings)
    assert [line.amount for line in s2.lines] == [Decimal("632820.49"), Decimal("661090.82")]

    # The year-end reconciliation recomputes March day by day under both versions: with every month settled,
    # the 12 fees (2 lines in March) and the reconciliation add up to the exact year fee, rounded once.
    periods = [p for p in settlement_periods(wuxi.contract) if p.contract_year == 1]
    year = [settle_period(versions, p, PeriodData(p, savings=(UtilitySavings("water", 20000, 19500),)))
            for p in periods]
    settled = [line for st in year for line in st.lines]
    year_end = settle_contract_year(versions, 1, [PeriodData(p, savings=(UtilitySavings("water", 20000, 19500),))
                                                  for p in periods], settled)
    # Dec–Feb 3 × 1,307,829.0133… = 3,923,487.04; 1–15 Mar 632,820.490…; 16–31 Mar 661,090.821…;
    # Apr–Nov 8 × (16,179,328.00 × 0.95 / 12 = 1,280,863.4667) = 10,246,907.733…
    # exact sum 15,464,306.0852 → 15,464,306.09
    exact = Decimal("16179328.00") / 12 * (Decimal("0.97") * (3 + Decimal(15) / 31) + Decimal("0.95") * (
        Decimal(16) / 31 + 8))
    total = sum((line.signed(INSTITUTION, ESCO) for line in settled + list(year_end.lines)
                 if line.component == "custody"), Decimal(0))
    assert total == fen(exact) == Decimal("15464306.09")
