"""Money-ledger exports over real HTTP on SQLite and PostgreSQL: the CSV and XLSX read back equal the ledger to the
fen, balances per contract and party at a date equal the entries summed, names that begin with a formula character
are neutralised, filters hold, and an ESCO exports only its own contracts' entries.

Data: the settlements of tests/test_finance_pages.py (two monthly custody contracts, one with formula-like names,
and the demo's PV finance lease, whose entries add the lessor as a third party)."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

from conftest import LiveServer
from openpyxl import load_workbook
from test_finance_pages import EQ, EQ_ESCO, EQ_INSTITUTION, EQ_NAME, OM, PV, QUARTERS, finance_data
from test_web import login

from emc import clock

OURS = (OM, EQ, PV)
FEN = Decimal("0.01")
AMOUNT = "金额 amount (+借 debit −贷 credit)"
BALANCE = "余额 balance (+借 debit −贷 credit)"
PAID_ON = "2023-01-05"  # the lease's first quarter is paid on this day (no other entry is posted then)


def _csv(body: bytes) -> list[dict[str, str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")  # Chinese Excel reads UTF-8 only with the BOM
    return list(csv.DictReader(io.StringIO(text[1:])))


def _xlsx(body: bytes, sheet: str) -> list[dict[str, object]]:
    book = load_workbook(io.BytesIO(body))
    rows = list(book[sheet].iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]  # type: ignore[arg-type]


def _amount(value: object) -> Decimal:
    """An XLSX number as read back (a float), as the exact decimal it was written from."""
    assert isinstance(value, int | float), value
    return Decimal(repr(value)).quantize(FEN)


def _ledger(server: LiveServer, on: date | None = None) -> list[tuple[str, str, str, str, str, Decimal]]:
    """Our contracts' entries straight from the table: (date, contract, settlement, account, party, amount)."""
    from sqlmodel import Session, select

    from emc.contracts.models import Contract
    from emc.settlement.models import LedgerEntry, Settlement

    with Session(server.engine) as s:
        found = s.exec(select(LedgerEntry, Settlement.number, Contract.code)
                       .join(Settlement, Settlement.id == LedgerEntry.settlement_id)
                       .join(Contract, Contract.id == LedgerEntry.contract_id)
                       .where(Contract.code.in_(OURS))).all()  # type: ignore[attr-defined]
    return [(e.posted_on.isoformat(), code, number, e.account, e.party, e.amount)
            for e, number, code in found if on is None or e.posted_on <= on]


def _pay_the_first_lease_quarter(server: LiveServer) -> str:
    """Issued and paid as it happened in January 2023 (a payment is dated between issue and today, so the
    history is written through the service with the days it happened on, as the demo writes its own)."""
    from datetime import UTC, datetime

    from sqlmodel import Session, select

    from emc.settlement import workflow
    from emc.settlement.models import Settlement

    number = finance_data(server)[PV][QUARTERS[0]]
    with Session(server.engine) as s:
        row = s.exec(select(Settlement).where(Settlement.number == number)).one()
        if row.status == "approved":
            workflow.transition(s, row, "issue", actor="manager", at=datetime(2023, 1, 2, 2, tzinfo=UTC))
        if row.status == "issued":
            workflow.transition(s, row, "pay", actor="finance", paid_on=date.fromisoformat(PAID_ON),
                               reference="CCB-20230105", at=datetime(2023, 1, 5, 2, tzinfo=UTC))
        s.commit()
    return number


