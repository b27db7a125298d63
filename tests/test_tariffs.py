"""Tariffs as data: files with errors that name entry, key and value; idempotent loading; versions frozen once
an approved settlement priced with them; a manager's new price notice; time-of-use valuation of hourly
savings through the real service; the pages over HTTP and in a browser."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer
from pypdf import PdfReader
from sqlalchemy import select
from sqlmodel import Session
from test_web import login

from emc.audit.models import AuditEvent
from emc.baselines import service as baselines
from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.contracts.spec import parse_contract
from emc.metering.service import ImportOptions, import_file
from emc.org.models import Role, User
from emc.org.scope import Scope
from emc.org.service import load_regions
from emc.settlement import drafting, records, statements, workflow
from emc.tariffs import service
from emc.tariffs.files import TariffFileError, parse_tariffs

ROOT = Path(__file__).resolve().parent.parent
WUXI_TARIFFS = ROOT / "contracts" / "tariffs" / "wuxi.toml"
MANAGER = User(username="mgr", password_hash="x", role=Role.manager.value)
APPROVER = User(username="mgr2", password_hash="x", role=Role.manager.value)  # four eyes

GOOD = """
format = 1
[[tariffs]]
code = "T-WATER"
utility = "water"
version = "2024-01-01"
effective_from = 2024-01-01
source = "test notice 1"
water = { supply = 1.67, sewage = 1.95, resource_fee = 0.20 }
"""


def problems(text: str) -> list[str]:
    with pytest.raises(TariffFileError) as info:
        parse_tariffs(text, "t.toml")
    return [str(p) for p in info.value.problems]


def test_a_good_file_gives_the_three_part_water_price() -> None:
    [(_, version)] = parse_tariffs(GOOD)
    assert version.id == "T-WATER/water@2024-01-01" and version.water is not None
    assert version.water.total == Decimal("3.82") and version.unit == "m3"


def test_every_problem_names_the_entry_key_and_value() -> None:
    bad = GOOD.replace('source = "test notice 1"\n', "") + """
[[tariffs]]
code = "T-TOU"
utility = "electricity"
version = "v1"
effective_from = 2025-06-01
source = "x"
band_prices = { flat = 0.64, peak = 1.088 }
[[tariffs.seasons]]
months = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
windows = [{ start = "14:00", end = "25:00", band = "peak" }, { start = "00:00", end = "06:00", band = "lowest" }]
"""
    found = problems(bad)
    assert "t.toml: tariffs[0] (T-WATER).source: required key is missing" in found
    assert any("tariffs[1] (T-TOU).seasons[0].windows[0].end" in p and "'25:00'" in p for p in found)
    assert any("tariffs[1] (T-TOU).seasons[0].windows[1].band" in p and "'lowest'" in p for p in found)


def test_shape_problems_and_duplicates_are_named() -> None:
    two_shapes = GOOD.replace("water = {", "price = 3.82\nwater = {")
    assert problems(two_shapes) == ["t.toml: tariffs[0] (T-WATER): T-WATER/water@2024-01-01: give exactly one of "
                                    "price, water, tiers or seasons (TOU)"]
    assert "is also tariffs[0]" in problems(GOOD + GOOD.replace("format = 1", ""))[0]
    no_price = GOOD.replace("water = { supply = 1.67, sewage = 1.95, resource_fee = 0.20 }", """
