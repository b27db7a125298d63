"""The ESCO's home and its import work, over HTTP on the demo (SQLite and PostgreSQL).

The home: receivables by state (each linking to its list), statements awaiting the ESCO's countersignature,
data gaps per meter, recent imports — only its own contracts (esco against esco2, binhu, anonymous), in a number
of queries that does not grow with meters. Imports: the history holds the committed batches of its own meters
whoever uploaded them; the same file again names its batch (page) or answers 409 (API); previews are
discarded; the reject file is the uploaded rows plus a finding, and uploads again once fixed; templates parse.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import LiveServer, screenshot
from sqlalchemy import delete, event, func
from sqlmodel import Session, select
from test_web import login

from emc.audit.models import AuditEvent
from emc.contracts.models import Contract, ContractMeter
from emc.metering import totals
from emc.metering.models import ImportBatch, Meter, MeterMonthTotal, Reading
from emc.org.models import User
from emc.settlement.models import Settlement

GAS_BILLS = Path(__file__).parents[1] / "baselines" / "WX-SMZX-2018" / "gas_bills.csv"
WUXI, HOSPITAL = "WX-SMZX-2018", "CZ-ZLRMYY-HVAC-2024"


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def api(c: httpx.Client, token: str) -> httpx.Client:
    c.headers["X-CSRF-Token"] = token
    return c


# -- the home ----------------------------------------------------------------------------------------------
def _settlements(server: LiveServer) -> list[int]:
    """Settlements of each ESCO in every state, with amounts no other test uses (removed afterwards)."""
    today = datetime.now(UTC)
    rows = []
    with Session(server.engine) as s:
        ids = {code: s.exec(select(Contract.id).where(Contract.code == code)).one() for code in (WUXI, HOSPITAL)}
        plan = [(WUXI, "approved", "1111.11", None, None), (WUXI, "issued", "2222.22", 10, None),
                (WUXI, "issued", "3333.33", -5, None), (WUXI, "paid", "4444.44", -40, today),
                (HOSPITAL, "issued", "9876.54", -5, None), (HOSPITAL, "approved", "8765.43", None, None)]
        for i, (code, status, amount, due_in, signed) in enumerate(plan):
            row = Settlement(number=f"H3-{code}-{i}", contract_id=ids[code], period_start=date(2016, 1 + i, 1),
                             period_end=date(2016, 2 + i, 1), contract_year=1, status=status,
                             net_to_esco=Decimal(amount), to_esco=Decimal(amount), created_by="h3",
                             issued_at=today - timedelta(days=20) if status != "approved" else None,
                             due_on=(today + timedelta(days=due_in)).date() if due_in is not None else None,
                             countersigned_at=signed)
            s.add(row)
            s.flush()
            rows.append(row.id)
        s.commit()
    return rows


def _remove(server: LiveServer, ids: list[int]) -> None:
    with Session(server.engine) as s:
        s.execute(delete(Settlement).where(Settlement.id.in_(ids)))  # type: ignore[attr-defined]
        s.commit()


def test_the_esco_lands_on_its_home_with_only_its_own_money_statements_and_gaps(demo_server: LiveServer) -> None:
    ids = _settlements(demo_server)
    try:
        c, _ = login(demo_server, "esco")
        assert c.get("/").headers["location"] == "/home"
        page = c.get("/home")
        assert page.status_code == 200
        with Session(demo_server.engine) as s:  # what the database holds for the ESCO's contracts, by state
            esco_id = s.exec(select(User.esco_id).where(User.username == "esco")).one()
            rows = s.exec(select(Settlement).join(Contract, Contract.id == Settlement.contract_id)
                          .where(Contract.esco_id == esco_id)).all()
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        expected = {state: [r.net_to_esco for r in rows if r.status == state]
                    for state in ("approved", "issued", "paid")}
        expected["overdue"] = [r.net_to_esco for r in rows if r.status == "issued" and r.due_on and r.due_on < today]
        assert Decimal("3333.33") in expected["overdue"] and Decimal("2222.22") not in expected["overdue"]
        receivables = page.text.split('id="receivables"')[1].split("</section>")[0]
        for state, amounts in expected.items():
            card = text_of(receivables.split(f'id="recv-{state}"')[1].split("</a>")[0])
            assert f"{sum(amounts, Decimal(0)):,.2f}" in card and f"{len(amounts)} 张" in card, (state, card)
        assert 'href="/settlements?status=approved"' in receivables and "9,876.54" not in page.text
        waiting = text_of(page.text.split('id="countersign"')[1].split("</div>")[0])
        assert f"H3-{WUXI}-1" in waiting and f"H3-{WUXI}-2" in waiting and f"H3-{WUXI}-3" not in waiting
        assert "2016-02-01 – 2016-02-29" in waiting  # a period's last day, never its exclusive end
        gaps = text_of(page.text.split('id="data-gaps"')[1])
        assert "WX-SMZX-E11" in gaps and "CZ-ZLRMYY" not in page.text and "H3-CZ" not in page.text
        other, _ = login(demo_server, "esco2")
        theirs = other.get("/home").text
        assert "9,876.54" in theirs and "CZ-ZLRMYY-E01" in theirs and "WX-SMZX" not in theirs
        assert "3,333.33" not in theirs and "1,111.11" not in theirs
        binhu, _ = login(demo_server, "binhu")
        assert binhu.get("/home").status_code == 403 and binhu.get("/").headers["location"] == "/portfolio"
        anonymous = httpx.Client(base_url=demo_server.url, follow_redirects=False)
        assert anonymous.get("/home").headers["location"].startswith("/login")
    finally:
        _remove(demo_server, ids)


def test_the_home_counts_missing_days_per_meter(demo_server: LiveServer) -> None:
    """A meter of the ESCO's with readings on only 3 of the last 90 days misses 87; one without any, 90."""
    from emc import clock

    with Session(demo_server.engine) as s:
        contract = s.exec(select(Contract).where(Contract.code == HOSPITAL)).one()
        inst = s.exec(select(Meter.institution_id).where(Meter.code == "CZ-ZLRMYY-E01")).one()
        sparse, empty = Meter(code="H3-SPARSE", name="h3 sparse", institution_id=inst, utility="electricity",
                              unit="kWh"), Meter(code="H3-EMPTY", name="h3 empty", institution_id=inst,
                                                 utility="electricity", unit="kWh")
        s.add_all([sparse, empty])
        s.flush()
        s.add_all([ContractMeter(contract_id=contract.id, meter_id=m.id) for m in (sparse, empty)])
        yesterday = datetime.combine(clock.today() - timedelta(days=1), datetime.min.time(), UTC) - timedelta(hours=8)
        for back in (0, 10, 20):  # three local days, 24 hours each
            for h in range(24):
                start = yesterday - timedelta(days=back) + timedelta(hours=h)
                s.add(Reading(meter_id=sparse.id, period_start=start, period_end=start + timedelta(hours=1), value=1))
        s.flush()
        totals.refresh(s, [sparse.id])  # the monthly totals, as every writer of readings keeps them
        s.commit()
        made = [sparse.id, empty.id]
    try:
        c, _ = login(demo_server, "esco2")
        gaps = text_of(c.get("/home").text.split('id="data-gaps"')[1])
        assert re.search(r"H3-EMPTY h3 empty .*? 尚无数据 90 ", gaps), gaps[:600]
        last = (clock.today() - timedelta(days=1)).isoformat()
        assert re.search(rf"H3-SPARSE h3 sparse .*? {last} 87 ", gaps), gaps[:600]
        assert gaps.index("H3-EMPTY") < gaps.index("H3-SPARSE")  # most missing first
    finally:
        _drop_meters(demo_server, made)


