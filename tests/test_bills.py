"""Bill amounts: imported exactly with their readings (金额/水费 columns), read back per settlement period, and
used by average-cost valuation (EnergyCAP unit-cost safety limits) — on both databases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from emc.baselines import service as baselines
from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.contracts.spec import load_contract_file, parse_contract
from emc.metering.models import Meter, Reading
from emc.metering.service import ImportOptions, import_file
from emc.org.scope import Scope
from emc.org.service import load_regions
from emc.settlement import drafting, period_inputs, records
from emc.settlement.core.periods import settlement_periods
from emc.tariffs import service as tariffs

ROOT = Path(__file__).resolve().parent.parent
WUXI = ROOT / "baselines" / "WX-SMZX-2018"


def _import(session: Session, path: Path, name: str | None = None, **options: object):  # type: ignore[no-untyped-def]
    return import_file(session, path, file_name=name or path.name, actor="t", scope=Scope.everything(),
                       options=ImportOptions(**options))  # type: ignore[arg-type]


@pytest.fixture
def wuxi(session: Session) -> Contract:
    load_regions(session)
    tariffs.load_file(session, ROOT / "contracts" / "tariffs" / "wuxi.toml", actor="t")
    load_contract(session, load_contract_file(ROOT / "contracts" / "wuxi-civic-centre.toml"), source="w", actor="t")
    return session.execute(select(Contract).where(Contract.code == "WX-SMZX-2018")).scalar_one()


def test_bill_amounts_are_imported_exactly(session: Session, wuxi: Contract) -> None:
    assert _import(session, WUXI / "gas_bills.csv").ok
    meter = session.execute(select(Meter).where(Meter.code == "WX-SMZX-G01")).scalar_one()
    costs = session.execute(select(Reading.cost).where(Reading.meter_id == meter.id)
                            .order_by(Reading.period_start)).scalars().all()
    assert costs[0] == Decimal("160895.68") and costs[1] == Decimal("205237.12")  # 45,709 m3 × 3.52 …
    assert all(c is not None for c in costs)


def test_an_amount_that_is_not_to_the_fen_names_row_column_and_value(session: Session, wuxi: Contract,
                                                                      tmp_path: Path) -> None:
    bad = tmp_path / "bills.csv"
    bad.write_text("表计编号,起始日期,截止日期,用气量(m3),金额(元)\n"
                   "WX-SMZX-G01,2017-11-22,2017-12-19,45709,160895.68\n"
                   "WX-SMZX-G01,2017-12-19,2018-01-19,58306,2052.371\n", encoding="utf-8")
    result = _import(session, bad)
    assert not result.ok
    [finding] = [f for f in result.findings.kept if f.code == "bad_number"]
    assert (finding.row, finding.column, finding.value) == (3, "金额(元)", "2052.371")
    assert session.execute(select(Reading.id)).first() is None  # nothing of the file was written


def test_a_periods_bills_are_summed_in_canonical_units(session: Session, wuxi: Contract) -> None:
    assert _import(session, WUXI / "gas_bills.csv").ok
    versions = period_inputs.terms(session, wuxi)
    dec = next(p for p in settlement_periods(versions[-1].terms.contract) if p.start == date(2018, 12, 1))
    [bill] = period_inputs.bills(session, wuxi, dec, ["gas"])
    # the bills ending within December 2018 (one per month, issued on the 19th or so)
    rows = session.execute(select(Reading.period_end, Reading.value, Reading.cost)).all()
    mine = [(v, c) for end, v, c in rows if date(2018, 12, 1) <= end.date() <= date(2018, 12, 31)]
    assert bill.cost == sum((c for _, c in mine), Decimal(0))
    assert bill.quantity == Decimal(str(round(sum(v for v, _ in mine), 3)))
    assert bill.ref.startswith(f"{len(mine)} bills")


SHARED_WATER = """
[valuation]
policy = "average_cost"
limits = { water = { min = 3.00, max = 6.00 } }

[[components]]
key = "share"
kind = "shared_savings"
utilities = ["water"]
esco_share = [0.5, 0.5, 0.5, 0.5, 0.5]
"""


def test_average_cost_valuation_uses_the_bills_and_waits_without_them(session: Session, tmp_path: Path) -> None:
    load_regions(session)
    text = (ROOT / "contracts" / "wuxi-civic-centre.toml").read_text(encoding="utf-8")
    head = text.partition("[[components]]")[0].replace('type = "hybrid"', 'type = "shared_savings"')
    load_contract(session, parse_contract(head + SHARED_WATER, "w.toml"), source="w.toml", actor="t")
    contract = session.execute(select(Contract).where(Contract.code == "WX-SMZX-2018")).scalar_one()
    for name, kind, station in (("meter_readings_baseline_gbk.csv", "meter", None),
                                ("meter_readings_year1_gbk.csv", "meter", None), ("weather.csv", "weather", "58354")):
        assert _import(session, WUXI / name, kind=kind, station=station).ok
    baselines.approve(session, baselines.fit(session, contract, "water", actor="t"), actor="t",
                      reason="test")
    report = drafting.run_due(session, date(2019, 1, 5))
    assert report.created == [] and "needs a bill with an amount for water" in report.waiting[0]
    # the water company's bill for December: 21,000 m3 for 98,700.00 → 4.70 CNY/m3, within the 3–6 limits
    bill = tmp_path / "water_bill_2018_12.csv"
    bill.write_text("表计编号,起始日期,截止日期,用水量(m3),水费(元)\nWX-SMZX-W01,2018-11-20,2018-12-20,21000,98700.00\n",
                    encoding="utf-8")
    assert _import(session, bill).ok
    session.info.pop("emc.settlement.bills", None)  # a new session in real use
    [row] = drafting.draft(session, contract, date(2018, 12, 1), actor="t")
    [line] = [line for line in records.lines_of(session, row) if line.utility == "water"]
    assert line.unit_price == Decimal("4.7")
    assert line.amount == (line.quantity * Decimal("4.70") * Decimal("0.5")).quantize(Decimal("0.01"))
    cost_key = next(k for k in row.inputs if k.startswith("bill.water.") and k.endswith(".cost"))
    assert row.inputs[cost_key] == "98700.00"  # the settlement records the bill it was valued with
