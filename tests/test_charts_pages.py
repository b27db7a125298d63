"""Charts and small things on the real pages (uvicorn + the demo database, SQLite and PostgreSQL): units people
read (m³, not m3), no "-0.00", round chart ticks in 万/亿 (no SI suffixes on a Chinese page), the M&V page opening
on a utility with a baseline and drawing its uncertainty, and a statement whose QR/verification link carries the
port the server was reached on."""

from __future__ import annotations

import html
import re
import subprocess

import httpx
import pytest
from conftest import LiveServer
from starlette.requests import Request
from test_finance_pages import OM, finance_data
from test_web import CSRF, WUXI, login

from emc.config import Settings, bound
from emc.web.routes.settlement import public_base

TICK = re.compile(r'text-anchor="end" class="tick">([^<]*)</text>')
ZH_TICK = re.compile(r"^-?\d{1,3}(,\d{3})*(\.\d{1,2})?(万|亿)?$")  # 1,500 · 2.5万 · 3亿; never 3.74737M or 37.4759k
EN_TICK = re.compile(r"^-?\d{1,3}(,\d{3})*(\.\d{1,2})?[kMB]?$")


def visible(page: str) -> str:
    """What a reader sees: text outside tags, scripts and styles, plus the tooltips (SVG <title>)."""
    page = re.sub(r"(?s)<script.*?</script>|<style.*?</style>", "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _pages(c: httpx.Client) -> list[str]:
    """The pages with units, numbers and charts: contracts, M&V, carbon, tariffs, imports."""
    urls = ["/contracts", "/carbon", "/carbon/factors", "/carbon/leaderboards", "/tariffs", "/imports", "/settlements"]
    for code in (WUXI, "WX-LHZY-WATER-2024", "YX-TG-2023", "CZ-ZLRMYY-HVAC-2024", "CZ-TNXZZX-PV-2022"):
        urls += [f"/contracts/{code}", f"/contracts/{code}/mv"]
    urls += sorted(set(re.findall(r'href="(/tariffs/[^"?#]+)"', c.get("/tariffs").text)))[:4]
    urls += sorted(set(re.findall(r'href="(/imports/\d+)"', c.get("/imports").text)))[:3]
    urls += sorted(set(re.findall(r'href="(/carbon/institutions/[^"?#]+)"', c.get("/contracts/" + WUXI).text)))[:2]
    return urls


def _approve_water_baseline(server: LiveServer) -> None:
    from sqlmodel import Session, select

    from emc.baselines import service as baselines
    from emc.contracts.models import Contract

    with Session(server.engine) as s:
        contract = s.exec(select(Contract).where(Contract.code == WUXI)).one()
        if baselines.approved(s, contract, "water") is None:
            baselines.approve(s, baselines.fit(s, contract, "water", actor="t"), actor="t")
        s.commit()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pages_show_units_people_read_round_ticks_and_no_negative_zero(demo_server: LiveServer, lang: str) -> None:
    _approve_water_baseline(demo_server)  # so the M&V pages draw their charts
    c, token = login(demo_server, "manager")
    assert c.post(f"/lang/{lang}", data={"csrf_token": token, "next": "/contracts"}).status_code == 303
    seen_ticks = 0
    for url in _pages(c):
        page = c.get(url)
        assert page.status_code == 200, url
        text = visible(page.text)
        assert not re.search(r"(?<![A-Za-z_])m3(?![0-9A-Za-z_])", text), (url, re.findall(r".{30}\bm3\b.{10}", text))
        assert not re.search(r"[-−]0[.,]0+(?!\d)", text), (url, re.findall(r".{30}[-−]0[.,]0+(?!\d).{5}", text))
        ticks = TICK.findall(page.text)
        seen_ticks += len(ticks)
        bad = [t for t in ticks if not (ZH_TICK if lang == "zh" else EN_TICK).match(html.unescape(t))]
        assert not bad, (url, bad)
    assert seen_ticks > 20  # the charts were there to check
    wuxi = visible(c.get(f"/contracts/{WUXI}").text)
    assert "m³" in wuxi  # the water meters' unit, as people write it
    assert "16,179,328.00" in wuxi and "16179328" not in wuxi  # the baseline cost of the terms, with separators


def test_mv_page_opens_on_a_utility_with_a_baseline_and_shows_its_uncertainty(demo_server: LiveServer) -> None:
    _approve_water_baseline(demo_server)
    c, _ = login(demo_server, "manager")
    page = c.get(f"/contracts/{WUXI}/mv").text  # no utility asked: not the empty electricity tab
    opened = re.search(r'href="/contracts/[^"]+/mv\?utility=(\w+)" aria-current="page"', page)
    assert opened is not None and 'id="chart-baseline"' in page, "the page opened on a utility without a baseline"
    water = c.get(f"/contracts/{WUXI}/mv", params={"utility": "water"}).text
    assert 'id="chart-reporting"' in water and 'id="chart-savings"' in water
    reporting = water[water.index('id="chart-reporting"'):water.index('id="chart-savings"')]
    assert 'class="band"><title>90% 预测区间</title>' in reporting  # the prediction interval M&V computed
    assert re.search(r"<title>\d{4}-\d\d · 实际: [\d,]+ m³</title>", reporting)  # hover values with their unit
    savings = water[water.index('id="chart-savings"'):]
    assert re.search(r'class="whisker"><title>节约量 90% 区间: -?[\d,]+ – -?[\d,]+ m³</title>', savings)
    assert 'class="axis-title">m³' in reporting and 'class="legend">校准基线</text>' in reporting


def test_statement_qr_and_verify_link_carry_the_port_the_server_was_reached_on(demo_server: LiveServer) -> None:
    numbers = finance_data(demo_server)  # approved statements of test_finance_pages' own contracts (read only here)
    number = sorted(numbers[OM].items())[0][1]
    m, _ = login(demo_server, "manager")
    pdf = m.get(f"/settlements/{number}/statement.pdf")
    assert pdf.status_code == 200 and demo_server.port != 8000
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout.decode()
    link = f"{demo_server.url}/verify/{number}"
    assert link in text and ":8000" not in text  # printed beside the QR code, which encodes the same field
    # the link works: the verification page of that statement, on this server
    v = httpx.get(link, timeout=20)
    assert v.status_code == 200 and number in v.text and CSRF.search(v.text)
    # and the copy handed out verifies
    token = CSRF.search(v.text).group(1)  # type: ignore[union-attr]
    ok = httpx.post(link, files={"file": ("s.pdf", pdf.content)}, data={"csrf_token": token},
                    cookies=v.cookies, timeout=20)
    assert "完全一致" in ok.text


def _request(host: str, scheme: str = "http") -> Request:
    name, _, port = host.partition(":")
    return Request({"type": "http", "scheme": scheme, "method": "GET", "path": "/settlements/x/statement.pdf",
                    "root_path": "", "query_string": b"", "headers": [(b"host", host.encode())],
                    "server": (name, int(port or 80))})


def test_public_base_is_the_configured_public_url_else_the_server_asked() -> None:
    with bound(Settings(env="test", secret_key="x" * 40)):
        assert public_base(_request("emc.local:8443", "https")) == "https://emc.local:8443"
        assert public_base(_request("127.0.0.1:8766")) == "http://127.0.0.1:8766"
    with bound(Settings(env="test", secret_key="x" * 40, public_url="https://emc.example.gov.cn/")):
        assert public_base(_request("127.0.0.1:8766")) == "https://emc.example.gov.cn"
