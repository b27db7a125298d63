"""Settling in bulk, with controls (issue 16), over the demo as `emc demo` builds it (hundreds of drafts),
served by the real app: the list's columns, filters and totals; bulk submit / approve with the confirmation
step, four eyes, scope and idempotence; the single action's confirmation page; the XLSX exports read back
with openpyxl; the statements page by month of issue or due, overdue marked.

The tests move only synthetic contracts' (SYN-…) settlements: the examples' states are what the demo's
invariants (tests/test_settlement_demo_invariants.py) check on the same server."""

from __future__ import annotations

import html
import io
import re
from decimal import Decimal

import httpx
import openpyxl
from conftest import LiveServer
from sqlalchemy import func, select
from sqlmodel import Session
from test_web import login

from emc import clock
from emc.audit.models import AuditEvent
from emc.contracts.models import Contract, ContractInstitution
from emc.org.models import Institution, Region
from emc.settlement.models import Settlement

ROW = re.compile(r'<tr data-number="([^"]+)" data-status="([^"]+)" data-amount="([^"]+)">')
STATUS_TOTAL = re.compile(r'<div data-status="(\w+)" data-count="(\d+)" data-amount="([^"]+)">')
ALL_TOTAL = re.compile(r'id="settlement-totals" data-count="(\d+)" data-amount="([^"]+)"')
PLAN = re.compile(r'id="bulk-plan" data-count="(\d+)" data-amount="([^"]+)" data-skipped="(\d+)"')
OUTCOME = re.compile(r'id="bulk-outcome" data-done="(\d+)" data-failed="(\d+)" data-skipped="(\d+)"')
BINHU = "320211"


Listed = tuple[list[tuple[str, str, Decimal]], dict[str, tuple[int, Decimal]], tuple[int, Decimal]]


def _listed(c: httpx.Client, query: dict[str, str]) -> Listed:
    """Every row the list shows for the filter (all its pages), the totals per status and overall."""
    rows: list[tuple[str, str, Decimal]] = []
    page = 1
    while True:
        r = c.get("/settlements", params={**query, "page": str(page)})
        assert r.status_code == 200, r.text
        found = ROW.findall(r.text)
        rows += [(n, s, Decimal(a)) for n, s, a in found]
        if page == 1:
            per_status = {s: (int(n), Decimal(a)) for s, n, a in STATUS_TOTAL.findall(r.text)}
            count, amount = ALL_TOTAL.search(r.text).groups()  # type: ignore[union-attr]
        if len(found) < 25:
            break
        page += 1
    return rows, per_status, (int(count), Decimal(amount))


def _drafted_syn_contract(server: LiveServer, *, binhu: bool, least: int = 2) -> str:
    """A synthetic contract with at least ``least`` drafts, inside Binhu or outside it."""
    in_binhu = (select(ContractInstitution.contract_id)
                .join(Institution, Institution.id == ContractInstitution.institution_id)
                .join(Region, Region.id == Institution.region_id).where(Region.path.like(f"%/{BINHU}/%")))
    with Session(server.engine) as session:
        query = (select(Contract.code).join(Settlement, Settlement.contract_id == Contract.id)
                 .where(Contract.code.startswith("SYN-"), Settlement.status == "draft",
                        Contract.id.in_(in_binhu) if binhu else Contract.id.not_in(in_binhu))
                 .group_by(Contract.code).having(func.count() >= least).order_by(Contract.code))
        codes = list(session.execute(query).scalars())
    assert codes, f"the demo has no synthetic contract {'in' if binhu else 'outside'} Binhu with {least} drafts"
    return codes[0] if binhu else codes[-1]


def _review(c: httpx.Client, token: str, action: str, data: dict[str, object]) -> httpx.Response:
    return c.post(f"/settlements/bulk/{action}/review", data={"csrf_token": token, **data})


