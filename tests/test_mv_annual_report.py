"""The annual M&V report from stored data, over HTTP on the demo database (SQLite and PostgreSQL).

The bureau approves the Wuxi civic centre's electricity and water baselines and the college's water baseline,
settles the contract years and approves every settlement; then the PDF per contract year is read back and
must carry the contract, institution, model, gates, monthly figures, the guarantee's verdict and money, and
the carbon reduced — the numbers taken from the database, not retyped. The demo database here is this
module's own: it approves settlements that tests elsewhere expect to find as drafts.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from conftest import ARTIFACTS, LiveServer, PostgresServer, _fresh_url, build_demo_db, unavailable
from pypdf import PdfReader
from sqlmodel import Session, select

from emc import clock
from emc.baselines import service as baselines
from emc.contracts.models import Contract
from emc.i18n import Translator
from emc.i18n.messages import model_label
from emc.reporting import emission, measured
from emc.reports.amounts import chinese_uppercase, format_yuan
from emc.reports.fonts import CjkFontMissing, cjk_font
from emc.settlement import drafting, period_inputs, records, workflow
from emc.settlement.core.periods import settlement_periods
from emc.settlement.models import Settlement, SettlementLine

WUXI = "WX-SMZX-2018"  # electricity + water + gas custody, 2 % water guarantee; ESCO of the `esco` user
COLLEGE = "WX-LHZY-WATER-2024"  # guaranteed water savings, annual settlement; an ESCO with no demo user
PV_LEASE = "CZ-TNXZZX-PV-2022"  # lease + O&M fee: nothing measured against a baseline
HOSPITAL = "CZ-ZLRMYY-HVAC-2024"  # shared savings; no baseline approved here
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _settle_years(s: Session, code: str, utilities: list[str], years: int) -> None:
    """Approve the baselines (with a reason where G14 fails) and settle + approve ``years`` contract years."""
    contract = s.exec(select(Contract).where(Contract.code == code)).one()
    for utility in utilities:
        fitted = baselines.fit(s, contract, utility, actor="manager")
        baselines.approve(s, fitted, actor="manager", reason="" if fitted.passes_gates else
                          "academic vacations are not modelled; accepted by both parties for year 1")
    s.commit()
    head = period_inputs.terms(s, contract)[-1].terms.contract
    for period in settlement_periods(head):
        if period.contract_year > years:
            break
        for row in drafting.draft_period(s, contract, period, actor="manager"):
            workflow.transition(s, row, "submit", actor="manager")
            workflow.transition(s, row, "approve", actor="manager2")  # four eyes
        s.commit()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
           postgres: PostgresServer | None) -> Iterator[LiveServer]:
    try:
        cjk_font()
    except CjkFontMissing as exc:
        unavailable(str(exc))
    url = _fresh_url(request.param, tmp_path_factory.mktemp("mv-report"), sqlite_template, postgres)
    build_demo_db(url)
    with LiveServer(url) as live:
        with Session(live.engine) as s:
            _settle_years(s, WUXI, ["electricity", "water"], years=2)
            _settle_years(s, COLLEGE, ["water"], years=1)
        yield live


def login(server: LiveServer, username: str) -> httpx.Client:
    c = httpx.Client(base_url=server.url, follow_redirects=False, timeout=60)
    token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"username": username, "password": f"demo-{username}", "csrf_token": token,
                               "next": "/contracts"})
    assert r.status_code == 303, r.text
    return c


def pdf_text(data: bytes) -> tuple[str, str]:
    """The text of every page, and the same without whitespace (table cells break lines anywhere)."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return text, re.sub(r"\s+", "", text)


def year_end(s: Session, code: str, year: int) -> tuple[Settlement, list[SettlementLine]]:
    contract = s.exec(select(Contract).where(Contract.code == code)).one()
    row = s.exec(select(Settlement).where(Settlement.contract_id == contract.id, Settlement.kind == "year_end",
                                          Settlement.contract_year == year)).one()
    return row, records.lines_of(s, row)


def monthly(s: Session, code: str, utility: str, start: date, last: date) -> list[dict[str, object]]:
    contract = s.exec(select(Contract).where(Contract.code == code)).one()
    rows = baselines.compute_savings(s, contract, utility, start, last).result.periods.to_dict(orient="records")
    return [r for r in rows if r["settled"]]


def whole(value: object) -> str:
    return f"{measured.whole(float(value)):,}"  # type: ignore[arg-type]


