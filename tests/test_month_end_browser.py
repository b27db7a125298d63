"""A month end in a real browser (issue 16), each step as the demo user who does it, on SQLite and PostgreSQL.

The month is the last full month before today, on the Yixing county custody contract YX-TG-2023: its ESCO
(SGJS-IES) is the demo user ``esco``'s company (esco's other contract, WX-SMZX-2018, ended in 2023), and it
is the multi-institution contract whose statement carries the allocation table, so every step — the ESCO's
upload and countersignature, the bureau's approvals, finance's payment with the allocation on the PDF — is
on one settlement.

The server is this module's own demo (examples only, no synthetic portfolio), built as ``emc demo`` builds it
except that the electricity bill of one institution (YX-CDC-E01) for the month is withheld before the demo
settles: the month's custody period then waits for the bills (the product drafts no custody period from part
of its bills), which is where a month end starts. Then:

1. ``esco`` lands on its home, fills the bills import template with the withheld bill, previews, commits, and
   its inbox tells it the import is done (an import's result is the uploader's news only: the managers are
   told nothing, emc/notify/rules.py).
2. The operator runs the scheduler's drafting by hand (``emc settle --due``): the month's draft appears, and
   the managers' inboxes say it waits to be submitted.
3. ``manager`` filters the settlements to the month and bulk-submits them through the confirmation page
   (count and total); ``manager2`` is told to approve, bulk-approves, and the approval notices close;
   ``manager`` is told to issue and bulk-issues.
4. ``finance`` is told to pay, opens the statement from the inbox, reads the PDF's allocation table back (one
   row per paying institution, summing to the total), records the payment on its confirmation page (the
   amount shown), and the notice closes.
5. ``esco`` countersigns from its home; its notice closes.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import LiveServer, PostgresServer, _fresh_url, build_demo_db, screenshot
from sqlmodel import Session, col, select
from test_statement_allocation import ROW, D, pdftotext

from emc import clock
from emc.config import get_settings
from emc.db import make_engine
from emc.metering.models import Meter, Reading

pytestmark = pytest.mark.browser

CONTRACT, METER = "YX-TG-2023", "YX-CDC-E01"


class Month:
    def __init__(self, server: LiveServer, start: date, bills: list[list[str]]) -> None:
        self.server, self.start, self.bills = server, start, bills
        self.label = start.strftime("%Y-%m")
        self.number = f"{CONTRACT}-{start:%Y%m}"


def _withhold_bills(url: str, month: date) -> list[list[str]]:
    """Delete METER's bills from ``month`` on (the ESCO has not uploaded them yet) and return them as rows of the
    bills template (start, end inclusive, quantity, amount), local dates, exactly as stored."""
    tz = get_settings().tz
    since = datetime.combine(month, time(0), tz)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            meter = session.exec(select(Meter).where(Meter.code == METER)).one()
            rows = list(session.exec(select(Reading).where(Reading.meter_id == meter.id,
                                                           col(Reading.period_start) >= since)
                                     .order_by(col(Reading.period_start))))
            assert rows and all(r.cost is not None for r in rows), f"the demo has no {METER} bill from {month}"
            bills = [[METER, str(r.period_start.astimezone(tz).date()),
                      str(r.period_end.astimezone(tz).date() - timedelta(days=1)),
                      repr(r.source_value if r.source_value is not None else r.value), str(r.cost)] for r in rows]
            for r in rows:
                session.delete(r)
            session.commit()
    finally:
        engine.dispose()
    return bills


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def month(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
          postgres: PostgresServer | None) -> Iterator[Month]:
    from emc.demo.build import build_demo

    url = _fresh_url(request.param, tmp_path_factory.mktemp("month-end"), sqlite_template, postgres)
    build_demo_db(url, synthetic_contracts=0)  # data and users, nothing settled yet
    engine = make_engine(url)
    start = (clock.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    bills = _withhold_bills(url, start)
    for _ in build_demo(engine, synthetic_contracts=0, settle=True):  # idempotent: now baselines and settlements
        pass
    engine.dispose()
    with LiveServer(url) as server:
        yield Month(server, start, bills)


# -- what a user sees -----------------------------------------------------------------------------------------------
def log_in(page, server: LiveServer, username: str) -> str:  # type: ignore[no-untyped-def]
    """Log in from the login page as a user does (no target): the path the product lands on."""
    page.context.clear_cookies()
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"demo-{username}")
    page.click("#login-submit")
    page.wait_for_load_state()
    return page.url.removeprefix(server.url)


def bell(page) -> int:  # type: ignore[no-untyped-def]
    """The bell's unread count, as loaded by htmx after the page (empty when there is nothing unread)."""
    page.wait_for_selector("#bell-count.badge", state="attached")
    return int(page.inner_text("#bell-count") or 0)


