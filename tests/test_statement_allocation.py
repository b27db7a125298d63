"""The county custody statement (YX-TG-2023, 30 paying institutions) as finance receives it (issue 16): one
signature block per party, an allocation table with one row per paying institution summing exactly to the
total, the same numbers on the page and in the spreadsheet. A single-institution statement is unchanged (no
allocation table: its one institution pays the whole, which only the allocation export lists). Over the real
app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from decimal import Decimal

import httpx
import pytest
from conftest import LiveServer
from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import Session
from test_web import client, login

from emc.contracts.models import Contract, ContractInstitution
from emc.org.models import Institution
from emc.settlement.models import Settlement

COUNTY, SINGLE = "YX-TG-2023", "WX-SMZX-2018"
ROW = re.compile(r"^\s*(\d+)\s+(YX-[A-Z0-9-]+)\s+(\S.*?)\s{2,}([\d,]+\.\d) kWh\s+([\d.]+)%\s+([\d,]+\.\d\d)\s*$",
                 re.MULTILINE)
PAGE_ROW = re.compile(r'<tr data-code="([^"]+)"><td>\d+</td><td class="nowrap">[^<]*</td><td>([^<]*)</td>'
                      r'<td class="num nowrap">([^<]*)</td><td class="num">([^<]*)</td><td class="num">([^<]*)</td>')


def D(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace("¥", "").strip())


def pdftotext(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout \
        .decode("utf-8")


def pages(data: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, check=True).stdout.decode()
    return int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def world(settled_demo_server: LiveServer) -> dict[str, object]:
    """The first approved period statement of the county contract and of a one-institution contract, and the
    county contract's institution codes."""
    with Session(settled_demo_server.engine) as session:
        def first(code: str) -> Settlement:
            return session.execute(select(Settlement).join(Contract, Contract.id == Settlement.contract_id).where(
                Contract.code == code, Settlement.kind == "period", Settlement.inputs_hash != "")
                .order_by(Settlement.period_start)).scalars().first()  # type: ignore[return-value]
        county, single = first(COUNTY), first(SINGLE)
        codes = list(session.execute(select(Institution.code).join(
            ContractInstitution, ContractInstitution.institution_id == Institution.id).join(
            Contract, Contract.id == ContractInstitution.contract_id).where(Contract.code == COUNTY)).scalars())
        return {"server": settled_demo_server, "county": county.number, "total": county.net_to_esco,
                "single": single.number, "single_total": single.net_to_esco, "codes": sorted(codes)}