def test_wuxi_year_two_reads_back_with_model_gates_months_guarantee_and_carbon(server: LiveServer) -> None:
    c = login(server, "manager")
    r = c.get(f"/contracts/{WUXI}/mv/report/2.pdf")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    text, flat = pdf_text(r.content)
    with Session(server.engine) as s:
        contract = s.exec(select(Contract).where(Contract.code == WUXI)).one()
        electricity = baselines.approved(s, contract, "electricity")
        water = baselines.approved(s, contract, "water")
        assert electricity is not None and water is not None
        power = monthly(s, WUXI, "electricity", date(2019, 12, 1), date(2020, 11, 30))
        taps = monthly(s, WUXI, "water", date(2019, 12, 1), date(2020, 11, 30))
        true_up, lines = year_end(s, WUXI, 2)
    for needle in (WUXI, "MV-WX-SMZX-2018-Y2", "无锡市民中心", "国网江苏综合能源服务有限公司", "2019-12-01至2020-11-30",
                   "年度节能量测量与验证报告", "IPMVP选项C", "电力", "Electricity", "水", "Water"):
        assert needle in flat, needle
    # the stored models, by name, with their statistics and gates as approved
    for baseline in (electricity, water):
        assert model_label(baseline.model["model_type"], Translator("zh")).replace(" ", "") in flat
        assert f"{baseline.metrics['cvrmse'] * 100:.1f}%" in flat
        assert f"≤{baseline.model['gates']['cvrmse_max'] * 100:.0f}%" in flat
        assert f"{baseline.metrics['r2']:.3f}" in flat
    assert "5P" in flat and "ASHRAEGuideline14-2014" in flat and "FSU@68%" in flat
    # twelve months of each, figures as the savings engine gives them
    assert len(power) == 12 and len(taps) == 12
    for row in power + taps:
        assert whole(row["actual"]) in text and whole(row["adjusted_baseline"]) in text
    assert "20-07" in text  # the chart's month axis is text
    saved_kwh = sum(measured.whole(float(r["adjusted_baseline"])) - measured.whole(float(r["actual"]))
                    for r in power)
    assert f"{saved_kwh:,}" in text
    # the guarantee: missed in year 2, the ESCO pays the shortfall the approved true-up settled
    shortfall = [line for line in lines if line.kind == "shortfall"]
    assert len(shortfall) == 1 and shortfall[0].payer == "esco"
    money = -shortfall[0].amount
    for needle in ("未达到", "Missed", format_yuan(money), chinese_uppercase(money), true_up.number,
                   f"{Decimal(true_up.inputs['water-guarantee.verified']):,}",
                   f"{Decimal(true_up.inputs['water-guarantee.guaranteed']):,}"):
        assert needle in flat, needle
    # carbon: electricity savings × 0.5366 kgCO₂/kWh, and × 0.1229 kgce/kWh, with the factor's source
    co2 = (saved_kwh * Decimal("0.5366") / 1000).quantize(Decimal("0.01"))
    tce = (saved_kwh * Decimal("0.1229") / 1000).quantize(Decimal("0.01"))
    for needle in (f"{co2:,}", f"{tce:,}", "0.5366", "生态环境部、国家统计局", "2022年电力二氧化碳排放因子",
                   "GB/T2589-2020"):
        assert needle in flat, needle
    # gas has no approved baseline (its bills do not cover a year): said, not hidden
    assert "提示（数据完整性与方法）" in flat and "天然气：尚无已批准的基准模型" in flat


def test_wuxi_year_one_meets_the_guarantee(server: LiveServer) -> None:
    c = login(server, "manager")
    _, flat = pdf_text(c.get(f"/contracts/{WUXI}/mv/report/1.pdf").content)
    assert "已达到Met" in flat and "无短缺赔付" in flat and "¥0.00" in flat and "MV-WX-SMZX-2018-Y1" in flat


def test_college_water_report_shows_the_failed_gate_the_reason_and_the_payment(server: LiveServer) -> None:
    c = login(server, "manager")
    r = c.get(f"/contracts/{COLLEGE}/mv/report/1.pdf")
    assert r.status_code == 200, r.text
    text, flat = pdf_text(r.content)
    with Session(server.engine) as s:
        contract = s.exec(select(Contract).where(Contract.code == COLLEGE)).one()
        water = baselines.approved(s, contract, "water")
        assert water is not None
        months = monthly(s, COLLEGE, "water", date(2024, 4, 1), date(2025, 3, 31))
        true_up, _ = year_end(s, COLLEGE, 1)
        paid = sum((line.amount for row in s.exec(select(Settlement).where(
            Settlement.contract_id == contract.id, Settlement.contract_year == 1)).all()
            for line in records.lines_of(s, row) if line.kind in ("savings_payment", "savings_true_up")),
            Decimal(0))
    for needle in (COLLEGE, "无锡蠡湖职业技术学院", "江苏清泉节水科技有限公司", "2024-04-01至2025-03-31",
                   model_label(water.model["model_type"], Translator("zh")).replace(" ", ""),
                   f"{water.metrics['cvrmse'] * 100:.1f}%", "已达到Met", true_up.number, f"{paid:,.2f}",
                   "academicvacationsarenotmodelled"):
        assert needle in flat, needle
    assert not water.passes_gates and "未通过" in flat and "FAIL" in flat  # approved with a reason, shown so
    # and the savings are within their own uncertainty: the engine's finding and the true-up's are printed
    # in Chinese, by their codes (issue 16): not the codes themselves
    assert "节能量与模型误差无法区分" in flat and "按点估计结算" in flat
    assert "savings_uncertainty_high" not in flat and "shortfall_within_uncertainty" not in flat
    assert len(months) == 12
    for row in months:
        assert whole(row["actual"]) in text
    assert "碳减排" not in flat  # water only: no electricity, no carbon rows


