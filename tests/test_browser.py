"""Pages in Debian's chromium: each role's navigation, ESCO isolation, HTMX filtering, Chinese glyphs."""

from __future__ import annotations

import pytest
from conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser

NAV = {
    "admin": ["项目总览", "合同", "结算", "能源碳排", "结算单", "数据导入", "电价/水价", "用户", "审计日志",
              "接口文档"],
    "manager": ["项目总览", "合同", "结算", "能源碳排", "结算单", "数据导入", "电价/水价", "接口文档"],
    "finance": ["项目总览", "合同", "结算", "能源碳排", "结算单", "数据导入", "电价/水价", "接口文档"],
    "viewer": ["项目总览", "合同", "结算", "能源碳排", "数据导入", "电价/水价", "接口文档"],
    "esco": ["首页", "我的合同", "结算", "能源碳排", "结算单", "数据导入", "电价/水价", "接口文档"],
}


def log_in(page, server: LiveServer, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.url}/login?next=/contracts")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"demo-{username}")
    page.click("#login-submit")
    page.wait_for_url(f"{server.url}/contracts")


@pytest.mark.parametrize("role", list(NAV))
def test_each_role_sees_its_navigation(page, sqlite_demo_server: LiveServer, role: str) -> None:  # type: ignore[no-untyped-def]
    log_in(page, sqlite_demo_server, role)
    assert page.locator("nav.main a").all_inner_texts() == NAV[role]
    assert page.locator("#results tbody tr").count() > 0
    upload = page.locator("details.upload")
    assert upload.count() == (1 if role in ("admin", "manager") else 0)
    screenshot(page, f"contracts-{role}")