def _bulk(c: httpx.Client, token: str, action: str, data: dict[str, object]) -> tuple[int, Decimal, int, str]:
    """Review, then confirm what the review showed: (count, amount, skipped, the review page)."""
    review = _review(c, token, action, data)
    assert review.status_code == 200, review.text
    count, amount, skipped = PLAN.search(review.text).groups()  # type: ignore[union-attr]
    return int(count), Decimal(amount), int(skipped), review.text


def _run(c: httpx.Client, token: str, action: str, data: dict[str, object], count: int,
         amount: Decimal) -> tuple[int, int, int]:
    r = c.post(f"/settlements/bulk/{action}", data={"csrf_token": token, **data, "confirm_count": str(count),
                                                   "confirm_amount": str(amount)})
    assert r.status_code == 200, r.text
    done, failed, skipped = OUTCOME.search(r.text).groups()  # type: ignore[union-attr]
    return int(done), int(failed), int(skipped)


def test_the_list_names_contract_esco_region_and_totals_equal_its_rows(settled_demo_server: LiveServer) -> None:
    c, _ = login(settled_demo_server, "manager")
    page = c.get("/settlements").text
    assert "<h1>结算审批</h1>" in page and "<h1>结算审批</h1>" not in c.get("/statements").text
    code = _drafted_syn_contract(settled_demo_server, binhu=False)
    with Session(settled_demo_server.engine) as session:
        contract = session.execute(select(Contract).where(Contract.code == code)).scalar_one()
        esco = contract.esco_id
        from emc.org.models import Esco
        esco_code = session.get(Esco, esco).code  # type: ignore[union-attr]
    filtered = c.get("/settlements", params={"contract": code}).text
    assert contract.name in html.unescape(filtered) and "期间自" in filtered
    filters = [{}, {"status": "draft"}, {"status": "paid"}, {"from": "2019-01", "to": "2019-06"},
               {"esco": esco_code}, {"region": BINHU}, {"region": "320200", "status": "issued"}, {"contract": code},
               {"contract": "SYN-", "from": "2020-01"}]
    for query in filters:
        rows, per_status, (count, amount) = _listed(c, query)
        assert count == len(rows) and amount == sum((a for _, _, a in rows), Decimal(0)), query
        for status, (n, total) in per_status.items():
            mine = [a for _, s, a in rows if s == status]
            assert (n, total) == (len(mine), sum(mine, Decimal(0))), (query, status)
        assert sum(n for n, _ in per_status.values()) == count
    drafts, _, _ = _listed(c, {"status": "draft"})
    assert drafts and all(s == "draft" for _, s, _ in drafts)
    early, _, _ = _listed(c, {"from": "2019-01", "to": "2019-06"})
    with Session(settled_demo_server.engine) as session:
        periods = dict(session.execute(select(Settlement.number, Settlement.period_start)
                                       .where(Settlement.number.in_([n for n, _, _ in early]))).all())
    assert early and all(str(p) < "2019-07-01" for p in periods.values())
    assert c.get("/settlements", params={"from": "2019-13"}).status_code in (400, 422)


