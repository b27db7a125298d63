"""Bills that straddle settlement periods (issue 13, point 1), against a case written by hand.

A shared-savings contract measured from monthly electricity bills that run from the 15th to the 14th.
The baseline year uses 1,000 kWh every day, the reporting year 800 kWh every day: 200 kWh saved per day,
valued at 0.80 元/kWh, 60 % to the ESCO. Each calendar month therefore pays the ESCO exactly
days × 200 × 0.80 × 0.6 = days × 96.00 元 — computed here by hand, not by the project's code. Before the
fix every month received the savings of every bill of the span (about six times the exact amount).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from emc.baselines import service as baselines
from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.contracts.spec import parse_contract
from emc.metering.service import ImportOptions, import_file
from emc.org.scope import Scope
from emc.org.service import load_regions
from emc.settlement import drafting, records
from emc.settlement.models import Settlement

CONTRACT = """
format = 1

[contract]
code = "T-BILLS-15"
name = "账期 15 日至 14 日的分享型合同（测试）"
type = "shared_savings"
signed = 2023-12-01
start = 2024-01-01
end = 2024-12-31
settlement_frequency = "monthly"
payment_days = 30
contract_value = 100000.00
ipmvp_option = "C"

[esco]
code = "T-ESCO"
name = "测试节能服务公司"

[[institutions]]
code = "T-INST"
name = "测试单位"
category = "organ"
region = "320211"
floor_area_m2 = 10000
energy_users = 300
weather_station = "T-WX"

[[meters]]
code = "T-E01"
institution = "T-INST"
utility = "electricity"
unit = "kWh"
name = "总表"
register = "interval"

[baseline]
start = 2022-12-15
end = 2023-12-14
cost = 292000.00

[baseline.use]
electricity = 365000

[valuation]
policy = "baseline_price"

[valuation.prices]
electricity = 0.80

[[components]]
key = "share"
kind = "shared_savings"
utilities = ["electricity"]
esco_share = [0.6]
"""


def _edges(first: date, last: date) -> list[date]:
    """The 15th of every month from ``first`` to ``last``."""
    out, day = [], first
    while day <= last:
        out.append(day)
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 15)
    return out


def _load(session: Session, tmp_path: Path) -> Contract:
    load_regions(session)
    load_contract(session, parse_contract(CONTRACT, "t.toml"), source="t.toml", actor="t")
    weather = tmp_path / "weather.csv"
    day, rows = date(2022, 11, 1), ["date,site,tmean_c"]
    while day < date(2024, 12, 31):
        rows.append(f"{day},t,{10 + (day.toordinal() * 7919 % 23) - 11 + 10 * (day.month in (6, 7, 8))}")
        day += timedelta(days=1)
    weather.write_text("\n".join(rows) + "\n", encoding="utf-8")
    edges = _edges(date(2022, 12, 15), date(2024, 7, 15))
    bills = ["表计编号,起始日期,截止日期,用电量(kWh)"]
    for a, b in zip(edges, edges[1:], strict=False):
        per_day = 1000 if b <= date(2023, 12, 15) else 800  # the retrofit works from the reporting period on
        bills.append(f"T-E01,{a},{b},{per_day * (b - a).days}")
    path = tmp_path / "bills.csv"
    path.write_text("\n".join(bills) + "\n", encoding="utf-8")
    for file, kind, station in ((weather, "weather", "T-WX"), (path, "meter", None)):
        report = import_file(session, file, file_name=file.name, actor="t", scope=Scope.everything(),
                             options=ImportOptions(kind=kind, station=station))
        assert report.ok, [f.message for f in report.findings.kept]
    contract = session.execute(select(Contract).where(Contract.code == "T-BILLS-15")).scalar_one()
    fitted = baselines.fit(session, contract, "electricity", actor="t")
    baselines.approve(session, fitted, actor="t", reason="test case written by hand")
    return contract


def test_bills_from_the_15th_pay_each_month_exactly_its_own_days(session: Session, tmp_path: Path) -> None:
    contract = _load(session, tmp_path)
    report = drafting.run_due(session, date(2024, 8, 1))
    rows = {r.period_start: r for r in session.execute(select(Settlement).where(
        Settlement.contract_id == contract.id, Settlement.kind == "period")).scalars()}
    # hand computed: days in the month × 200 kWh × 0.80 元 × 60 %
    expected = {date(2024, 1, 1): Decimal("2976.00"), date(2024, 2, 1): Decimal("2784.00"),
                date(2024, 3, 1): Decimal("2976.00"), date(2024, 4, 1): Decimal("2880.00"),
                date(2024, 5, 1): Decimal("2976.00"), date(2024, 6, 1): Decimal("2880.00")}
    assert {start: row.net_to_esco for start, row in rows.items()} == expected
    # each month stores its own kWh: 200 per day
    for start, row in rows.items():
        days = (row.period_end - start).days
        assert Decimal(row.inputs["savings.electricity.savings"]) == Decimal(200 * days)
    # July's bills end on the 15th: half a month of data waits, it is not drafted
    assert date(2024, 7, 1) not in rows
    assert any("T-BILLS-15 2024-07" in w for w in report.waiting)
    # waiting is a state the settlements page lists, per contract and period, with its reason
    waits = [(w.period_start, w.reason) for w, c, _ in drafting.waiting(session, Scope.everything(), limit=1000).rows
             if c.code == "T-BILLS-15"]
    assert waits == [(date(2024, 7, 1), "coverage")]
    # once the bills reach the end of July, the next run drafts it and nothing waits
    more = tmp_path / "more.csv"
    # alone in its file, the end date is inclusive (README "Meter data imports"): 15 July – 14 August
    more.write_text("表计编号,起始日期,截止日期,用电量(kWh)\nT-E01,2024-07-15,2024-08-14,24800\n", encoding="utf-8")
    assert import_file(session, more, file_name=more.name, actor="t", scope=Scope.everything()).ok
    session.info.clear()
    drafting.run_due(session, date(2024, 8, 1))
    july = records.find(session, contract, "period", date(2024, 7, 1), date(2024, 8, 1))
    assert july is not None and july.net_to_esco == Decimal("2976.00")
    assert [w for w, c, _ in drafting.waiting(session, Scope.everything(), limit=1000).rows
            if c.code == "T-BILLS-15"] == []


def test_the_months_add_up_to_the_savings_of_the_bill_range(session: Session, tmp_path: Path) -> None:
    contract = _load(session, tmp_path)
    whole = baselines.compute_savings(session, contract, "electricity", date(2024, 1, 1), date(2024, 6, 30))
    months = whole.result.periods
    assert list(months["savings"].round(6)) == [200.0 * d for d in (31, 29, 31, 30, 31, 30)]
    assert round(whole.result.total["savings"], 6) == 200.0 * 182
    # one month alone gives the same figure as its row in the span (the CLI and the settlement agree)
    feb = baselines.compute_savings(session, contract, "electricity", date(2024, 2, 1), date(2024, 2, 29))
    assert round(feb.result.total["savings"], 6) == 200.0 * 29
    assert round(feb.result.total["adjusted_baseline"], 6) == 1000.0 * 29