def unread_kinds(page, server: LiveServer) -> list[str]:  # type: ignore[no-untyped-def]
    """The kinds of the unread inbox (one page: the demo's users have few), which the bell must count."""
    page.goto(f"{server.url}/notifications")
    kinds = page.eval_on_selector_all("tr.notification.unread", "els => els.map(e => e.dataset.kind)")
    assert bell(page) == len(kinds)
    return kinds


def inbox(page, server: LiveServer, kind: str, ref: str, show: str = "open"):  # type: ignore[no-untyped-def]
    """The user's inbox rows of one kind about one thing (``show``: open or all)."""
    page.goto(f"{server.url}/notifications?show={show}")
    return page.locator(f"tr.notification[data-kind={kind}]", has_text=ref)


def assert_open(page, server: LiveServer, kind: str, ref: str) -> None:  # type: ignore[no-untyped-def]
    assert inbox(page, server, kind, ref).count() == 1, f"{kind} {ref} not in the inbox"


def assert_cleared(page, server: LiveServer, kind: str, ref: str) -> None:  # type: ignore[no-untyped-def]
    assert inbox(page, server, kind, ref).count() == 0, f"{kind} {ref} still open"
    assert "已办结" in inbox(page, server, kind, ref, "all").first.inner_text()


def bulk(page, server: LiveServer, m: Month, status: str, action: str) -> tuple[int, Decimal]:  # type: ignore[no-untyped-def]
    """Filter the settlements to the month and the status, select every row, review (count and total), confirm."""
    page.goto(f"{server.url}/settlements")
    page.fill("#settlement-filters input[name=from]", m.label)
    page.fill("#settlement-filters input[name=to]", m.label)
    page.select_option("#settlement-filters select[name=status]", status)
    page.click("#settlement-filters button[type=submit]")
    page.wait_for_url(f"**/settlements?*status={status}*")
    page.wait_for_selector(f"#settlement-rows tr[data-number='{m.number}'][data-status={status}]")
    rows = page.locator("#settlement-rows tbody tr[data-number]")
    listed = {rows.nth(i).get_attribute("data-number"): Decimal(rows.nth(i).get_attribute("data-amount") or "")
              for i in range(rows.count())}
    assert {rows.nth(i).get_attribute("data-status") for i in range(rows.count())} == {status}
    page.check("#select-all")
    page.click(f"#bulk-{action}")
    page.wait_for_url(f"**/settlements/bulk/{action}/review")
    plan = page.locator("#bulk-plan")
    count, amount = int(plan.get_attribute("data-count") or 0), Decimal(plan.get_attribute("data-amount") or "")
    assert (count, amount) == (len(listed), sum(listed.values())), "the review is not what the list selected"
    assert f"{count}" in plan.inner_text() and f"{amount:,.2f}" in plan.inner_text()
    screenshot(page, f"month-end-bulk-{action}")
    page.click("#bulk-confirm")
    page.wait_for_selector("#bulk-outcome")
    assert page.get_attribute("#bulk-outcome", "data-done") == str(count)
    assert page.get_attribute("#bulk-outcome", "data-failed") == "0"
    return count, listed[m.number]


