"""Finance's statements page over real HTTP (uvicorn + the demo database, SQLite and PostgreSQL) and in chromium:
statements by month with totals, the manager issues the month, finance downloads and records payments in
place, an ESCO sees and downloads only its own, and no role sees a control it cannot use.

The statements come from two monthly energy-cost custody contracts built on the PV example's parties (they
settle without metered savings), one of them with contract, ESCO and institution names that begin with
spreadsheet formula characters, and from the demo's PV finance lease; all are drafted, submitted and approved
through the settlement service.
"""

from __future__ import annotations

import html
import io
import re
import tomllib
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import LiveServer, screenshot
from test_web import client, login, net, today_local

ROOT = Path(__file__).resolve().parent.parent
OM = "T-OM-2022"  # energy-cost custody for the PV example's institution; ESCO JS-JYGF (user `jygf` below)
EQ = "T-EQ-2022"  # the same terms for another institution, with formula-like names; ESCO T-EQ (user `eqesco`)
PV = "CZ-TNXZZX-PV-2022"  # the demo's finance lease (institution → lessor and → ESCO): the ledger's third party
EQ_NAME = '=HYPERLINK("http://example.invalid","合同")'
EQ_ESCO = "=1+2 节能服务有限公司"
EQ_INSTITUTION = "@SUM(1) 行政中心"
MONTHS = (date(2022, 11, 1), date(2022, 12, 1))  # the custody contracts' first two months
QUARTERS = (date(2022, 10, 1), date(2023, 1, 1))  # the lease's first two quarters


def _custody_contract(code: str) -> object:
    """The PV example's parties with a monthly energy-cost custody (fee = baseline cost × 0.95 / 12): it
    settles without metered savings, as the lease does."""
    from emc.contracts.spec import ContractFile

    data = tomllib.loads((ROOT / "contracts" / "pv-lease.toml").read_text(encoding="utf-8"), parse_float=Decimal)
    data["contract"].update(code=code, name_en=f"Test custody {code}", type="cost_custody", signed=date(2022, 10, 1),
                            start=MONTHS[0], settlement_frequency="monthly", contract_value=Decimal("6583816.00"))
    data["contract"].pop("ipmvp_option", None)
    data["contract"]["name"] = "天宁区行政中心能源费用托管（测试）"
    data["components"] = [{"key": "custody", "label": "能源费用托管", "kind": "cost_custody",
                           "utilities": ["electricity"], "baseline_cost": Decimal("1385856.00"),
                           "fee_factor": Decimal("0.95"), "reconciliation": "none"}]
    for meter in data["meters"]:
        meter["code"] = f"{code}-{meter['code']}"
    if code == EQ:
        data["contract"]["name"] = EQ_NAME
        data["esco"] = {"code": "T-EQ", "name": EQ_ESCO}
        for inst in data["institutions"]:
            inst.update(code="T-EQ-INST", name=EQ_INSTITUTION)
        for meter in data["meters"]:
            meter["institution"] = "T-EQ-INST"
    return ContractFile.model_validate(data)


def finance_data(server: LiveServer) -> dict[str, dict[date, str]]:
    """Idempotent: the two custody contracts' first two months and the lease's first two quarters drafted,
    submitted and approved through the settlement service; ESCO users for both custody ESCOs, a viewer.
    Returns {contract code: {period start: settlement number}}."""
    from sqlmodel import Session, select

    from emc.contracts.models import Contract
    from emc.contracts.service import load_contract
    from emc.org.models import Role, User
    from emc.org.service import UserCreate, create_user
    from emc.settlement import drafting, workflow

    numbers: dict[str, dict[date, str]] = {}
    with Session(server.engine) as s:
        for code in (OM, EQ):
            if s.exec(select(Contract).where(Contract.code == code)).first() is None:
                load_contract(s, _custody_contract(code), source="test_finance_pages", actor="t")  # type: ignore[arg-type]
        users = (UserCreate(username="jygf", password="demo-jygf", role=Role.esco, esco="JS-JYGF"),
                 UserCreate(username="eqesco", password="demo-eqesco", role=Role.esco, esco="T-EQ"),
                 # the demo's `viewer` may be locked out by the login-throttle test sharing this server
                 UserCreate(username="czviewer", password="demo-czviewer", role=Role.viewer, region="320400"))
        for user in users:
            if s.exec(select(User).where(User.username == user.username)).first() is None:
                create_user(s, user, actor="t")
        for code, days in ((OM, MONTHS), (EQ, MONTHS), (PV, QUARTERS)):
            contract = s.exec(select(Contract).where(Contract.code == code)).one()
            for day in days:
                for row in drafting.draft(s, contract, day, actor="t"):
                    for action in {"draft": ("submit", "approve"), "submitted": ("approve",)}.get(row.status, ()):
                        workflow.transition(s, row, action, actor="t" if action == "submit" else "t2")  # four eyes
                    numbers.setdefault(code, {})[row.period_start] = row.number
        s.commit()
    return numbers