def test_bulk_submit_then_a_second_manager_approves_not_the_submitter(settled_demo_server: LiveServer) -> None:
    server = settled_demo_server
    code = _drafted_syn_contract(server, binhu=False)
    m, mt = login(server, "manager")
    drafts, _, (n, amount) = _listed(m, {"contract": code, "status": "draft"})
    assert n >= 2
    select_all = {"all": "1", "contract": code, "status": "draft"}
    count, total, skipped, review = _bulk(m, mt, "submit", select_all)
    assert (count, total, skipped) == (n, amount, 0)
    assert f"将提交 {n} 份结算单审批" in review
    # the figures changed since the review (a confirmed amount that is not the set's): nothing is done
    wrong = m.post("/settlements/bulk/submit", data={"csrf_token": mt, **select_all, "confirm_count": str(n),
                                                     "confirm_amount": str(amount + 1)})
    assert wrong.status_code == 422
    assert _listed(m, {"contract": code, "status": "draft"})[2][0] == n
    assert _run(m, mt, "submit", select_all, count, total) == (n, 0, 0)
    # the same form posted again finds nothing left to do, and does nothing
    assert _run(m, mt, "submit", select_all, count, total) == (0, 0, 0)  # no draft is left to match
    numbers = [num for num, _, _ in drafts]
    assert _run(m, mt, "submit", {"number": numbers}, count, total) == (0, 0, n)  # each: already submitted
    submitted = {"contract": code, "status": "submitted"}
    assert _listed(m, submitted)[2] == (n, amount)
    # four eyes: the submitter approves none of them, each skipped with the reason
    count, _, skipped, review = _bulk(m, mt, "approve", {"number": numbers})
    assert (count, skipped) == (0, n) and review.count('data-why="four_eyes"') == n
    assert m.post("/settlements/bulk/approve", data={"csrf_token": mt, "number": numbers, "confirm_count": "0",
                                                     "confirm_amount": "0"}).status_code == 200
    assert _listed(m, submitted)[2] == (n, amount)
    m2, m2t = login(server, "manager2")
    count, total, skipped, _ = _bulk(m2, m2t, "approve", {"number": numbers})
    assert (count, total, skipped) == (n, amount, 0)
    assert _run(m2, m2t, "approve", {"number": numbers}, count, total) == (n, 0, 0)
    assert _listed(m2, {"contract": code, "status": "approved"})[2] == (n, amount)
    with Session(server.engine) as session:
        events = session.execute(select(AuditEvent.actor, AuditEvent.action).where(
            AuditEvent.object_type == "settlement", AuditEvent.object_id.in_(numbers))).all()
    assert sorted(events).count(("manager2", "settlement.approve")) == n
    assert [e for e in events if e[1] == "settlement.submit"] == [("manager", "settlement.submit")] * n
    # the submitter may issue what another approved (issuing is not approving): due dates start today
    count, total, _, review = _bulk(m, mt, "issue", {"number": numbers})
    assert (count, total) == (n, amount) and "将出具" in review
    assert _run(m, mt, "issue", {"number": numbers}, count, total) == (n, 0, 0)
    with Session(server.engine) as session:
        due = session.execute(select(Settlement.status, Settlement.due_on).where(Settlement.number.in_(numbers))).all()
    assert {s for s, _ in due} == {"issued"} and all(d is not None and d > clock.today() for _, d in due)
    # wrong status (issued, not submitted) and an unknown number: skipped, each with why
    count, _, skipped, review = _bulk(m2, m2t, "approve", {"number": [*numbers, "NO-SUCH-1"]})
    assert (count, skipped) == (0, n + 1)
    assert 'data-why="not_found"' in review and review.count('data-why="status"') == n


def test_binhu_sees_and_acts_only_in_binhu(settled_demo_server: LiveServer) -> None:
    """The district manager's list holds Binhu's settlements only; a selection naming others (a hand-made
    form) skips them as not found, and "all matching" never reaches outside the district."""
    server = settled_demo_server
    outside = _drafted_syn_contract(server, binhu=False, least=1)
    b, bt = login(server, "binhu")
    rows, per_status, _ = _listed(b, {})
    with Session(server.engine) as session:
        binhu_numbers = set(session.execute(
            select(Settlement.number).join(Contract, Contract.id == Settlement.contract_id)
            .join(ContractInstitution, ContractInstitution.contract_id == Contract.id)
            .join(Institution, Institution.id == ContractInstitution.institution_id)
            .join(Region, Region.id == Institution.region_id).where(Region.path.like(f"%/{BINHU}/%"))).scalars())
        outside_draft = session.execute(
            select(Settlement.number).join(Contract, Contract.id == Settlement.contract_id)
            .where(Contract.code == outside, Settlement.status == "draft")).scalars().first()
    assert rows and {n for n, _, _ in rows} == binhu_numbers and outside_draft not in binhu_numbers
    assert "滨湖区" in b.get("/settlements").text
    assert _listed(b, {"contract": outside})[2][0] == 0
    mine = sorted(binhu_numbers)[:3]
    count, _, skipped, review = _bulk(b, bt, "submit", {"number": [*mine, outside_draft]})
    assert (count, skipped) == (0, len(mine) + 1)
    assert f'data-number="{outside_draft}" data-why="not_found"' in review
    assert all(f'data-number="{n}" data-why="status"' in review for n in mine)
    assert _bulk(b, bt, "submit", {"all": "1", "contract": outside})[0] == 0
    assert _run(b, bt, "submit", {"number": [outside_draft]}, 0, Decimal(0)) == (0, 0, 1)
    with Session(server.engine) as session:
        status = session.execute(select(Settlement.status).where(Settlement.number == outside_draft)).scalar_one()
    assert status == "draft"