def test_csv_and_xlsx_read_back_equal_the_ledger_to_the_fen(demo_server: LiveServer) -> None:
    _pay_the_first_lease_quarter(demo_server)
    f, _ = login(demo_server, "finance")
    expected = Counter(_ledger(demo_server))
    assert expected and {p for *_, p, _ in expected} == {"institution", "esco", "lessor"}
    r = f.get("/ledger/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = [row for row in _csv(r.content) if row["合同 contract"] in OURS]
    got = Counter((row["记账日期 date"], row["合同 contract"], row["结算单号 settlement"],
                   row["科目 account"].split()[-1], row["方 party"].split()[-1].lower(),
                   Decimal(row[AMOUNT])) for row in rows)
    assert got == expected
    for row in rows:  # exact text to the fen; debit and credit are the signed amount's two sides
        signed = row[AMOUNT]
        assert signed == format(Decimal(signed).quantize(FEN), "f")
        debit, credit = (Decimal(row[k] or "0") for k in ("借方 debit", "贷方 credit"))
        assert debit - credit == Decimal(signed) and (debit == 0 or credit == 0)
    by_settlement: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        by_settlement[row["结算单号 settlement"]] += Decimal(row[AMOUNT])
    assert set(by_settlement.values()) == {Decimal("0.00")}  # double entry: each settlement balances
    # the XLSX: the same entries as numbers, with a two-decimal money format
    x = f.get("/ledger/export.xlsx")
    assert x.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = [row for row in _xlsx(x.content, "分录 entries") if row["合同 contract"] in OURS]
    assert Counter((row["记账日期 date"].date().isoformat(), row["合同 contract"], row["结算单号 settlement"],  # type: ignore[union-attr]
                    str(row["科目 account"]).split()[-1], str(row["方 party"]).split()[-1].lower(),
                    _amount(row[AMOUNT])) for row in sheet) == expected
    book = load_workbook(io.BytesIO(x.content))
    assert book["分录 entries"]["J2"].number_format == "#,##0.00;-#,##0.00"


def test_balances_per_contract_and_party_at_a_date(demo_server: LiveServer) -> None:
    number = _pay_the_first_lease_quarter(demo_server)
    f, _ = login(demo_server, "finance")
    for on in (date(2023, 1, 4), date(2023, 1, 5), clock.today()):
        want: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for _, code, _, _, party, amount in _ledger(demo_server, on):
            want[(code, party)] += amount
        got = {(row["合同 contract"], row["方 party"].split()[-1].lower()): Decimal(row[BALANCE])
               for row in _csv(f.get("/ledger/balances.csv", params={"to": on.isoformat()}).content)
               if row["合同 contract"] in OURS}
        assert got == dict(want), on
        assert all(row["截至 as of"] == on.isoformat() for row in _csv(
            f.get("/ledger/balances.csv", params={"to": on.isoformat(), "contract": PV}).content))
    # the XLSX carries the balances at its `to` date beside the entries
    sheet = _xlsx(f.get("/ledger/export.xlsx", params={"contract": PV, "to": PAID_ON}).content, "余额 balances")
    paid = {str(row["方 party"]).split()[-1].lower(): _amount(row[BALANCE]) for row in sheet}
    want_paid: dict[str, Decimal] = defaultdict(Decimal)
    for _, code, _, _, party, amount in _ledger(demo_server, date.fromisoformat(PAID_ON)):
        if code == PV:
            want_paid[party] += amount
    assert paid == dict(want_paid)
    # the lease quarter's payment, and nothing else, was posted on its day
    day = _csv(f.get("/ledger/export.csv", params={"from": PAID_ON, "to": PAID_ON}).content)
    assert day and {row["结算单号 settlement"] for row in day} == {number}


def test_filters_party_and_contract_and_refusals(demo_server: LiveServer) -> None:
    finance_data(demo_server)
    f, _ = login(demo_server, "finance")
    lessor = _csv(f.get("/ledger/export.csv", params={"contract": PV, "party": "lessor"}).content)
    assert lessor and {row["名称 party name"] for row in lessor} == {"江苏锡常融资租赁有限公司"}
    assert {row["科目 account"] for row in lessor} == {"结算应收 settlement_receivable"}
    assert {row["方 party"] for row in lessor} == {"出租人 lessor"}
    want = sorted(a for _, code, _, _, party, a in _ledger(demo_server) if code == PV and party == "lessor")
    assert sorted(Decimal(row["贷方 credit"] or "0") - Decimal(row["借方 debit"] or "0") for row in lessor) == \
        sorted(-a for a in want)
    assert all(row["合同 contract"] == PV for row in lessor)
    for params, word in (({"party": "bank"}, "party"), ({"from": "2023-02-30"}, "YYYY-MM-DD"),
                         ({"from": "2023-02-01", "to": "2023-01-01"}, "after")):
        bad = f.get("/ledger/export.csv", params=params)
        assert bad.status_code == 422 and word in bad.text, (params, bad.text)
    assert f.get("/ledger/export.pdf").status_code == 404


def test_names_that_look_like_formulas_are_neutralised(demo_server: LiveServer) -> None:
    finance_data(demo_server)
    f, _ = login(demo_server, "finance")
    rows = _csv(f.get("/ledger/export.csv", params={"contract": EQ}).content)
    assert rows and {row["合同名称 contract name"] for row in rows} == {"'" + EQ_NAME}
    names = {row["方 party"].split()[-1].lower(): row["名称 party name"] for row in rows}
    assert names == {"institution": "'" + EQ_INSTITUTION, "esco": "'" + EQ_ESCO}
    assert all(not v.startswith(("=", "+", "@")) for row in rows for v in row.values())
    for sheet in ("分录 entries", "余额 balances"):
        cells = _xlsx(f.get("/ledger/export.xlsx", params={"contract": EQ}).content, sheet)
        assert cells and {row["合同名称 contract name"] for row in cells} == {"'" + EQ_NAME}
        assert {row["名称 party name"] for row in cells} == {"'" + EQ_INSTITUTION, "'" + EQ_ESCO}
        texts = [v for row in cells for v in row.values() if isinstance(v, str)]
        assert not [v for v in texts if v.startswith(("=", "+", "-", "@"))]
    balances = _csv(f.get("/ledger/balances.csv", params={"contract": EQ}).content)
    assert {row["名称 party name"] for row in balances} == {"'" + EQ_INSTITUTION, "'" + EQ_ESCO}


def test_an_esco_exports_only_its_own_contracts(demo_server: LiveServer) -> None:
    finance_data(demo_server)
    for user, theirs in (("jygf", {OM, PV}), ("eqesco", {EQ}), ("esco", set())):
        c, _ = login(demo_server, user)
        entries = {row["合同 contract"] for row in _csv(c.get("/ledger/export.csv").content)}
        assert entries & set(OURS) == theirs, user
        balances = {row["合同 contract"] for row in _csv(c.get("/ledger/balances.csv").content)}
        assert balances & set(OURS) == theirs, user
        book = c.get("/ledger/export.xlsx").content
        assert {row["合同 contract"] for row in _xlsx(book, "分录 entries")} & set(OURS) == theirs
        # another ESCO's contract named in the filter gives nothing, not an error that would reveal it
        other = (set(OURS) - theirs).pop()
        assert c.get("/ledger/export.csv", params={"contract": other}).content.decode("utf-8").count("\n") == 1
    assert {row["合同 contract"] for row in _csv(login(demo_server, "jygf")[0].get("/ledger/export.csv").content)} \
        == {OM, PV}  # JS-JYGF holds exactly these two


def test_exact_text_for_amounts_beyond_a_float() -> None:
    """No database: amounts a float cannot hold keep every digit in the CSV; signed numbers are not quoted
    (they are ours), text is."""
    from emc.settlement.ledger_export import EntryRow, entries_csv

    big = Decimal("1234567890123456.78")  # 18 significant digits: a float would round it
    assert Decimal(float(big)) != big
    rows = [EntryRow(date(2025, 3, 31), "=C", "-name", "S-1", "settlement_payable", "institution", "@inst", -big,
                     "+memo"),
            EntryRow(date(2025, 3, 31), "=C", "-name", "S-1", "settlement_receivable", "esco", "ESCO", big, "x")]
    text = entries_csv(rows).decode("utf-8")[1:]
    first, second = list(csv.reader(io.StringIO(text)))[1:]
    assert first[1:4] == ["'=C", "'-name", "S-1"] and first[6] == "'@inst" and first[10] == "'+memo"
    assert first[7:10] == ["", "1234567890123456.78", "-1234567890123456.78"]
    assert second[7:10] == ["1234567890123456.78", "", "1234567890123456.78"]