def _drop_meters(server: LiveServer, ids: list[int]) -> None:
    with Session(server.engine) as s:
        s.execute(delete(Reading).where(Reading.meter_id.in_(ids)))  # type: ignore[attr-defined]
        s.execute(delete(MeterMonthTotal).where(MeterMonthTotal.meter_id.in_(ids)))  # type: ignore[attr-defined]
        s.execute(delete(ContractMeter).where(ContractMeter.meter_id.in_(ids)))  # type: ignore[attr-defined]
        s.execute(delete(Meter).where(Meter.id.in_(ids)))  # type: ignore[attr-defined]
        s.commit()


def _queries(server: LiveServer, c: httpx.Client, path: str) -> int:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    assert c.get(path).status_code == 200
    event.listen(server.engine, "before_cursor_execute", count)
    try:
        assert c.get(path).status_code == 200
    finally:
        event.remove(server.engine, "before_cursor_execute", count)
    return len(statements)


def test_the_home_issues_no_more_queries_for_more_meters(demo_server: LiveServer) -> None:
    c, _ = login(demo_server, "esco2")
    before = _queries(demo_server, c, "/home")
    with Session(demo_server.engine) as s:
        contract = s.exec(select(Contract).where(Contract.code == HOSPITAL)).one()
        inst = s.exec(select(Meter.institution_id).where(Meter.code == "CZ-ZLRMYY-E01")).one()
        meters = [Meter(code=f"H3-QC-{i:02d}", name="h3", institution_id=inst, utility="electricity", unit="kWh")
                  for i in range(25)]
        s.add_all(meters)
        s.flush()
        s.add_all([ContractMeter(contract_id=contract.id, meter_id=m.id) for m in meters])
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=30)
        s.add_all([Reading(meter_id=m.id, period_start=start + timedelta(hours=h),
                           period_end=start + timedelta(hours=h + 1), value=2) for m in meters for h in range(48)])
        s.commit()
        made = [m.id for m in meters]
    try:
        after = _queries(demo_server, c, "/home")
        assert "H3-QC-24" in c.get("/home").text
        assert after <= before, f"/home: {before} queries with 4 meters, {after} with 29"
    finally:
        _drop_meters(demo_server, made)