def test_esco_viewer_and_anonymous_cannot_bulk_anything(settled_demo_server: LiveServer) -> None:
    server = settled_demo_server
    code = _drafted_syn_contract(server, binhu=False, least=1)
    for user in ("esco", "viewer", "finance"):
        c, token = login(server, user)
        assert 'id="bulk-form"' in c.get("/settlements").text and 'name="number"' not in c.get("/settlements").text
        for action in ("submit", "approve", "issue"):
            assert _review(c, token, action, {"all": "1"}).status_code == 403, (user, action)
            assert c.post(f"/settlements/bulk/{action}", data={"csrf_token": token, "all": "1", "confirm_count": "1",
                                                               "confirm_amount": "0"}).status_code == 403
    anonymous = httpx.Client(base_url=server.url, timeout=20)
    assert anonymous.post("/settlements/bulk/submit/review", data={"all": "1"}).status_code in (303, 401, 403)
    m, mt = login(server, "manager")
    assert _listed(m, {"contract": code, "status": "draft"})[2][0] >= 1  # nothing moved


def test_a_single_irreversible_action_has_a_confirmation_page(settled_demo_server: LiveServer) -> None:
    server = settled_demo_server
    code = _drafted_syn_contract(server, binhu=False, least=1)
    m, mt = login(server, "manager")
    number, _, amount = _listed(m, {"contract": code, "status": "draft"})[0][0]
    assert m.post(f"/settlements/{number}/submit", data={"csrf_token": mt}).status_code == 303
    m2, m2t = login(server, "manager2")
    detail = m2.get(f"/settlements/{number}").text
    assert f'href="/settlements/{number}/confirm/approve"' in detail
    assert f'href="/settlements/{number}/confirm/reject"' in detail
    page = m2.get(f"/settlements/{number}/confirm/approve").text
    money = f"{amount:,.2f}"
    assert f"批准 {number}：应付节能服务公司净额 {money} 元将被锁定并记入台账" in page
    assert f'name="confirm_amount" value="{amount}"' in page and "此操作不可撤销" in page
    e, _ = login(server, "esco")
    assert e.get(f"/settlements/{number}/confirm/approve").status_code in (403, 404)
    assert m2.get(f"/settlements/{number}/confirm/issue").status_code == 409  # not approved: not possible now
    assert m2.get(f"/settlements/{number}/confirm/pay").status_code == 403  # a manager records no payment
    assert m2.post(f"/settlements/{number}/approve", data={"csrf_token": m2t, "confirm_amount": str(amount)}
                   ).status_code == 303
    assert m2.get(f"/api/settlements/{number}").json()["status"] == "approved"


def _sheet(data: bytes) -> list[list[object]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(r) for r in book.active.iter_rows(values_only=True)]