def test_same_bytes_twice_and_an_esco_sees_only_its_own(server: LiveServer) -> None:
    manager = login(server, "manager")
    first = manager.get(f"/contracts/{WUXI}/mv/report/2.pdf").content
    assert manager.get(f"/contracts/{WUXI}/mv/report/2.pdf").content == first
    esco = login(server, "esco")  # the civic centre's ESCO
    assert esco.get(f"/contracts/{WUXI}/mv/report/2.pdf").content == first
    assert esco.get(f"/contracts/{COLLEGE}/mv/report/1.pdf").status_code == 404
    other = login(server, "esco2")  # the hospital's ESCO
    for code, year, name in ((WUXI, 2, "无锡市民中心"), (WUXI, 9, "无锡市民中心"), (COLLEGE, 1, "蠡湖")):
        refused = other.get(f"/contracts/{code}/mv/report/{year}.pdf")
        assert refused.status_code == 404
        assert name not in refused.text and "contract years" not in refused.text  # out of scope: simply not found


def test_no_report_says_why(server: LiveServer) -> None:
    c = login(server, "manager")
    lease = c.get(f"/contracts/{PV_LEASE}/mv/report/1.pdf")
    assert lease.status_code == 404 and "measures no savings" in lease.text and "lease" in lease.text
    assert c.get(f"/contracts/{WUXI}/mv/report/6.pdf").status_code == 404  # a five-year term
    future = c.get(f"/contracts/{COLLEGE}/mv/report/5.pdf")
    assert future.status_code == 404 and "begins on 2028-04-01" in future.text
    hospital = c.get(f"/contracts/{HOSPITAL}/mv/report/1.pdf")
    assert hospital.status_code == 409 and "no approved baseline" in hospital.text


def test_incomplete_years_are_warnings_in_the_report(server: LiveServer) -> None:
    c = login(server, "manager")
    # begun 2026-04-01; the demo continues the college's readings to the last full month (emc.demo.extend):
    # an interim report on the months so far
    r = c.get(f"/contracts/{COLLEGE}/mv/report/3.pdf")
    assert r.status_code == 200
    _, flat = pdf_text(r.content)
    assert "本合同年无可用数据" not in flat and "年度清算尚未批准" in flat and "interim" in flat
    r = c.get(f"/contracts/{WUXI}/mv/report/3.pdf")  # data for the whole year; settled here only to year 2
    _, flat = pdf_text(r.content)
    assert r.status_code == 200 and "本合同年无可用数据" not in flat and "年度清算尚未批准" in flat
    r = c.get(f"/contracts/{COLLEGE}/mv/report/2.pdf")  # data for the whole year; its true-up is not drafted
    _, flat = pdf_text(r.content)
    assert r.status_code == 200 and "2025-04-01至2026-03-31" in flat
    assert "年度清算尚未批准" in flat and "保证量结论及经济后果待定" in flat


def test_mv_page_links_each_begun_contract_year(server: LiveServer) -> None:
    c = login(server, "manager")
    page = c.get(f"/contracts/{WUXI}/mv").text
    links = re.findall(rf'href="/contracts/{WUXI}/mv/report/(\d+)\.pdf"', page)
    assert links == ["1", "2", "3", "4", "5"]
    # the calibrated headline interval in the table, G14 Annex B beside it for compliance
    g14 = re.search(r'id="g14-annex-b">ASHRAE G14 附录B（合规检验）：±([\d,.]+)（68%），±([\d,.]+)（90%）；'
                    r'.*?([\d.]+)%（限值', page)
    assert g14 is not None and float(g14.group(1).replace(",", "")) < float(g14.group(2).replace(",", ""))
    college = c.get(f"/contracts/{COLLEGE}/mv").text  # 2024-04 start: years 1-3 have begun by 2026-11
    today = clock.today()
    begun = [str(n) for n, start in enumerate([date(2024, 4, 1), date(2025, 4, 1), date(2026, 4, 1),
                                               date(2027, 4, 1), date(2028, 4, 1)], start=1) if start <= today]
    assert re.findall(rf'/contracts/{COLLEGE}/mv/report/(\d+)\.pdf', college) == begun
    assert "/mv/report/" not in c.get(f"/contracts/{PV_LEASE}/mv").text