# -- import history and the same file again --------------------------------------------------------------------
def test_the_escos_history_holds_its_contracts_batches_whoever_uploaded_them(demo_server: LiveServer) -> None:
    c, token = login(demo_server, "esco")
    with Session(demo_server.engine) as s:
        demo_batches = {b.file_name: b.id for b in s.exec(select(ImportBatch).where(ImportBatch.uploaded_by == "demo"))}
    mine = {b["file_name"] for b in c.get("/api/imports", params={"page": 1}).json()}
    every = set()
    for page in range(1, 5):
        every |= {b["file_name"] for b in c.get("/api/imports", params={"page": page}).json()}
    assert "WX-SMZX-2018/gas_bills.csv" in every and mine
    assert not any(name.startswith("CZ-") for name in every)  # the hospital's batches are esco2's
    assert not any("weather" in name for name in every)  # weather batches are the bureau's
    hospital = demo_batches["CZ-ZLRMYY-HVAC-2024/weather.csv"]
    assert c.get(f"/imports/{hospital}").status_code == 404
    # a bureau preview of the ESCO's meter (not committed) stays the bureau's
    m, m_token = login(demo_server, "manager")
    rows = "".join(f"WX-SMZX-E11,2016-03-01 {h:02d}:00,{h}\n" for h in range(24))
    preview = api(m, m_token).post("/api/imports", files={"file": ("bureau.csv", ("表号,时间,用量\n" + rows).encode())})
    assert preview.status_code == 201 and preview.json()["status"] == "previewed"
    assert c.get(f"/api/imports/{preview.json()['id']}").status_code == 404


