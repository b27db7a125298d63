"""Chinese first, everywhere (issue 16): no page of the demo and no PDF it issues shows, in Chinese, an
internal message key or an English sentence.

Every page kind each role reaches (its navigation, two clicks deep, one page per kind — plus every example
contract's pages, which differ by contract type — plus :data:`EXTRA_PAGES`) is fetched over HTTP in zh; the
visible text is read back (script and style dropped; of the attributes only ``title``, ``placeholder``,
``aria-label`` and a button's ``value``, which a user sees or hears) and every PDF (each example contract's
statement, the annual M&V report) is read back with ``pdftotext``. A string fails when it is

* a message key or internal term: ``snake_case`` or ``dotted.key`` words, or a lowercase ASCII word that is
  no unit, code or user name (``custody``, ``annual``, ``cn``);
* English: an ASCII-only run of two or more words.

What may stay ASCII is in :data:`ALLOWED` (standard names, units, demo user names), each with its reason.
The failure names the page and its offending strings. Pages other areas add: append to :data:`EXTRA_PAGES`
(or link them from the navigation, which the walk follows).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from conftest import LiveServer
from pypdf import PdfReader

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROLES = ["admin", "manager", "binhu", "finance", "viewer", "esco", "esco2"]
# the example contracts (one of each type): their detail, M&V, settlements and statements differ by type
EXAMPLES = ["WX-SMZX-2018", "CZ-ZLRMYY-HVAC-2024", "CZ-TNXZZX-PV-2022", "WX-LHZY-WATER-2024", "YX-TG-2023"]
# pages no navigation links to (a verification form) or that other areas add; walked for every role
EXTRA_PAGES = ["/verify", "/account"]

# Strings that may stay ASCII in Chinese, and why. Matched as whole words or phrases before the checks run.
ALLOWED = [
    # standard and method names, cited as published
    r"ASHRAE Guideline 14", r"IPMVP( Option [A-D])?", r"CV\(RMSE\)", r"NMBE", r"R²", r"GB/T \d+(\.\d+)?(-\d+)?",
    r"CalTRACK", r"TOWT", r"HDD", r"CDD", r"OLS",
    # units and their symbols
    r"kWh", r"MWh", r"kW", r"kVA", r"m³", r"m²", r"GJ", r"tCO₂e?", r"tCO2e?", r"kgCO₂e?", r"kgCO2e?", r"kgce",
    r"tce", r"°C", r"kg", r"CNY",
    # file kinds and formats a user picks or downloads
    r"PDF", r"CSV", r"XLSX", r"TOML", r"JSON", r"API", r"ZIP", r"UTF-8", r"GBK", r"ISO 8601", r"SHA-256",
    r"\.(toml|csv|xlsx|pdf|zip|json)",
    # what a user types into a file or a request: TOML table names, the API's header
    r"\[\[?[a-z_.]+\]\]?", r"Authorization: Bearer",
    # the product's name and the demo's user names (people's log-in names are data)
    r"yixing",  # the demo's weather station code for Yixing (codes are data)
    r"emc", r"demo", r"admin", r"manager2?", r"binhu", r"finance", r"viewer", r"esco2?", r"gone",
    # the language switch names the other language in that language
    r"English",
]
# The statement and the annual report are bilingual forms. Beside a Chinese caption set in the same line they
# print these fixed English captions (the rest of their English is set apart in grey; see pdf_offences).
PDF_CAPTIONS = [
    r"Page \d+ of \d+", r"Approval date", r"Authorised signature", r"Credit code",
    r"(Payable w|W)ithin \d+ days of issue",
    r"Government Offices Administration Bureau", r"Energy Performance Contract Settlement Statement",
    r"Annual Measurement & Verification Report( · contract year \d+)?",
]
_ALLOWED = re.compile(r"(?<![\w.])(?:" + "|".join(ALLOWED) + r")(?![\w])")
_PDF_CAPTIONS = re.compile("|".join(PDF_CAPTIONS))

KEY = re.compile(r"(?<![\w./-])[a-z][a-z0-9]*(?:[._][a-z0-9]+)+(?![\w/-])")  # snake_case, dotted.key
LOWER_WORD = re.compile(r"(?<![\w./@-])[a-z]{2,}(?![\w/@-])")  # a lone lowercase word: an internal term
ENGLISH = re.compile(r"[A-Za-z][A-Za-z'’]+(?:[ \t,;:()/&-]+[A-Za-z][A-Za-z'’]*)+")  # two or more ASCII words
URL = re.compile(r"https?://\S+|/[\w{}./-]+|[\w.+-]+@[\w.-]+")


def offences(text: str, *, keys_only: bool = False) -> list[str]:
    """The untranslated strings in one visible text: English runs, keys and lone internal terms."""
    text = _ALLOWED.sub(" ", URL.sub(" ", text))
    found = [m.group(0) for m in KEY.finditer(text)]
    if keys_only:
        return sorted(set(found))
    for m in ENGLISH.finditer(text):
        words = re.findall(r"[A-Za-z]+", m.group(0))
        # codes (WX-SMZX-2018, SYN-0001) are upper case and digits: a run needs two words with a lower-case letter
        if sum(1 for w in words if re.search(r"[a-z]", w)) >= 2:
            found.append(m.group(0).strip(" ,;:(/&-"))
            text = text.replace(m.group(0), " ")
    found += [m.group(0) for m in LOWER_WORD.finditer(text)]
    return sorted(set(found))


class _Visible(HTMLParser):
    """The text a user reads (or a screen reader speaks) on a page. Text marked ``translate="no"`` (HTML's
    own mark for content that is not to be translated) is data someone wrote — a contract file's notes, a
    file's name, a tariff's source — not the interface, and is left out."""

    SKIP = {"script", "style", "template"}
    SPOKEN = ("title", "placeholder", "aria-label")
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._open: list[tuple[str, bool]] = []  # open elements: (tag, left out)

    @property
    def _hidden(self) -> bool:
        return any(skip for _, skip in self._open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skip = tag in self.SKIP or values.get("translate") == "no"
        if not (skip or self._hidden):
            self.parts += [values[a] or "" for a in self.SPOKEN if values.get(a)]
            if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
                self.parts.append(values["value"] or "")
        if tag not in self.VOID:
            self._open.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):  # close up to the matching element (HTML omits some ends)
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(page: str) -> list[str]:
    parser = _Visible()
    parser.feed(page)
    return parser.parts


COMPANION = (0.333, 0.333, 0.333)  # the grey of emc.reports.pdf.GREY (#555555), the English companion's colour


def pdf_offences(data: bytes, tmp: Path) -> list[str]:
    """The untranslated strings of a PDF. The statement and the annual report are bilingual forms: under or
    beside each Chinese caption an English companion is set in grey. A grey run that begins in English is such
    a companion and may be English (but no key); any other run is read like a page. ``pdftotext`` reads the
    whole document for keys."""
    path = tmp / "doc.pdf"
    path.write_bytes(data)
    whole = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                           text=True).stdout
    found = set(offences(whole, keys_only=True))
    colour: list[tuple[float, ...]] = [()]
    for page in PdfReader(path).pages:
        colour[0] = ()

        def before(op: bytes, args: list[Any], cm: Any, tm: Any) -> None:
            if op in (b"rg", b"g", b"k"):
                colour[0] = tuple(round(float(a), 3) for a in args)

        def run(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
            first = re.search(r"[A-Za-z\u3400-\u9fff]", text)  # an English run may quote Chinese data
            companion = colour[0] == COMPANION and first is not None and first.group(0).isascii()
            found.update(offences(_PDF_CAPTIONS.sub(" ", text.replace("\n", " ")), keys_only=companion))

        page.extract_text(visitor_operand_before=before, visitor_text=run)
    return sorted(found)


# -- the walk ----------------------------------------------------------------------------------------------

def log_in(server: LiveServer, username: str) -> httpx.Client:
    c = httpx.Client(base_url=server.url, follow_redirects=True, timeout=60, cookies={"lang": "zh"})
    token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"username": username, "password": f"demo-{username}", "csrf_token": token,
                               "next": "/contracts"})
    assert r.status_code == 200, r.text
    return c


def _shape(path: str) -> str:
    """A page kind: the path with its codes and numbers blanked, so one import stands for all imports."""
    return "/".join("*" if re.fullmatch(r"[A-Z0-9][A-Z0-9_.-]*", part) else part for part in path.split("/"))


def _skip(path: str) -> bool:
    return path.startswith(("/api/", "/static/", "/login", "/logout", "/lang/")) or \
        path.endswith((".pdf", ".csv", ".xlsx", ".zip", "/pdf", "/csv", "/xlsx", "/zip"))


HREF = re.compile(r'href="(/[^"#]*)"')


def pages_of(c: httpx.Client, limit: int = 60) -> Iterator[tuple[str, str]]:
    """(path, html) of every kind of page the signed-in user reaches from the navigation within two clicks
    (one page per kind, and per example contract: the contract types show different terms), and
    :data:`EXTRA_PAGES`."""
    first = c.get("/contracts").text
    nav_html = first.split('<nav class="main"', 1)[1].split("</nav>", 1)[0]
    frontier = [p for p in HREF.findall(nav_html) if not _skip(p)] + EXTRA_PAGES
    frontier += [p for code in EXAMPLES for p in (f"/contracts/{code}", f"/contracts/{code}/mv")]
    seen: set[str] = set()
    kinds: set[str] = set()
    for _depth in range(3):
        found = []
        for path in frontier:
            if path in seen:
                continue
            seen.add(path)
            r = c.get(path)
            if r.status_code == 404:  # an example contract out of this user's scope
                continue
            assert r.status_code == 200, (path, r.status_code)
            yield path, r.text
            main = r.text.split("<main", 1)[-1]
            for href in HREF.findall(main):
                target = urlparse(href).path
                kind = _shape(target) + "|" + next((code for code in EXAMPLES if code in target), "")
                if _skip(target) or kind in kinds or len(seen) + len(found) >= limit:
                    continue
                kinds.add(kind)
                found.append(target)
        frontier = found


def pdfs_of(c: httpx.Client, pages: list[str]) -> Iterator[tuple[str, bytes]]:
    """Every PDF the walked pages link to, one per example contract and kind (statement, annual M&V report)."""
    wanted: dict[str, str] = {}
    for html in pages:
        for href in HREF.findall(html):
            path = urlparse(href).path
            if path.endswith(".pdf"):
                kind = re.sub(r"/settlements/([A-Z0-9-]+?)-\d{6}/", r"/settlements/\1-*/", _shape(path))
                code = next((code for code in EXAMPLES if code in path), "")
                if code:
                    wanted.setdefault(f"{kind}|{code}", path)
    for path in wanted.values():
        r = c.get(path)
        assert r.status_code == 200, (path, r.status_code)
        yield path, r.content


# the settled demo (drafts, approvals, statements) on SQLite: its pages, not its database, are under test
@pytest.mark.parametrize("settled_demo_server", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ROLES)
def test_no_page_or_pdf_shows_a_key_or_english_in_chinese(settled_demo_server: LiveServer, role: str,
                                                          tmp_path: Path) -> None:
    c = log_in(settled_demo_server, role)
    bad: dict[str, list[str]] = {}
    htmls: list[str] = []
    for path, html in pages_of(c):
        htmls.append(html)
        assert '<html lang="zh' in html, path
        if found := sorted({o for part in visible_text(html) for o in offences(part)}):
            bad[path] = found
    assert len(htmls) >= 8, "the walk reached the role's pages"
    pdfs = 0
    for path, data in pdfs_of(c, htmls):
        pdfs += 1
        if found := pdf_offences(data, tmp_path):
            bad[path] = found
    if role in ("manager", "admin"):
        assert pdfs >= 2, "statements and annual reports were read"
    report = "\n".join(f"{path}: {found}" for path, found in bad.items())
    assert not bad, f"untranslated strings on {len(bad)} pages/PDFs ({sum(map(len, bad.values()))} strings):\n{report}"


@pytest.mark.parametrize("settled_demo_server", ["sqlite"], indirect=True)
def test_an_upload_with_problems_explains_them_in_chinese(settled_demo_server: LiveServer) -> None:
    """An ESCO's file with a number written the Chinese way and an unknown meter: the preview names each
    finding in Chinese (the value itself is shown as written), in the filter too."""
    c = log_in(settled_demo_server, "esco")
    token = CSRF.search(c.get("/imports").text).group(1)  # type: ignore[union-attr]
    rows = "".join(f"WX-SMZX-E11,2024-06-01 {h:02d}:00,{10 + h}\n" for h in range(23))
    bad = "WX-SMZX-E11,2024-06-01 23:00,16万7900\nNO-SUCH-METER,2024-06-01 00:00,1\n"
    body = "表号,时间,用量(kWh)\n" + rows + bad
    r = c.post("/imports", files={"file": ("readings.csv", body.encode("gbk"))}, data={"csrf_token": token})
    assert r.status_code == 200 and "/imports/" in str(r.url), r.text
    page = r.text
    assert "16万7900" in page and "不是数字" in page and "未知的计量表编号" in page
    found = sorted({o for part in visible_text(page) for o in offences(part)})
    assert not found, f"{r.url.path}: {found}"


ROOT = Path(__file__).resolve().parent.parent


def test_every_engine_code_has_words_in_both_languages() -> None:
    """Every settlement warning, M&V finding, import finding, settlement line kind and audit action the code
    can produce has its Chinese and English text: a new code without them fails here, not on a user's page."""
    from emc.i18n import catalog
    from emc.metering.findings import CODES

    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "emc").rglob("*.py"))
    wanted = {f"warning.{c}" for c in re.findall(r'SettlementWarning\(\s*"([a-z_]+)"', source)}
    mv_codes = set(re.findall(r'MVWarning\(\s*(?:code=)?"([a-z_0-9]+)"', source))
    wanted |= {f"mvwarning.{c}" for c in mv_codes}
    wanted |= {f"finding.{c}" for c in CODES} | {f"finding_text.{c}" for c in CODES}
    wanted |= {f"line.{c}" for c in set(re.findall(r'code="([a-z_]+)"', source)) - mv_codes}
    wanted |= {f"action.{a}" for a in re.findall(r'action="([a-z_]+\.[a-z_]+|login|logout)"', source)}
    wanted -= {"warning.year_incomplete"}  # worded by its parameters: warning.year_incomplete.<params>
    assert len(wanted) > 100
    for lang in ("zh", "en"):
        missing = sorted(wanted - set(catalog(lang)))
        assert not missing, f"{lang}: codes without words: {missing}"