def _status(server: LiveServer, number: str) -> str:
    m, _ = login(server, "manager")
    return m.get(f"/api/settlements/{number}").json()["status"]


def test_statements_by_month_issue_pay_and_scope(demo_server: LiveServer) -> None:
    numbers = finance_data(demo_server)
    om, eq = numbers[OM][MONTHS[0]], numbers[EQ][MONTHS[0]]
    assert _status(demo_server, om) == "approved", "this test owns November 2022"
    f, ft = login(demo_server, "finance")
    page = html.unescape(f.get("/statements", params={"by": "period", "month": "2022-11"}).text)
    assert 'data-nav="statements"' in page and om in page and eq in page
    months = re.search(r'<div class="card" id="months">.*?</table>', page, re.S).group(0)  # type: ignore[union-attr]
    assert all(m in months for m in ("2022-10", "2022-11", "2022-12", "2023-01"))
    # finance: nothing issued yet, so no zip and no payment form; never the manager's issue button
    assert 'id="month-zip"' not in page and 'class="pay-form"' not in page and 'id="issue-month"' not in page
    assert f.post("/settlements/issue-period", data={"csrf_token": ft, "month": "2022-11"}).status_code == 403
    # the manager issues the month from the page and comes back to it; no payment controls for the manager
    m, mt = login(demo_server, "manager")
    mpage = m.get("/statements", params={"by": "period", "month": "2022-11"}).text
    assert 'id="issue-month"' in mpage and 'class="pay-form"' not in mpage
    back = "/statements?by=period&month=2022-11"
    total = re.search(r'name="confirm_amount" value="([^"]+)"', mpage).group(1)  # type: ignore[union-attr]
    r = m.post("/settlements/issue-period", data={"csrf_token": mt, "month": "2022-11", "next": back,
                                                  "confirm_amount": total}, headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == back
    assert _status(demo_server, om) == _status(demo_server, eq) == "issued"
    assert 'class="pay-form"' not in m.get(back).text
    # finance: the zip and a payment form per issued statement; the zip holds both PDFs and the summary
    page = f.get(back).text
    assert 'id="month-zip"' in page and page.count('class="pay-form"') == 2 and 'id="issue-month"' not in page
    bundle = zipfile.ZipFile(io.BytesIO(f.get("/settlements/period/2022-11.zip").content))
    assert {f"{om}.pdf", f"{eq}.pdf", "summary-2022-11.xlsx"} <= set(bundle.namelist())
    pdf = f.get(f"/settlements/{om}/statement.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content == bundle.read(f"{om}.pdf")
    # record a payment in place: a refusal is a toast that keeps the row; success returns the row and a toast
    day = today_local()
    missing = f.post(f"/settlements/{om}/pay", data={"csrf_token": ft, "paid_on": day, "next": back,
                                                      "confirm_amount": net(f, om)}, headers={"HX-Request": "true"})
    assert missing.status_code == 409 and "bank reference" in missing.text and missing.headers["HX-Reswap"] == "none"
    paid = f.post(f"/settlements/{om}/pay", data={"csrf_token": ft, "paid_on": day, "confirm_amount": net(f, om),
                                                   "reference": "ICBC-2022-1210", "next": back},
                  headers={"HX-Request": "true"})
    assert paid.status_code == 200, paid.text
    answer = paid.text  # the month's block (the row paid, the month's totals with it), totals per month, toast
    assert answer.lstrip().startswith('<div class="card" id="month">') and "<html" not in answer
    row = re.search(rf'<tr id="row-{om}".*?</tr>', answer, re.S).group(0)  # type: ignore[union-attr]
    assert "已支付" in row and f"{day} · ICBC-2022-1210" in row and 'class="pay-form"' not in row
    totals = re.search(r'<div class="totals" id="month-totals">(.*?)</div>\s*</div>', answer, re.S)
    assert totals and "已支付 1" in totals.group(1)
    assert '<div class="card" id="months" hx-swap-oob="true">' in answer
    assert 'hx-swap-oob="beforeend"' in answer and f"{om}：已登记支付" in answer  # the toast
    # without HTMX (no JavaScript): post/redirect/get back to the page
    plain = f.post(f"/settlements/{eq}/pay", data={"csrf_token": ft, "paid_on": day, "confirm_amount": net(f, eq),
                                                    "reference": "ABC-1211", "next": back})
    assert plain.status_code == 303 and plain.headers["location"] == back
    page = html.unescape(f.get("/statements", params={"by": "period", "month": "2022-11", "status": "paid"}).text)
    assert om in page and eq in page and "ICBC-2022-1210" in page and "ABC-1211" in page
    # `next` may only lead back to the statements page, never elsewhere
    from emc.web.routes.settlement import _back

    assert _back(back) == back and _back("//evil.example/") is None and _back("/statementsX") is None


def test_totals_per_month_add_up_and_filters_are_in_the_url(demo_server: LiveServer) -> None:
    from sqlmodel import Session, select

    from emc.settlement.models import Settlement

    numbers = finance_data(demo_server)
    with Session(demo_server.engine) as s:
        rows = s.exec(select(Settlement).where(Settlement.number.in_(  # type: ignore[attr-defined]
            [n for by in numbers.values() for n in by.values()]))).all()
    f, _ = login(demo_server, "finance")
    for start in (*MONTHS, *QUARTERS):
        month = f"{start:%Y-%m}"
        part = f.get("/statements", params={"by": "period", "month": month}, headers={"HX-Request": "true"}).text
        assert part.lstrip().startswith('<section id="results"') and "<html" not in part
        mine = [r for r in rows if f"{r.period_start:%Y-%m}" == month]
        totals = re.search(r'id="month-totals">(.*?)</div>\s*</div>', part, re.S).group(1)  # type: ignore[union-attr]
        net = sum((r.net_to_esco for r in mine), Decimal(0))
        to_esco = sum((r.to_esco for r in mine), Decimal(0))
        assert f"{net:,.2f}" in totals and f"{to_esco:,.2f}" in totals, (month, totals)
        assert f"<strong>{len(mine)}</strong>" in totals  # only these contracts settle in these months
        assert part.count('<tr id="row-') == len(mine)
    # filters: a contract, a status; unknown status and malformed months are refused with the reason
    one = f.get("/statements", params={"by": "period", "month": "2022-12", "contract": EQ}).text
    assert numbers[EQ][MONTHS[1]] in one and numbers[OM][MONTHS[1]] not in one
    assert f'value="{EQ}"' in one  # the filter is shown as set
    approved = f.get("/statements", params={"by": "period", "month": "2022-12", "status": "approved"}).text
    assert numbers[OM][MONTHS[1]] in approved
    assert f.get("/statements", params={"status": "draft"}).status_code == 422
    bad = f.get("/statements", params={"by": "period", "month": "2023-13"})
    assert bad.status_code == 422 and "YYYY-MM" in html.unescape(bad.text)
    # the formula-like names are shown as text, escaped
    assert EQ_NAME not in one and EQ_NAME in html.unescape(one) and EQ_ESCO in html.unescape(one)


def test_esco_sees_and_downloads_only_its_own(demo_server: LiveServer) -> None:
    numbers = finance_data(demo_server)
    om, eq = numbers[OM][MONTHS[1]], numbers[EQ][MONTHS[1]]
    j, _ = login(demo_server, "jygf")
    page = j.get("/statements", params={"by": "period", "month": "2022-12"}).text
    assert 'data-nav="statements"' in page and om in page and eq not in page and EQ not in page
    assert 'id="issue-month"' not in page and 'class="pay-form"' not in page and 'id="month-zip"' not in page
    assert j.get(f"/settlements/{om}/statement.pdf").status_code == 200
    assert j.get(f"/settlements/{eq}/statement.pdf").status_code == 404
    assert j.get("/statements", params={"contract": EQ}).text.count('<tr id="row-') == 0
    q, _ = login(demo_server, "eqesco")
    assert eq in q.get("/statements", params={"by": "period", "month": "2022-12"}).text
    e, _ = login(demo_server, "esco")  # the Wuxi contract's ESCO: none of these
    other = e.get("/statements", params={"by": "period", "month": "2022-12"}).text
    assert om not in other and eq not in other and 'id="results"' in other
    # a viewer (Changzhou) may read but is not linked to the page and has no controls
    v, _ = login(demo_server, "czviewer")
    vpage = v.get("/statements", params={"by": "period", "month": "2022-12"}).text
    assert om in vpage and 'data-nav="statements"' not in vpage
    assert 'class="pay-form"' not in vpage and 'id="month-zip"' not in vpage and 'id="issue-month"' not in vpage
    assert client(demo_server).get("/statements").status_code in (303, 307)  # a login first


def test_a_finance_lease_statement_renders(demo_server: LiveServer) -> None:
    """The PV contract has three parties: the statement is between the institution and the ESCO (O&M fee);
    the lease instalment to the lessor is named in its notes and kept out of its total."""
    import io

    from pypdf import PdfReader

    numbers = finance_data(demo_server)
    f, _ = login(demo_server, "finance")
    r = f.get(f"/settlements/{numbers[PV][QUARTERS[0]]}/statement.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages).replace("\n", "")
    assert "江苏锡常融资租赁有限公司" in text and "不计入本结算单合计" in text


@pytest.mark.browser
def test_finance_records_a_payment_in_place(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    from test_browser import log_in

    numbers = finance_data(sqlite_demo_server)
    number = numbers[OM][MONTHS[1]]
    m, mt = login(sqlite_demo_server, "manager")
    if _status(sqlite_demo_server, number) == "approved":
        total = re.search(r'name="confirm_amount" value="([^"]+)"',
                          m.get("/statements", params={"by": "period", "month": "2022-12"}).text).group(1)  # type: ignore[union-attr]
        m.post("/settlements/issue-period", data={"csrf_token": mt, "month": "2022-12", "confirm_amount": total})
    log_in(page, sqlite_demo_server, "finance")
    page.click("nav.main >> text=结算单")
    page.wait_for_url("**/statements")
    page.evaluate("window.__notReloaded = true")
    with page.expect_response(lambda r: "/statements?" in r.url and r.request.headers.get("hx-request") == "true"):
        page.select_option("#statements-by", "period")  # these statements are grouped by their period's month
    with page.expect_response(lambda r: "/statements?" in r.url and r.request.headers.get("hx-request") == "true"):
        page.click("#months >> text=2022-12")
    page.wait_for_selector(f"#row-{number}")
    assert "month=2022-12" in page.url
    screenshot(page, "statements-finance")
    row = page.locator(f"#row-{number}")
    row.locator("input[name=reference]").fill("BOC-20230112")
    row.locator("input[name=paid_on]").fill(today_local())
    shown = []
    page.once("dialog", lambda d: (shown.append(d.message), d.accept()))  # the amount is confirmed in a dialog
    row.locator("button").click()
    page.wait_for_selector(f"#row-{number} >> text=已支付")
    assert f"{today_local()} · BOC-20230112" in page.inner_text(f"#row-{number}")
    assert shown and "不可撤销" in shown[0] and number in shown[0]
    assert page.locator(f"#row-{number} form").count() == 0
    assert page.locator(".toast").count() == 1
    assert "已支付 1" in page.inner_text("#month-totals")  # the month's figures followed
    assert page.evaluate("window.__notReloaded") is True  # swapped in place, no page load
    screenshot(page, "statements-paid")
    page.click("#lang-switch")
    page.wait_for_selector("h1 >> text=Statements and payments")
    screenshot(page, "statements-finance-en")


@pytest.mark.browser
def test_esco_page_shows_its_own_statements_without_controls(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    numbers = finance_data(sqlite_demo_server)
    page.goto(f"{sqlite_demo_server.url}/login?next=/statements")
    page.fill("input[name=username]", "jygf")
    page.fill("input[name=password]", "demo-jygf")
    page.click("#login-submit")
    page.wait_for_url("**/statements")
    page.goto(f"{sqlite_demo_server.url}/statements?by=period&month=2022-12")
    rows = page.locator("#statements tbody tr")
    assert rows.count() == 1 and numbers[OM][MONTHS[1]] in rows.first.inner_text()
    assert page.locator(".pay-form, #month-zip, #issue-month").count() == 0
    assert page.locator("nav.main a[aria-current=page]").inner_text() == "结算单"
    screenshot(page, "statements-esco")