def test_esco_cannot_reach_another_escos_contract(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    log_in(page, sqlite_demo_server, "esco")
    rows = page.locator("#results tbody tr")
    codes = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert "WX-SMZX-2018" in codes and "CZ-ZLRMYY-HVAC-2024" not in codes
    response = page.goto(f"{sqlite_demo_server.url}/contracts/CZ-ZLRMYY-HVAC-2024")
    assert response is not None and response.status == 404
    assert "未找到" in page.inner_text("main")
    screenshot(page, "esco-404")


def test_contract_list_filters_through_htmx(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    log_in(page, sqlite_demo_server, "manager")
    page.evaluate("window.__notReloaded = true")
    before = page.locator("#results tbody tr").count()
    with page.expect_response(lambda r: "/contracts?" in r.url and r.request.headers.get("hx-request") == "true"):
        page.select_option("select[name=type]", "hybrid")
    page.wait_for_function(f"document.querySelectorAll('#results tbody tr').length < {before}")
    types = page.locator("#results tbody tr td:nth-child(3)").all_inner_texts()
    assert types and set(types) == {"混合型"}
    assert "type=hybrid" in page.url  # the view stays linkable
    assert page.evaluate("window.__notReloaded") is True  # swapped in place, no page load
    page.fill("input[name=q]", "市民中心")
    page.wait_for_function("document.querySelectorAll('#results tbody tr').length === 1")
    screenshot(page, "contracts-filtered")


def test_contract_detail_shows_terms_parties_meters(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    log_in(page, sqlite_demo_server, "manager")
    page.click("text=WX-SMZX-2018")
    page.wait_for_url("**/contracts/WX-SMZX-2018")
    main = page.inner_text("main")
    for text in ("合同条款", "合同各方", "结算组成", "费用托管", "节能量保证", "计量表", "版本与变更"):
        assert text in main
    assert page.locator("#meters tbody tr").count() >= 3
    # Chinese glyphs must render: a CJK string is wider than the same number of missing-glyph boxes would be
    width = page.evaluate("""() => { const c = document.createElement('canvas').getContext('2d');
        c.font = '16px sans-serif'; return c.measureText('合同能源管理').width; }""")
    assert width > 60
    screenshot(page, "contract-detail")


def test_switch_to_english(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    log_in(page, sqlite_demo_server, "viewer")
    page.click("#lang-switch")
    page.wait_for_selector("nav.main >> text=Contracts")
    assert page.locator("nav.main a").all_inner_texts()[:3] == ["Portfolio", "Contracts", "Settlements"]
    page.click("#lang-switch")
    page.wait_for_selector("nav.main >> text=项目总览")


def test_admin_adds_a_user_in_place_and_sees_field_errors(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    log_in(page, sqlite_demo_server, "admin")
    page.click("nav.main >> text=用户")
    page.wait_for_url("**/admin/users")
    page.evaluate("window.__notReloaded = true")
    form = page.locator("#add-user")
    form.locator("input[name=username]").fill("browser-esco")
    form.locator("select[name=role]").select_option("esco")
    form.locator("input[name=password]").fill("long-enough-pw")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".form-error")
    assert "an ESCO user needs the ESCO code" in page.inner_text(".form-error")
    assert page.locator("#add-user input[name=username]").input_value() == "browser-esco"  # input kept
    page.locator("#add-user select[name=esco]").select_option("SGJS-IES")  # a picker of the ESCOs
    page.locator("#add-user input[name=password]").fill("long-enough-pw")
    page.locator("#add-user button[type=submit]").click()
    page.wait_for_selector("#user-table >> text=browser-esco")
    assert page.evaluate("window.__notReloaded") is True
    assert "已创建用户 browser-esco" in page.inner_text("#toasts")
    screenshot(page, "admin-users")


def test_bad_contract_upload_shows_a_toast_naming_the_key(page, sqlite_demo_server: LiveServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    small = (Path(__file__).parent / "data" / "small-shared.toml").read_text(encoding="utf-8")
    bad = tmp_path / "broken.toml"
    bad.write_text(small.replace('category = "school"', 'category = "castle"'), encoding="utf-8")
    log_in(page, sqlite_demo_server, "manager")
    page.click("details.upload summary")
    page.set_input_files("details.upload input[type=file]", str(bad))
    page.click("details.upload button[type=submit]")
    toast = page.wait_for_selector(".toast.error")
    assert "broken.toml: institutions[0] (T-SCH-1).category" in toast.inner_text()
    assert page.locator("#results").count() == 1  # the page stayed
    screenshot(page, "upload-error-toast")


def test_esco_uploads_a_gbk_export_previews_filters_and_commits(page, sqlite_demo_server: LiveServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"WX-SMZX-E11,2024-07-01 {h:02d}:00,{900 if h == 12 else 10 + h % 4}\n" for h in range(24))
    rows += "WX-SMZX-E11,2024-07-02 00:00,11\nWX-SMZX-E11,2024-07-02 03:00,12\n"
    path = tmp_path / "平台导出.csv"
    path.write_bytes(("测点说明：空调分项\n表计编号,采集时间,用电量(kWh)\n" + rows).encode("gbk"))
    log_in(page, sqlite_demo_server, "esco")
    page.click("nav.main >> text=数据导入")
    page.wait_for_url("**/imports")
    page.set_input_files("#upload-form input[type=file]", str(path))
    assert page.inner_text("#dropzone .chosen") == "平台导出.csv"
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/imports/*")
    assert "gb18030" in page.inner_text("#batch-summary")
    assert "WX-SMZX-E11" in page.inner_text("#batch-meters")
    before = page.locator("#findings tbody tr").count()
    page.select_option("select[name=code]", "gap")
    page.wait_for_function(f"document.querySelectorAll('#findings tbody tr').length < {before}")
    assert "no data from 2024-07-02 01:00 to 2024-07-02 03:00" in page.inner_text("#findings")
    screenshot(page, "import-preview")
    page.click("#commit")
    page.wait_for_selector("#batch-status >> text=已导入")
    assert page.locator("#commit").count() == 0
    screenshot(page, "import-committed")


def test_mv_page_esco_fits_manager_approves_and_sees_savings(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    log_in(page, sqlite_demo_server, "esco")
    page.goto(f"{sqlite_demo_server.url}/contracts/WX-SMZX-2018/mv?utility=electricity")
    page.click("#fit")
    page.wait_for_selector("#versions >> text=待审批")
    assert page.locator("#versions button.approve").count() == 0  # an ESCO proposes, never decides
    page.click("#logout")
    log_in(page, sqlite_demo_server, "manager")
    page.goto(f"{sqlite_demo_server.url}/contracts/WX-SMZX-2018/mv?utility=electricity")
    model = page.inner_text("#model")
    assert "CV(RMSE)" in model and "BIC" in model and "≤ 25%" in model
    page.click("#versions button.approve")
    page.wait_for_selector("#savings")
    assert page.locator("#chart-baseline svg polyline").count() >= 2
    assert page.locator("#chart-reporting svg").count() == 1
    rows = page.locator("#savings tbody tr")
    assert rows.count() >= 12
    assert "2018-12-01" in rows.first.inner_text()
    screenshot(page, "mv-electricity")


def test_manager_approves_and_issues_a_settlement_finance_sees_it(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    from test_web import _approved_wuxi_settlement

    number = _approved_wuxi_settlement(sqlite_demo_server)
    log_in(page, sqlite_demo_server, "manager")
    page.click("nav.main >> text=结算")
    page.wait_for_url("**/settlements")
    page.click(f"text={number}")
    assert "1,307,829.01" in page.inner_text("#amounts")
    page.click("#action-submit")
    page.wait_for_selector("#settlement-status >> text=待审批")
    page.context.clear_cookies()
    log_in(page, sqlite_demo_server, "manager2")  # four eyes: a second manager approves
    page.goto(f"{sqlite_demo_server.url}/settlements/{number}")
    shown: list[str] = []
    for action, status in (("approve", "已批准"), ("issue", "已出具")):
        page.click(f"#action-{action}")  # approve and issue: a page says what happens, with the amount
        page.wait_for_url(f"**/settlements/{number}/confirm/{action}")
        shown.append(page.inner_text("#confirm"))
        page.click("#confirm-action")
        page.wait_for_selector(f"#settlement-status >> text={status}")
    assert len(shown) == 2 and all("1,307,829.01" in m for m in shown)
    assert page.locator("#pdf").count() == 1
    screenshot(page, "settlement-issued")


def test_htmx_works_under_the_content_security_policy(browser, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """The policy allows scripts from /static only: htmx swaps, the app's handlers (formerly inline) run, and
    the browser reports no violation (a context of its own, enforcing the policy)."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: violations.append(str(e)))
    log_in(page, sqlite_demo_server, "manager")
    page.evaluate("window.__notReloaded = true")
    with page.expect_response(lambda r: "/contracts?" in r.url and r.request.headers.get("hx-request") == "true"):
        page.select_option("select[name=type]", "hybrid")
    assert page.evaluate("window.__notReloaded") is True  # swapped in place by htmx
    page.goto(f"{sqlite_demo_server.url}/carbon/factors")
    years = page.locator("select[data-autosubmit] option").all_inner_texts()
    if len(years) > 1:  # the year select submits its form from app.js, not an inline handler
        with page.expect_navigation():
            page.select_option("select[data-autosubmit]", years[-1])
        assert f"year={years[-1]}" in page.url
    page.goto(f"{sqlite_demo_server.url}/statements")
    page.goto(f"{sqlite_demo_server.url}/account")
    assert page.locator("#token-table").count() == 1
    context.close()
    assert violations == []


@pytest.mark.parametrize("settled_demo_server", ["sqlite"], indirect=True)
def test_manager_selects_all_drafts_of_a_contract_confirms_and_sees_them_submitted(
        page, settled_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """The settlements list: filter to a contract's drafts, tick "select this page", review the count and
    total, confirm, and the list shows them waiting for approval."""
    from test_bulk_settling import _drafted_syn_contract

    server = settled_demo_server
    code = _drafted_syn_contract(server, binhu=False, least=1)
    log_in(page, server, "manager")
    page.goto(f"{server.url}/settlements?contract={code}&status=draft")
    boxes = page.locator("#settlement-rows input[name=number]")
    n = boxes.count()
    assert n >= 1 and page.locator("h1").inner_text() == "结算审批"
    page.check("#select-page")
    assert all(boxes.nth(i).is_checked() for i in range(n))
    screenshot(page, "settlements-bulk-list")
    page.click("#bulk-submit")
    page.wait_for_selector("#bulk-plan")
    assert page.get_attribute("#bulk-plan", "data-count") == str(n)
    assert f"将提交 {n} 份结算单审批" in page.inner_text("#bulk-plan")
    screenshot(page, "bulk-confirm")
    page.click("#bulk-confirm")
    page.wait_for_selector("#bulk-outcome")
    assert page.get_attribute("#bulk-outcome", "data-done") == str(n)
    page.click("#bulk-back")
    page.wait_for_selector("#settlement-rows")
    page.goto(f"{server.url}/settlements?contract={code}")
    statuses = page.locator("#settlement-rows tbody tr[data-status=submitted]")
    assert statuses.count() >= n and page.locator("#settlement-rows tbody tr[data-status=draft]").count() == 0
    assert "待审批" in page.inner_text("#settlement-rows")