def test_the_same_file_again_names_its_batch_on_the_page_and_409_in_the_api(demo_server: LiveServer) -> None:
    with Session(demo_server.engine) as s:
        batch = s.exec(select(ImportBatch).where(ImportBatch.file_name == "WX-SMZX-2018/gas_bills.csv")).one()
        day = batch.committed_at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    c, token = login(demo_server, "esco")
    r = c.post("/imports", files={"file": ("gas.csv", GAS_BILLS.read_bytes())}, data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/imports/{batch.id}?again=1"
    notice = text_of(c.get(r.headers["location"]).text.split('id="already-imported"')[1].split("</p>")[0])
    assert f"已于 {day} 导入（批次 {batch.id}）" in notice
    again = api(c, token).post("/api/imports", files={"file": ("gas.csv", GAS_BILLS.read_bytes())})
    assert again.status_code == 409
    assert (again.json()["id"], again.json()["already_imported"]) == (batch.id, True)
    assert f"batch {batch.id}" in again.json()["detail"]
    # another ESCO's upload of the same bytes learns nothing of the batch: a preview of its own, all unknown
    other, other_token = login(demo_server, "esco2")
    theirs = api(other, other_token).post("/api/imports", files={"file": ("gas.csv", GAS_BILLS.read_bytes())})
    assert theirs.status_code == 201 and theirs.json()["id"] != batch.id
    assert set(theirs.json()["counts"]) == {"unknown_meter"}


# -- discard, rejects, templates ----------------------------------------------------------------------------------
def test_a_failed_preview_is_discarded_writing_nothing_and_audited(demo_server: LiveServer) -> None:
    c, token = login(demo_server, "esco")
    rows = "表号,时间,用量\nWX-SMZX-E11,2016-04-01 00:00,5\nWX-SMZX-E11,2016-04-01 01:00,oops\n"
    preview = api(c, token).post("/api/imports", files={"file": ("bad.csv", rows.encode())}).json()
    assert preview["status"] == "previewed" and preview["errors"] == 1
    page = c.get(f"/imports/{preview['id']}").text
    assert 'id="discard"' in page
    r = c.post(f"/imports/{preview['id']}/discard", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/imports"
    assert c.get(f"/api/imports/{preview['id']}").json()["status"] == "discarded"
    assert "已放弃" in c.get("/imports").text and 'id="discard"' not in c.get(f"/imports/{preview['id']}").text
    assert c.post(f"/api/imports/{preview['id']}/discard").status_code == 409  # once only
    assert c.post(f"/api/imports/{preview['id']}/commit").status_code == 409  # and never committed after
    with Session(demo_server.engine) as s:
        assert s.exec(select(func.count()).select_from(Reading).where(Reading.batch_id == preview["id"])).one() == 0
    with Session(demo_server.engine) as s:
        event_row = s.exec(select(AuditEvent).where(AuditEvent.action == "import.discard",
                                                    AuditEvent.object_id == str(preview["id"]))).one()
        assert event_row.actor == "esco" and event_row.before == {"status": "previewed"}
    esco2, t2 = login(demo_server, "esco2")
    assert api(esco2, t2).post(f"/api/imports/{preview['id']}/discard").status_code == 404


def test_the_reject_file_is_the_uploaded_rows_and_uploads_again_once_fixed(demo_server: LiveServer) -> None:
    c, token = login(demo_server, "esco")
    good = [f"WX-SMZX-E11,2016-05-02 {h:02d}:00,{h + 1}" for h in range(4)]
    bad = ["WX-SMZX-E11,2016-05-02 04:00,abc", "CZ-ZLRMYY-E01,2016-05-02 05:00,3"]
    upload = ("表号,时间,用量(kWh)\n" + "\n".join(good + bad) + "\n").encode("gbk")
    batch = api(c, token).post("/api/imports", files={"file": ("mixed.csv", upload)}).json()
    assert batch["errors"] == 2
    rejects = c.get(f"/imports/{batch['id']}/rejects.csv").content
    assert rejects.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(rejects.decode("utf-8-sig"))))
    assert rows[0] == ["表号", "时间", "用量(kWh)", "检查发现"]
    assert [r[:3] for r in rows[1:]] == [b.split(",") for b in bad]
    assert rows[1][3].startswith("不是数字") and rows[2][3].startswith("未知的计量表编号")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(c.get(f"/imports/{batch['id']}/rejects.xlsx").content)).active
    assert [cell.value for cell in sheet[2]][:3] == bad[0].split(",")
    # fix the cells as the ESCO would (and drop the row that is not its meter), then upload the file again
    fixed = [rows[0], [*rows[1][:2], "7", ""]]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(fixed)
    again = api(c, token).post("/api/imports", files={"file": ("fixed.csv", ("\ufeff" + buffer.getvalue()).encode())})
    assert again.status_code == 201 and again.json()["errors"] == 0 and again.json()["new"] == 1


LAYOUT_ROWS = {  # a template's header row → its filled rows, as an ESCO would fill them
    "long-interval": lambda h: [["WX-SMZX-E11", f"2015-06-01 {i:02d}:00", str(i + 1)] for i in range(6)],
    "long-register": lambda h: [["WX-SMZX-E01", f"2015-06-01 {i:02d}:00", str(1000 + 10 * i)] for i in range(6)],
    "wide-interval": lambda h: [[f"2015-06-01 {i:02d}:00", *[str(i + 1)] * (len(h) - 1)] for i in range(6)],
    "wide-register": lambda h: [[f"2015-06-01 {i:02d}:00", *[str(500 + 5 * i)] * (len(h) - 1)] for i in range(6)],
    "bills": lambda h: [["WX-SMZX-G01", "2015-04-01", "2015-04-30", "1200", "4140.00"],
                        ["WX-SMZX-G01", "2015-05-01", "2015-05-31", "1100", "3795.00"]],
}