band_prices = { flat = 0.64 }
[[tariffs.seasons]]
months = [1, 2, 3]
windows = [{ start = "14:00", end = "22:00", band = "peak" }]""")
    found = problems(no_price)
    assert "TOU seasons must cover each month exactly once" in found[0]


def test_loading_is_idempotent_audited_and_all_or_nothing(session: Session) -> None:
    load_regions(session)
    first = service.load_file(session, WUXI_TARIFFS, actor=MANAGER)
    assert [s.action for s in first] == ["created"] * 4
    assert [s.action for s in service.load_file(session, WUXI_TARIFFS, actor=MANAGER)] == ["unchanged"] * 4
    events = session.execute(select(AuditEvent).where(AuditEvent.action == "tariff.create")).scalars().all()
    assert len(events) == 4
    # a later version that overlaps one with an explicit end is refused, naming both
    overlapping = GOOD.replace('version = "2024-01-01"', 'version = "a"').replace(
        "effective_from = 2024-01-01", "effective_from = 2024-01-01\neffective_to = 2024-12-01") + GOOD.replace(
        "format = 1", "").replace('version = "2024-01-01"', 'version = "b"').replace("2024-01-01", "2024-06-01")
    with pytest.raises(TariffFileError, match="versions a and b overlap"):
        service.load_text(session, overlapping, "o.toml", actor=MANAGER)
    session.rollback()
    assert service.find(session, "T-WATER", "water", "a") is None
    esco = User(username="e", password_hash="x", role=Role.esco.value)
    with pytest.raises(PermissionError):
        service.load_text(session, GOOD, "g.toml", actor=esco)


def test_a_new_price_notice_ends_the_previous_version(session: Session) -> None:
    load_regions(session)
    service.load_file(session, WUXI_TARIFFS, actor=MANAGER)
    gas = service.find(session, "WX-GAS-NONRES", "gas", "2018-01-01")
    assert gas is not None
    saved = service.new_version(session, gas, version="2021-01-01", effective_from=date(2021, 1, 1),
                                source="锡发改〔2020〕test", prices={"price": "3.62"}, actor=MANAGER)
    assert saved.key == "WX-GAS-NONRES/gas@2021-01-01"
    book = service.book(session)
    assert book.on("WX-GAS-NONRES", "gas", date(2020, 12, 31)).price == Decimal("3.52")
    assert book.on("WX-GAS-NONRES", "gas", date(2021, 1, 1)).price == Decimal("3.62")
    with pytest.raises(TariffFileError, match="already has a version"):
        service.new_version(session, gas, version="2021-01-01", effective_from=date(2021, 1, 1), source="x",
                            prices={"price": "3.70"}, actor=MANAGER)
    with pytest.raises(TariffFileError, match="price"):
        service.new_version(session, gas, version="2022", effective_from=date(2022, 1, 1), source="x",
                            prices={"price": "-1"}, actor=MANAGER)


def test_a_version_that_priced_an_approved_settlement_is_frozen(session: Session) -> None:
    """The Wuxi custody fee priced July 2019 with the 2019-07-01 electricity version; once that settlement is
    approved the version cannot change, and the refusal names the settlement."""
    load_regions(session)
    load_regions(session)
    service.load_file(session, WUXI_TARIFFS, actor=MANAGER)
    text = (ROOT / "contracts" / "wuxi-civic-centre.toml").read_text(encoding="utf-8")
    # the custody component alone: no measured utility, so no baseline is needed to settle it
    head, _, rest = text.partition("[[components]]\nkey = \"water-guarantee\"")
    contract_text = head.replace('type = "hybrid"', 'type = "cost_custody"')
    load_contract(session, parse_contract(contract_text, "w.toml"), source="w.toml", actor="t")
    contract = session.execute(select(Contract).where(Contract.code == "WX-SMZX-2018")).scalar_one()
    report = drafting.run_due(session, date(2019, 8, 1))
    assert report.waiting == [] and report.created[-1] == "WX-SMZX-2018-201907"
    from emc.settlement.models import Settlement

    july = session.execute(select(Settlement).where(Settlement.number == "WX-SMZX-2018-201907")).scalar_one()
    workflow.transition(session, july, "submit", actor=MANAGER)
    workflow.transition(session, july, "approve", actor=APPROVER)
    assert service.used_by(session, "WX-GS-10KV/electricity@2019-07-01") == ["WX-SMZX-2018-201907"]
    changed = WUXI_TARIFFS.read_text(encoding="utf-8").replace("price = 0.8136", "price = 0.8200")
    with pytest.raises(service.TariffInUse, match="WX-SMZX-2018-201907"):
        service.load_text(session, changed, "wuxi.toml", actor=MANAGER)
    assert contract.code == "WX-SMZX-2018"


UNIVERSITY = ROOT / "baselines" / "WX-LHZY-WATER-2024"
TOU_WATER = """
format = 1
[[tariffs]]
code = "T-TOU-W"
utility = "water"
version = "2023-01-01"
effective_from = 2023-01-01
source = "test: a two-band water tariff to exercise interval valuation"
band_prices = { flat = 3.00, peak = 6.00 }
[[tariffs.seasons]]
months = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
windows = [{ start = "08:00", end = "18:00", band = "peak" }]
"""


def test_hourly_savings_are_valued_by_time_of_use_band(session: Session) -> None:
    """The university's hourly water meters under a shared-savings variant valued by a two-band tariff: each
    hour's savings (adjusted baseline − actual) is priced in its band, the bands add up to the period's savings,
    and every line names the tariff version."""
    load_regions(session)
    service.load_text(session, TOU_WATER, "tou.toml", actor=MANAGER)
    text = (ROOT / "contracts" / "university-water.toml").read_text(encoding="utf-8")
    head, _, _ = text.partition("[[components]]")
    head = head.replace('type = "guaranteed_savings"', 'type = "shared_savings"').replace(
        'settlement_frequency = "annual"', 'settlement_frequency = "monthly"')
    variant = head + """