def test_the_settlements_xlsx_equals_the_page(settled_demo_server: LiveServer) -> None:
    c, _ = login(settled_demo_server, "manager")
    query = {"contract": "SYN-", "from": "2019-01"}
    rows, per_status, (count, amount) = _listed(c, query)
    assert len(rows) > 25  # more than a page: the file holds every row the filter matches
    r = c.get("/settlements/export.xlsx", params=query)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = _sheet(r.content)
    assert sheet[0][0] == "结算单号" and sheet[0][-1] == "应付节能服务公司净额（元）" and "custody" not in str(sheet[0])
    body, footer = sheet[1:-1], sheet[-1]
    assert [(row[0], Decimal(str(row[-1])).quantize(Decimal("0.01"))) for row in body] == [(n, a) for n, _, a in rows]
    assert all(isinstance(row[-1], (int, float)) for row in body)  # numbers, not text
    assert Decimal(str(footer[-1])).quantize(Decimal("0.01")) == amount and footer[0] == "合计"
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.active.cell(row=2, column=10).number_format.endswith("0.00")
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/settlements").text).group(1)  # type: ignore[union-attr]
    assert c.post("/lang/en", data={"csrf_token": token}).status_code in (200, 204, 303)
    english = _sheet(c.get("/settlements/export.xlsx", params=query).content)
    assert english[0][0] == "Number" and english[-1][0] == "Total" and english[1][0] == sheet[1][0]
    c.post("/lang/zh", data={"csrf_token": token})
    assert count == len(body)


def test_the_portfolio_xlsx_equals_the_page(settled_demo_server: LiveServer) -> None:
    c, _ = login(settled_demo_server, "manager")
    page = c.get("/portfolio", params={"page_size": "100"}).text
    codes = re.findall(r'<tr><td class="nowrap"><a href="/contracts/([^"]+)">', page)
    totals = re.search(r'id="portfolio-totals">(.*?)</div>\s*</div>', page, re.S).group(1)  # type: ignore[union-attr]
    shown = [Decimal(v.replace(",", "")) for v in re.findall(r"<strong>([\d,]+\.\d\d)</strong>", totals)]
    sheet = _sheet(c.get("/portfolio/export.xlsx").content)
    body, footer = sheet[1:-1], sheet[-1]
    assert sheet[0][0] == "合同编号" and footer[0] == "合计" and len(codes) > 12
    assert [row[0] for row in body] == codes
    assert [Decimal(str(v)).quantize(Decimal("0.01")) for v in footer[6:9]] == shown[:3]


def test_statements_by_issue_month_by_due_month_and_overdue(settled_demo_server: LiveServer) -> None:
    from emc.settlement.records import local_day

    f, _ = login(settled_demo_server, "finance")
    today = clock.today()
    with Session(settled_demo_server.engine) as session:
        issued = session.execute(select(Settlement).where(Settlement.status == "issued",
                                                          Settlement.issued_at.is_not(None))
                                 .order_by(Settlement.issued_at.desc())).scalars().first()
        overdue = set(session.execute(select(Settlement.number).where(
            Settlement.status == "issued", Settlement.due_on < today)).scalars())
    assert issued is not None
    month = f"{local_day(issued.issued_at):%Y-%m}"
    by_issue = f.get("/statements", params={"month": month}).text
    assert f'id="row-{issued.number}"' in by_issue and "按开具月份" in by_issue
    due = f"{issued.due_on:%Y-%m}"
    by_due = f.get("/statements", params={"by": "due", "month": due}).text
    assert f'id="row-{issued.number}"' in by_due
    if due != month:
        assert f'id="row-{issued.number}"' not in f.get("/statements", params={"by": "due", "month": month}).text
    late = f.get("/statements", params={"overdue": "1", "by": "due"}).text
    months = re.findall(r"month=(\d{4}-\d\d)&amp;status=", late) or re.findall(r"month=(\d{4}-\d\d)&status=", late)
    listed: set[str] = set()
    for m in set(months):
        text = f.get("/statements", params={"overdue": "1", "by": "due", "month": m}).text
        listed |= set(re.findall(r'<tr id="row-([^"]+)" data-status="issued" class="overdue" data-overdue="1">', text))
        assert 'data-status="paid"' not in text
    assert overdue and listed == overdue  # the demo's issued statements are past their payment days