def test_every_template_filled_in_previews_clean(demo_server: LiveServer) -> None:
    from openpyxl import load_workbook

    c, token = login(demo_server, "esco")
    assert all(f'href="/imports/templates/{layout}.csv"' in c.get("/imports").text for layout in LAYOUT_ROWS)
    for layout, fill in LAYOUT_ROWS.items():
        for fmt in ("csv", "xlsx"):
            r = c.get(f"/imports/templates/{layout}.{fmt}")
            assert r.status_code == 200, (layout, fmt)
            if fmt == "csv":
                assert r.content.startswith("\ufeff".encode())
                header = next(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
                buffer = io.StringIO()
                csv.writer(buffer).writerows([header, *fill(header)])
                body = ("\ufeff" + buffer.getvalue()).encode()
            else:
                book = load_workbook(io.BytesIO(r.content))
                sheet = book.active
                header = [cell.value for cell in sheet[1]]
                for row in fill(header):
                    sheet.append(row)
                out = io.BytesIO()
                book.save(out)
                body = out.getvalue()
            if layout.startswith("wide"):
                assert len(header) > 1 and all(code.startswith(("WX-", "YX-")) for code in header[1:])
            batch = api(c, token).post("/api/imports", files={"file": (f"t-{layout}.{fmt}", body)}).json()
            assert batch["errors"] == 0 and batch["rows"] == len(fill(header)), (layout, fmt, batch["findings"][:3])
            if layout == "bills":  # a bill to 2015-05-31 shows that day, not the stored end 2015-06-01 00:00
                page = text_of(c.get(f"/imports/{batch['id']}").text.split('id="batch-meters"')[1])
                assert "2015-04-01 2015-05-31" in page and "2015-06-01" not in page
            api(c, token).post(f"/api/imports/{batch['id']}/discard")
    assert c.get("/imports/templates/nothing.csv").status_code == 404
    viewer, _ = login(demo_server, "viewer")
    assert viewer.get("/imports/templates/long-interval.csv").status_code == 403


# -- the browser: the home on a phone and a desktop --------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}, {"width": 1440, "height": 900}])
def test_the_home_fits_a_phone_and_a_desktop(browser, sqlite_demo_server: LiveServer,  # type: ignore[no-untyped-def]
                                             viewport: dict[str, int]) -> None:
    context = browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(f"{sqlite_demo_server.url}/login")  # signing in lands on the home
        page.fill("input[name=username]", "esco")
        page.fill("input[name=password]", "demo-esco")
        page.click("#login-submit")
        page.wait_for_url(f"{sqlite_demo_server.url}/home")
        assert page.locator("h1").inner_text() == "首页"
        assert page.locator("#receivables .totals a").count() == 4
        assert page.locator("#data-gaps tbody tr").count() > 0 and page.locator("#recent-imports tbody tr").count() > 0
        # nothing reaches past the right edge: wide tables scroll inside their own box
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        boxes = page.eval_on_selector_all("#receivables .totals a",
                                          "els => els.map(e => e.getBoundingClientRect().top)")
        assert len(set(round(t) for t in boxes)) == (2 if viewport["width"] < 600 else 1)  # 2×2 on a phone
        screenshot(page, f"esco-home-{viewport['width']}")
        page.click("#recv-paid")
        page.wait_for_url(re.compile(r".*/settlements\?status=paid$"))
    finally:
        context.close()


def test_the_gaps_equal_a_day_by_day_fold_of_every_reading(demo_server: LiveServer) -> None:
    """The home's counts (one-day readings counted by the database, bills folded day by day, the last day from
    the monthly totals) equal the plain fold over every reading of every meter: bills, hourly and daily
    meters of the whole demo, as the installation, and as each ESCO."""
    from emc import clock
    from emc.metering import gaps as gaps_
    from emc.org.scope import Scope

    today, zone = clock.today(), ZoneInfo("Asia/Shanghai")
    first = today - timedelta(days=gaps_.WINDOW_DAYS)
    with Session(demo_server.engine) as s:
        scopes = [Scope.everything()] + [Scope.of(s, s.exec(select(User).where(User.username == name)).one())
                                         for name in ("esco", "esco2")]
        for scope in scopes:
            got = {g.code: (g.last_day, g.missing_days) for g in gaps_.data_gaps(s, scope, today)}
            meters = {m.id: m.code for m in s.exec(select(Meter).where(scope.meters()))}
            assert set(got) == set(meters.values()) and meters
            days: dict[int, set[date]] = {m: set() for m in meters}
            last: dict[int, date] = {}
            for meter_id, start, end in s.execute(select(Reading.meter_id, Reading.period_start, Reading.period_end)
                                                  .where(Reading.meter_id.in_(list(meters)))).all():  # type: ignore[attr-defined]
                a = start.astimezone(zone).date()
                b = (end - timedelta(microseconds=1)).astimezone(zone).date()
                last[meter_id] = max(last.get(meter_id, b), b)
                day = max(a, first)
                while day <= min(b, today - timedelta(days=1)):
                    days[meter_id].add(day)
                    day += timedelta(days=1)
            expected = {code: (last.get(m), gaps_.WINDOW_DAYS - len(days[m])) for m, code in meters.items()}
            assert got == expected
