"""Settlement statement PDF: what a finance office reads in it, byte stability, the embedded CJK font,
pages that flow with repeated headers, and refusal of amounts that must never reach a statement."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import unavailable
from pypdf import PdfReader
from pypdf.generic import DictionaryObject, IndirectObject
from reportlab.pdfbase.pdfmetrics import stringWidth

from emc.money import MoneyError
from emc.reports.amounts import chinese_uppercase
from emc.reports.fonts import CjkFontMissing, cjk_font
from emc.reports.pdf import clean, wrap_lines
from emc.reports.sample import ESCO, INSTITUTION, LIBRARY, sample_statement
from emc.reports.statement import LineItem, Party, Signatory, render_statement


@pytest.fixture(scope="module")
def font() -> str:
    try:
        return cjk_font().name
    except CjkFontMissing as exc:
        unavailable(str(exc))
        raise


@pytest.fixture(scope="module")
def pdf_bytes(font: str) -> bytes:
    return render_statement(sample_statement(40))


@pytest.fixture(scope="module")
def pages(pdf_bytes: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf_bytes)).pages]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_finance_office_finds_parties_amounts_and_words(pdf_bytes: bytes, pages: list[str]) -> None:
    statement = sample_statement(40)
    total = statement.total
    assert total == sum(line.amount for line in statement.lines) and len(statement.lines) == 41
    text = "\n".join(pages)
    flat = squash(text)
    for needle in ("合同能源管理结算单", "Settlement Statement", "JS-WX-2024-0007", "WX-SMZX-2018",
                   "无锡市机关事务管理局",
                   INSTITUTION.name, LIBRARY.name, ESCO.name, ESCO.account.replace(" ", ""), INSTITUTION.credit_code,
                   "节能效益分享型", "2024-01-01至2024-12-31", "7QK4-M2XD-91FP", "苏发改价格〔2023〕11号", "JS-2023-11",
                   "新增档案库房恒温恒湿空调", "甲乙双方会议纪要", "授权代表签字", "盖章"):
        assert squash(needle) in flat, needle
    assert f"¥{total:,.2f}" in text  # ¥251,077.18
    assert chinese_uppercase(total) in flat  # 贰拾伍万壹仟零柒拾柒元壹角捌分
    assert "贰拾伍万壹仟零柒拾柒元壹角捌分" in flat
    for line in statement.lines:  # every line amount, right where a reader looks
        assert f"{line.amount:,.2f}" in text, line
    assert "2,489,310" in text and "248,760" in text and "±21,450" in text  # savings summary
    assert "250,000kWh-实际" in flat  # U+2212 minus, which the font lacks, printed as "-" instead of nothing


def test_pages_flow_with_page_numbers_and_repeated_headers(pages: list[str]) -> None:
    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        flat = squash(text)
        assert f"第{number}页/共{len(pages)}页" in flat and f"Page {number} of {len(pages)}" in text
        assert "JS-WX-2024-0007" in text and "7QK4-M2XD-91FP" in text  # running header and footer
    line_pages = [text for text in pages if "节电效益分享" in text or "节水效益分享" in text]
    assert len(line_pages) >= 2
    for text in line_pages:  # the lines table header repeats on each page it flows onto
        assert "计算方式" in text and "Amount (CNY)" in text


def test_byte_identical_and_sensitive_to_amounts(font: str, pdf_bytes: bytes) -> None:
    assert render_statement(sample_statement(40)) == pdf_bytes
    bumped = render_statement(sample_statement(40, amount_bump=Decimal("0.01")))
    assert bumped != pdf_bytes
    assert "251,077.19" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(bumped)).pages)


def test_metadata_dates_come_from_the_data(pdf_bytes: bytes) -> None:
    info = PdfReader(io.BytesIO(pdf_bytes)).metadata
    assert info is not None
    assert info["/CreationDate"] == info["/ModDate"] == "D:20250120000000+08'00'"
    assert info.title == "合同能源管理结算单 JS-WX-2024-0007"


def _fonts(pdf_bytes: bytes) -> list[DictionaryObject]:
    found: dict[int, DictionaryObject] = {}
    for page in PdfReader(io.BytesIO(pdf_bytes)).pages:
        resources = page["/Resources"].get_object()
        for ref in resources.get("/Font", DictionaryObject()).get_object().values():
            key = ref.idnum if isinstance(ref, IndirectObject) else id(ref)
            found[key] = ref.get_object()
    return list(found.values())


def test_every_font_is_embedded_truetype(pdf_bytes: bytes) -> None:
    fonts = _fonts(pdf_bytes)
    assert fonts
    for f in fonts:
        assert "STSong" not in str(f["/BaseFont"]) and f["/Subtype"] == "/TrueType", f
        descriptor = f["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, f["/BaseFont"]  # the glyphs travel with the PDF
        assert "/ToUnicode" in f  # and the text can be searched and copied
    assert not re.search(rb"/BaseFont\s*/(STSong|Helvetica|Times|Courier)", pdf_bytes)


def test_pages_render_to_png(pdf_bytes: bytes, tmp_path: Path) -> None:
    if not shutil.which("pdftoppm"):
        unavailable("pdftoppm (Debian poppler-utils) is not installed")
    path = tmp_path / "statement.pdf"
    path.write_bytes(pdf_bytes)
    run = subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")], capture_output=True,
                         text=True)
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr
    assert len(list(tmp_path.glob("page-*.png"))) == len(PdfReader(io.BytesIO(pdf_bytes)).pages)


def test_short_statement_and_tripartite_signatures(font: str) -> None:
    bureau = Party("无锡市机关事务管理局", "Wuxi Government Offices Administration")
    statement = replace(sample_statement(3), adjustments=(), rates=(), notes=(),
                        signatories=[Signatory("甲方", "Party A", INSTITUTION), Signatory("乙方", "Party B", ESCO),
                                     Signatory("见证方（主管部门）", "Witness (bureau)", bureau)])
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(render_statement(statement))).pages)
    assert "见证方" in text and "Wuxi Government Offices Administration" in text
    assert "非常规调整" not in text and "价格与系数" not in text


def test_refuses_what_must_not_be_paid(font: str) -> None:
    statement = sample_statement(3)
    with pytest.raises(MoneyError, match="whole fen"):
        render_statement(replace(statement, lines=[LineItem("x", "y", Decimal("1.005"))]))
    with pytest.raises(MoneyError, match="negative"):
        render_statement(replace(statement, lines=[LineItem("x", "y", Decimal("-1.00"))]))
    with pytest.raises(MoneyError, match="float"):
        render_statement(replace(statement, lines=[LineItem("x", "y", 1.5)]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one line"):
        render_statement(replace(statement, lines=[]))


def test_line_breaking_keeps_codes_whole_and_kinsoku(font: str) -> None:
    lines = wrap_lines("维修工单 WX-2024-0518", font, 8.5, 75)
    assert lines == ["维修工单", "WX-2024-0518"]
    lines = wrap_lines("新增档案库房恒温恒湿空调（2024-03 起）", font, 8.5, 110)
    assert lines[-1].startswith("（2024-03")  # the bracket goes down with what it opens
    text = "一次性漏损，按 GB/T 24915 附录C 调整，" * 6
    for width in (40, 80, 150, 300):
        lines = wrap_lines(text, font, 8.5, width)
        assert all(stringWidth(line, font, 8.5) <= width + 0.01 for line in lines)
        assert not any(line.startswith(("，", "。", "）")) for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_missing_glyphs_are_substituted_not_dropped(font: str) -> None:
    assert clean("250,000 − 248,760") == "250,000 - 248,760"
    assert clean("合同能源管理 ¥1.00") == "合同能源管理 ¥1.00"