def test_the_county_statement_has_one_block_per_party_and_rows_for_every_payer(world: dict) -> None:
    f, _ = login(world["server"], "finance")
    r = f.get(f"/settlements/{world['county']}/statement.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdftotext(r.content)
    # one signature block per party: the bureau for the 30 paying institutions, and the ESCO
    assert text.count("授权代表签字") == 2
    assert "甲方（主管部门，代表各用能单位）" in text and "宜兴市机关事务管理局" in text
    assert "乙方（节能服务公司）" in text and "甲方（用能单位）" not in text
    # the allocation: one row per paying institution, in code order, amounts summing exactly to the total
    rows = ROW.findall(text)
    assert len(world["codes"]) == 30
    assert [code for _, code, *_ in rows] == world["codes"]
    assert [int(n) for n, *_ in rows] == list(range(1, 31))
    total = world["total"]
    assert sum(D(amount) for *_, amount in rows) == total
    assert f"¥{total:,.2f}" in text.split("费用分摊")[1]  # the table's total row
    # each part is its basis's share of the whole basis, to within the fen the split hands out
    whole = sum(D(basis) for *_, basis, _, _ in rows)
    for *_, basis, share, amount in rows:
        assert abs(D(amount) - total * D(basis) / whole) < Decimal("0.01")
        assert abs(D(share) - D(basis) / whole * 100) <= Decimal("0.005")
    # paged sensibly: what ran to 6 pages with 30 signature blocks is now at most 3
    assert pages(r.content) <= 3


def test_the_page_and_the_spreadsheets_show_the_same_numbers_as_the_pdf(world: dict) -> None:
    f, _ = login(world["server"], "finance")
    number = world["county"]
    pdf_rows = {code: (D(basis), D(share), D(amount)) for _, code, _, basis, share, amount in
                ROW.findall(pdftotext(f.get(f"/settlements/{number}/statement.pdf").content))}
    page = f.get(f"/settlements/{number}")
    assert page.status_code == 200 and 'id="allocation"' in page.text and "费用分摊" in page.text
    page_rows = {code: (D(basis.replace("kWh", "")), D(share.rstrip("%")), D(amount))
                 for code, _, basis, share, amount in PAGE_ROW.findall(page.text)}
    assert page_rows == pdf_rows
    assert re.search(r'id="allocation-total"><strong>([^<]+)<', page.text).group(1) == f"{world['total']:,.2f}"  # type: ignore[union-attr]
    # CSV (UTF-8 with BOM, Chinese headers) and XLSX: the same rows and a total row
    data = f.get(f"/settlements/{number}/allocation.csv")
    assert data.status_code == 200 and data.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.content.decode("utf-8-sig"))))
    assert table[0] == ["单位代码", "用能单位", "分摊依据", "单位", "占比（%）", "分摊金额（元）"]
    assert {r[0]: (D(r[2]), D(r[4]), D(r[5])) for r in table[1:-1]} == pdf_rows
    assert table[-1][1] == "合计" and D(table[-1][5]) == world["total"]
    book = load_workbook(io.BytesIO(f.get(f"/settlements/{number}/allocation.xlsx").content))
    sheet = book.active
    assert sheet.title == "费用分摊"
    values = list(sheet.iter_rows(values_only=True))
    assert {r[0]: Decimal(str(r[5])) for r in values[1:-1]} == {k: v[2] for k, v in pdf_rows.items()}
    # headers follow the user's language
    f.post("/lang/en", data={"csrf_token": _, "next": "/"})
    english = list(csv.reader(io.StringIO(f.get(f"/settlements/{number}/allocation.csv").content.decode("utf-8-sig"))))
    assert english[0] == ["Code", "Institution", "Basis", "Unit", "Share (%)", "Amount (CNY)"]


def test_a_single_institution_statement_has_no_allocation(world: dict) -> None:
    f, _ = login(world["server"], "finance")
    r = f.get(f"/settlements/{world['single']}/statement.pdf")
    text = pdftotext(r.content)
    assert "费用分摊" not in text and "Allocation" not in text
    assert text.count("授权代表签字") == 2 and "甲方（用能单位）" in text
    page = f.get(f"/settlements/{world['single']}")
    assert page.status_code == 200 and 'id="allocation"' not in page.text
    # the export still lists who pays: the one institution, the whole amount
    table = list(csv.reader(io.StringIO(f.get(f"/settlements/{world['single']}/allocation.csv").content
                                        .decode("utf-8-sig"))))
    assert len(table) == 3 and table[1][0] == "WX-SMZX" and D(table[1][4]) == 100
    assert D(table[1][5]) == D(table[2][5]) == world["single_total"]


@pytest.mark.parametrize(("who", "sees"), [("esco", True), ("finance", True), ("admin", True), ("esco2", False),
                                            ("binhu", False)])
def test_who_sees_the_county_allocation(world: dict, who: str, sees: bool) -> None:
    c, _ = login(world["server"], who)
    page = c.get(f"/settlements/{world['county']}")
    data = c.get(f"/settlements/{world['county']}/allocation.csv")
    if sees:  # the ESCO of the contract sees its own statement's split
        assert page.status_code == 200 and 'id="allocation"' in page.text and data.status_code == 200
    else:  # another ESCO, a district manager of another district: not found, nothing of it shown
        assert page.status_code == 404 and data.status_code == 404
        assert "YX-XZZX" not in page.text + data.text


def test_anonymous_sees_nothing(world: dict) -> None:
    anonymous: httpx.Client = client(world["server"])
    r = anonymous.get(f"/settlements/{world['county']}/allocation.csv")
    assert r.status_code in (303, 401) and "YX-XZZX" not in r.text