def test_engine_data_reads_as_words() -> None:
    from emc.i18n import Translator
    from emc.i18n.messages import flag_text, input_rows, value_label, warning_text

    zh, en = Translator("zh"), Translator("en")
    rows = dict(input_rows({"period": "2025-04-01/2025-05-01", "custody.electricity.actual_cost": "1234.5",
                            "contract_versions": ["v1", "v2"]}, {"custody": "水电气费用托管"}, zh))
    assert rows == {"结算期间": "2025-04-01 至 2025-04-30", "水电气费用托管 · 电 · 实际能源费用（元）": "1,234.50",
                    "合同版本": "v1、v2"}
    no_bill = {"code": "no_bills", "message": "no water bill for the period", "params": {"utility": "water"}}
    assert warning_text(no_bill, zh) == "本期没有水账单" and warning_text(no_bill, en) == "no Water bill for the period"
    # a stored warning from before parameters were recorded keeps its English rather than a broken sentence
    old = {"code": "no_bills", "message": "no gas bill for the period"}
    assert warning_text(old, zh) == "no gas bill for the period"
    assert value_label("adjust_for", ["floor_area", "non_routine"], zh) == "建筑面积、非常规变化"
    assert value_label("shortfall", "esco_pays", zh) == "节能服务公司赔付"
    assert flag_text("3 reading(s) corrected after approval; settle the difference as an adjustment", zh) == \
        "批准后有 3 条读数被更正：请按差额调整结算"