def draft_due(server: LiveServer) -> str:
    """The operator runs the scheduler's drafting job by hand, against the server's database."""
    env = {**os.environ, "EMC_DATABASE_URL": server.db_url}
    done = subprocess.run([sys.executable, "-m", "emc.cli", "settle", "--due"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- the month --------------------------------------------------------------------------------------------------------
def test_a_month_end_from_the_upload_to_the_countersignature(page, month: Month) -> None:  # type: ignore[no-untyped-def]
    server, m = month.server, month

    # before: the month waits for the ESCO's bills, and nothing of it is drafted
    assert log_in(page, server, "manager") == "/portfolio"
    page.goto(f"{server.url}/settlements")
    assert CONTRACT in page.inner_text("#data-wait")
    assert page.goto(f"{server.url}/settlements/{m.number}").status == 404  # type: ignore[union-attr]

    # 1. the ESCO uploads the month's bill through the bills template, previews and commits
    assert log_in(page, server, "esco") == "/home"
    page.click("nav.main >> text=数据导入")
    page.wait_for_url("**/imports")
    with page.expect_download() as download:
        page.click("#templates a[href='/imports/templates/bills.csv']")
    header = next(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert header == ["表号", "开始日期", "结束日期", "用量", "金额"]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *m.bills])
    upload = Path(download.value.path()).with_name(f"{METER}-{m.label}.csv")
    upload.write_text(buffer.getvalue(), encoding="utf-8")
    page.set_input_files("#upload-form input[type=file]", str(upload))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/imports/*")
    assert METER in page.inner_text("#batch-meters")
    page.click("#commit")
    page.wait_for_selector("#batch-status >> text=已导入")
    assert_open(page, server, "import_committed", upload.name)
    assert log_in(page, server, "manager") == "/portfolio"
    assert inbox(page, server, "import_committed", upload.name, "all").count() == 0  # the uploader's news only

    # 2. the operator drafts what is due: the month's draft, and the managers are told to submit it
    assert m.number in draft_due(server)
    page.goto(f"{server.url}/settlements")
    assert page.locator("#data-wait").count() == 0 or CONTRACT not in page.inner_text("#data-wait")
    assert_open(page, server, "to_submit", m.number)

    # 3. manager submits in bulk; manager2 approves in bulk; manager issues in bulk
    submitted, total = bulk(page, server, m, "draft", "submit")
    assert submitted >= 1
    assert_cleared(page, server, "to_submit", m.number)
    assert inbox(page, server, "to_approve", m.number).count() == 0  # four eyes: not the submitter
    log_in(page, server, "manager2")
    assert unread_kinds(page, server).count("to_approve") == submitted  # the bell counts them
    assert_open(page, server, "to_approve", m.number)
    approved, _ = bulk(page, server, m, "submitted", "approve")
    assert approved == submitted
    assert_cleared(page, server, "to_approve", m.number)
    after = unread_kinds(page, server)
    assert "to_approve" not in after and after.count("to_issue") == approved  # closed, and the next step opened
    log_in(page, server, "manager")
    assert_open(page, server, "to_issue", m.number)
    issued, _ = bulk(page, server, m, "approved", "issue")
    assert issued == approved
    assert_cleared(page, server, "to_issue", m.number)

    # 4. finance: told to pay, opens the statement from its inbox, reads the allocation back, pays
    assert log_in(page, server, "finance") == "/portfolio"
    assert bell(page) >= 1
    row = inbox(page, server, "to_pay", m.number)
    assert row.count() == 1 and "unread" in (row.get_attribute("class") or "")
    row.locator("button", has_text=m.number).click()
    page.wait_for_url(f"**/settlements/{m.number}")
    assert page.inner_text("#settlement-status") == "已出具"
    pdf = page.context.request.get(f"{server.url}{page.get_attribute('#pdf', 'href')}")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    allocation = ROW.findall(pdftotext(pdf.body()))
    assert len(allocation) == 30  # one row per paying institution of the county package
    assert sum(D(amount) for *_, amount in allocation) == total
    page.click("#action-pay")
    page.wait_for_url(f"**/settlements/{m.number}/confirm/pay")
    assert f"{total:,.2f}" in page.inner_text("#confirm")
    page.fill("#confirm input[name=paid_on]", str(clock.today()))
    page.fill("#confirm input[name=reference]", f"E2E-{m.number}")
    screenshot(page, "month-end-pay-confirm")
    page.click("#confirm-action")
    page.wait_for_selector("#settlement-status >> text=已支付")
    assert f"E2E-{m.number}" in page.inner_text("#payments")
    assert_cleared(page, server, "to_pay", m.number)

    # 5. the ESCO countersigns the paid statement; its notice closes and its home's count of statements awaiting
    # the countersignature drops by one (the home counts paid ones too, as the notice does)
    assert log_in(page, server, "esco") == "/home"
    waiting = awaiting(page)
    assert_open(page, server, "to_countersign", m.number)
    page.goto(f"{server.url}/settlements/{m.number}")
    page.click("#action-countersign")
    page.wait_for_selector("#settlement-status >> text=已支付")
    page.wait_for_selector("text=节能服务公司确认")
    assert_cleared(page, server, "to_countersign", m.number)
    page.goto(f"{server.url}/home")
    assert awaiting(page) == waiting - 1
    screenshot(page, "month-end-esco-home")


def awaiting(page) -> int:  # type: ignore[no-untyped-def]
    """The count the ESCO's home gives of statements awaiting its countersignature."""
    return int(page.inner_text("#countersign h2 .muted").strip("() ").replace(",", ""))