def test_approved_adjustments_are_listed_with_reason_and_effect_proposed_ones_are_warned(server: LiveServer) -> None:
    with Session(server.engine) as s:
        contract = s.exec(select(Contract).where(Contract.code == WUXI)).one()
        if not baselines.adjustments(s, contract, "electricity"):
            row = baselines.propose_adjustment(s, contract, "electricity", kind="one_time",
                                               start=date(2019, 3, 10), amount=20000.0,
                                               reason="临时布展用电（市民中心春季招聘会）", actor="esco")
            baselines.decide_adjustment(s, row, approve_it=True, actor="manager", note="变更确认单 2019-07")
            baselines.propose_adjustment(s, contract, "electricity", kind="continuous", start=date(2019, 6, 1),
                                         amount=300.0, reason="新增机房 new server room", actor="esco")
            s.commit()
    c = login(server, "manager")
    text, flat = pdf_text(c.get(f"/contracts/{WUXI}/mv/report/1.pdf").content)
    for needle in ("非常规调整", "一次性调整，2019-03-10起", "+20,000kWh", "临时布展用电（市民中心春季招聘会）",
                   "变更确认单2019-07", "1项非常规调整待审批"):
        assert needle in flat, needle
    _, other_year = pdf_text(c.get(f"/contracts/{WUXI}/mv/report/2.pdf").content)
    assert "临时布展用电" not in other_year  # a one-time change acts in the year of its date only


def test_pages_rendered_for_review(server: LiveServer) -> None:
    """Pages 1-2 of each report as PNG in test-artifacts/ (looked at by a person; pdftoppm from poppler)."""
    if shutil.which("pdftoppm") is None:
        unavailable("pdftoppm (poppler-utils) is not installed: the report pages are not rendered for review")
    c = login(server, "manager")
    ARTIFACTS.mkdir(exist_ok=True)
    for code, year in ((WUXI, 2), (COLLEGE, 1)):
        path = ARTIFACTS / f"mv-report-{code}-Y{year}.pdf"
        path.write_bytes(c.get(f"/contracts/{code}/mv/report/{year}.pdf").content)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(path), str(path.with_suffix(""))],
                       check=True)
        assert path.with_name(f"{path.stem}-1.png").stat().st_size > 10_000


def test_model_names_and_carbon_are_plain_functions() -> None:
    assert measured.model_name("3PC + workday") == "三参数制冷变点模型（3PC）＋工作日变量"
    assert measured.model_name("split by day type: workday 5P | non-workday mean") == \
        "按日类型分段：工作日 五参数变点模型（5P）；非工作日 均值模型（mean）"
    row = emission.carbon_row("electricity", Decimal(1_000_000), emission.GRID_2022)
    assert row is not None and row.reduction_t == Decimal("536.60") and row.standard_coal_t == Decimal("122.90")
    assert emission.carbon_row("water", Decimal(1000), emission.GRID_2022) is None
    own = emission.EmissionFactor(Decimal("0.5703"), "华东区域 2022", "an example regional factor")
    assert emission.carbon_row("electricity", Decimal(1000), own).reduction_t == Decimal("0.57")  # type: ignore[union-attr]


def test_the_carbon_factor_is_the_citys_ledger_series(server: LiveServer) -> None:
    """Wuxi's ledger books CO₂ with the East China grid series (emc/carbon/seed/ledger.toml): the college's
    contract year 1 (2024-04 → 2025-03) takes that series' factor for 2024 — the 2023 one, provisionally, since
    2024's is not published — and the report names it; before 2021 no factor exists and the national 2022
    default stays."""
    with Session(server.engine) as s:
        college = s.execute(select(Contract).where(Contract.code == COLLEGE)).scalar_one()
        factor = emission.city_factor(s, college, 1)
        assert factor is not None and factor.kg_per_kwh == Decimal("0.55")
        # named in Chinese, as the report prints it (issue 16: no series or region key reaches the PDF)
        assert "华东区域电网" in factor.name and "暂定" in factor.name and "暂用 2023 年因子" in factor.source
        wuxi = s.execute(select(Contract).where(Contract.code == WUXI)).scalar_one()
        assert emission.city_factor(s, wuxi, 1) is None  # 2019: before the first published factor