[valuation]
policy = "time_of_use"
tariff = "T-TOU-W"

[[components]]
key = "share"
kind = "shared_savings"
utilities = ["water"]
esco_share = [0.5, 0.5, 0.5, 0.5, 0.5]
"""
    load_contract(session, parse_contract(variant, "u.toml"), source="u.toml", actor="t")
    for name, kind, station in (("water_hourly_baseline_utf8bom.csv", "meter", None),
                                ("water_hourly_installation_utf8bom.csv", "meter", None),
                                ("water_hourly_year1_utf8bom.csv", "meter", None), ("weather.csv", "weather", "58354")):
        assert import_file(session, UNIVERSITY / name, file_name=name, actor="t", scope=Scope.everything(),
                           options=ImportOptions(kind=kind, station=station)).ok
    contract = session.execute(select(Contract).where(Contract.code == "WX-LHZY-WATER-2024")).scalar_one()
    fitted = baselines.fit(session, contract, "water", actor="t", granularity="hourly")
    assert fitted.granularity == "hourly"
    baselines.approve(session, fitted, actor="t", reason="test: hourly model for interval valuation")
    [row] = drafting.draft(session, contract, date(2024, 4, 1), actor="t")
    lines = [line for line in records.lines_of(session, row) if line.utility == "water"]
    bands = {line.detail["subkey"]: line for line in lines}
    assert set(bands) == {"water:peak", "water:flat"}
    assert {line.detail["tariff_version"] for line in lines} == {"T-TOU-W/water@2023-01-01"}
    assert (bands["water:peak"].unit_price, bands["water:flat"].unit_price) == (Decimal(6), Decimal(3))
    for line in lines:  # savings × band price × the ESCO's 50 % share, rounded once to the fen
        assert line.amount == (line.quantity * line.unit_price * Decimal("0.5")).quantize(Decimal("0.01"))
    total = sum((line.quantity for line in lines), Decimal(0))
    month = baselines.compute_savings(session, contract, "water", date(2024, 4, 1), date(2024, 4, 30)).result.total
    assert abs(float(total) - (month["adjusted_baseline"] - month["actual"])) < 0.01 * len(lines) + 1
    assert row.inputs["tariff_versions"] == "T-TOU-W/water@2023-01-01"
    # the approved statement prints the tariff version and each band's price (issue 6: tariffs with versions)
    workflow.transition(session, row, "submit", actor=MANAGER)
    workflow.transition(session, row, "approve", actor=APPROVER)
    rates = {(r.version, r.name, r.value) for r in statements.build(session, row).rates}
    assert ("T-TOU-W/water@2023-01-01", "水价格（峰）", Decimal(6)) in rates
    assert ("T-TOU-W/water@2023-01-01", "水价格（平）", Decimal(3)) in rates
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(statements.render(session, row))).pages)
    assert "T-TOU-W/water@2023-01-01" in text.replace("\n", "")


# -- pages -----------------------------------------------------------------------------------------------
def test_everyone_reads_tariffs_only_managers_change_them(demo_server: LiveServer) -> None:
    esco, token = login(demo_server, "esco")
    page = esco.get("/tariffs")
    assert page.status_code == 200 and "WX-GS-10KV" in page.text and "JS-TOU-GS" in page.text
    assert 'id="tariff-upload"' not in page.text
    refused = esco.post("/tariffs/upload", files={"file": ("t.toml", GOOD.encode())}, data={"csrf_token": token},
                        headers={"HX-Request": "true"})
    assert refused.status_code == 403
    detail = esco.get("/tariffs/JS-TOU-GS/electricity")
    assert "14:00–22:00 峰" in detail.text and "new-version" not in detail.text
    assert httpx.get(f"{demo_server.url}/api/tariffs", timeout=10).status_code == 401


def test_a_manager_uploads_a_file_and_records_a_new_notice(demo_server: LiveServer) -> None:
    c, token = login(demo_server, "manager")
    code = f"T-UP-{demo_server.port}"
    body = GOOD.replace("T-WATER", code)
    bad = c.post("/tariffs/upload", files={"file": ("bad.toml", body.replace("source", "sauce").encode())},
                 data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "sauce: unknown key" in bad.text
    assert code not in c.get("/tariffs").text
    ok = c.post("/tariffs/upload", files={"file": ("good.toml", body.encode())}, data={"csrf_token": token},
                headers={"HX-Request": "true"})
    assert ok.status_code == 200 and f"{code}/water@2024-01-01: created" in ok.text and "<html" not in ok.text
    form = {"csrf_token": token, "version": "2025-07-01", "effective_from": "2025-07-01", "source": "新文件",
            "price:water.supply": "1.77", "price:water.sewage": "1.95", "price:water.resource_fee": "0.20"}
    saved = c.post(f"/tariffs/{code}/water/versions", data=form, headers={"HX-Request": "true"})
    assert saved.status_code == 204 and saved.headers["HX-Redirect"].startswith(f"/tariffs/{code}/water")
    versions = {v["version"]: v for v in c.get("/api/tariffs", params={"code": code}).json()}
    assert versions["2024-01-01"]["effective_to"] == "2025-07-01"  # ended by the new notice
    assert versions["2025-07-01"]["spec"]["water"]["supply"] == "1.77"
    again = c.post(f"/tariffs/{code}/water/versions", data={**form, "price:water.supply": "abc"},
                   headers={"HX-Request": "true"})
    assert again.status_code == 422 and "already has a version" in again.text


@pytest.mark.browser
def test_the_tariff_pages_in_a_browser(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    from conftest import screenshot
    from test_browser import log_in

    log_in(page, sqlite_demo_server, "manager")
    page.click("nav.main a[data-nav=tariffs]")
    page.wait_for_url(f"{sqlite_demo_server.url}/tariffs")
    assert page.locator("#tariff-table").inner_text().count("WX-GS-10KV") == 1
    screenshot(page, "tariffs")
    page.click("text=JS-TOU-GS")
    page.fill("input[name=version]", "2026-01-01")
    page.fill("input[name=effective_from]", "2026-01-01")
    page.fill("input[name=source]", "苏发改价格发〔2025〕test")
    page.fill("input[name='price:band_prices.flat']", "0.6500")
    page.click("#save-version")
    page.wait_for_selector("#version-2026-01-01")
    assert "0.6500" in page.locator("#version-2026-01-01").inner_text()
    screenshot(page, "tariff-detail")

