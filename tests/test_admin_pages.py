"""The administrator's pages over HTTP on the demo (issue 16): the audit log as a reader takes it in (names,
local time, translated actions, each field from → to, no JSON escapes), its filters and CSV export, who may
read it; the users page's names and pickers, password reset, role change, deactivation, each audited, and the
guards on one's own account and on the last active administrator."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from conftest import LiveServer
from sqlalchemy import event
from sqlmodel import Session, select
from test_web import CSRF, HOSPITAL, WUXI, client, login

from emc.clock import today


def entries(page: str) -> list[str]:
    """The audit rows of a page, each as its HTML."""
    body = page.split('<section id="results">', 1)[1]
    return re.findall(r'<tr class="audit-entry".*?</tr>\s*(?=<tr class="audit-entry"|</tbody>)', body, re.S)


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def total(page: str) -> int:
    return int(re.search(r'id="audit-total">[^<]*?([\d,]+)', page).group(1).replace(",", ""))  # type: ignore[union-attr]


START = date(2023, 6, 1)  # after the finance tests' months, so their month pages hold only their own


def _own_custody_contract(code: str) -> Any:
    """The finance tests' custody contract with a company, institution and months of its own: an approval
    here must not show up on the pages and exports the other tests of the shared demo count."""
    from test_finance_pages import _custody_contract

    from emc.contracts.spec import ContractFile

    data = _custody_contract(code).model_dump(mode="python", by_alias=True)  # type: ignore[attr-defined]
    data["contract"]["start"] = START
    data["esco"] = {"code": "T-H5", "name": "审计测试节能服务公司"}
    for inst in data["institutions"]:
        inst.update(code="T-H5-INST", name="审计测试用能单位")
    for meter in data["meters"]:
        meter["institution"] = "T-H5-INST"
    return ContractFile.model_validate(data)


def _approved_settlement(server: LiveServer) -> str:
    """A contract of this test's own (test_finance_pages' monthly cost custody: it settles without metered
    savings) whose first month is drafted here, then submitted by one manager and approved by another, over
    HTTP (the demo's own settlements belong to other tests' workflows)."""

    from emc.contracts.models import Contract
    from emc.contracts.service import load_contract
    from emc.settlement import drafting
    from emc.settlement.models import Settlement

    code = "H5-AUDIT"
    with Session(server.engine) as s:
        contract = s.exec(select(Contract).where(Contract.code == code)).first()
        if contract is None:
            load_contract(s, _own_custody_contract(code), source="test_admin_pages", actor="t")
            contract = s.exec(select(Contract).where(Contract.code == code)).one()
        rows = drafting.draft(s, contract, START, actor="t") or list(s.exec(
            select(Settlement).where(Settlement.contract_id == contract.id)))
        number, status = rows[0].number, rows[0].status
        s.commit()
    if status == "draft":
        m, mt = login(server, "manager")
        a, at = login(server, "manager2")
        amount = str(m.get(f"/api/settlements/{number}").json()["net_to_esco"])
        assert m.post(f"/settlements/{number}/submit", data={"csrf_token": mt},
                      headers={"HX-Request": "true"}).status_code == 204
        assert a.post(f"/settlements/{number}/approve", data={"csrf_token": at, "confirm_amount": amount},
                      headers={"HX-Request": "true"}).status_code == 204
    return number


# -- the audit log --------------------------------------------------------------------------------------
def test_the_log_reads_chinese_names_and_folds_long_values(demo_server: LiveServer) -> None:
    c, _ = login(demo_server, "admin")
    page = c.get("/audit", params={"kind": "esco", "action": "esco.create"}).text
    rows = entries(page)
    assert rows and total(page) == len(rows)
    assert "\\u" not in page  # no JSON escapes anywhere on the page
    words = text(" ".join(rows))
    assert "常州恒远综合能源服务有限公司" in words  # the company's name, as written in its contract file
    assert all("新建节能服务公司" in text(r) and "演示数据生成" in text(r) for r in rows)  # action and actor translated
    assert "esco.create" not in words and "name_en" not in words  # no internal keys
    assert "英文名称" in words and "统一社会信用代码" in words
    tariffs = c.get("/audit", params={"kind": "tariff"}).text
    assert '<details class="long">' in tariffs and "\\u" not in tariffs
    assert "江苏 工商业分时电价" in html.unescape(tariffs)  # inside a folded price table: Chinese as Chinese


def test_a_settlement_approval_shows_from_and_to(demo_server: LiveServer) -> None:
    number = _approved_settlement(demo_server)
    c, _ = login(demo_server, "admin")
    page = c.get("/audit", params={"action": "settlement.approve", "object_id": number}).text
    [row] = entries(page)
    assert re.search(r"状态\s*待审批\s*→\s*已批准", text(row)), text(row)
    assert "应付节能服务公司净额" in text(row) and "批准结算" in text(row)
    assert "江苏省机关事务管理局 复核" in text(row) and "机关事务管理局合同管理员" in text(row)  # who, and role
    assert f'href="/settlements/{number}"' in row  # the object, linked
    when = re.search(r'class="nowrap">([^<]+)<', row).group(1)  # type: ignore[union-attr]
    assert when.startswith(str(today())) or when.startswith(str(today() - timedelta(days=1)))  # local time


def test_filters_narrow_the_log(demo_server: LiveServer) -> None:
    c, _ = login(demo_server, "admin")
    everything = total(c.get("/audit").text)
    institutions = c.get("/audit", params={"kind": "institution"}).text
    assert 0 < total(institutions) < everything
    assert all("公共机构" in text(r) for r in entries(institutions))
    cz = c.get("/audit", params={"kind": "institution", "object_id": "CZ-"}).text
    assert 0 < total(cz) < total(institutions)
    assert all(o.startswith("CZ-") for o in re.findall(r'data-object="([^"]+)"', cz))
    # dates are days in the installation's zone: today holds the demo's events, a day before it holds none
    day = today()
    assert total(c.get("/audit", params={"kind": "institution", "date_from": str(day - timedelta(days=1)),
                                         "date_to": str(day)}).text) == total(institutions)
    blank = c.get("/audit", params={"kind": "institution", "date_from": "", "date_to": ""})  # as the form sends
    assert blank.status_code == 200 and total(blank.text) == total(institutions)
    bad = c.get("/audit", params={"date_from": "2026-13-01"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "date_from: '2026-13-01' is not a date" in html.unescape(bad.text)
    early = c.get("/audit", params={"date_to": str(day - timedelta(days=400))}).text
    assert total(early) == 0 and "没有符合条件的记录" in early
    # actor: a picker of the people (and the jobs) who acted; action: exactly the one chosen
    login(demo_server, "finance")
    mine = c.get("/audit", params={"actor": "finance", "action": "login"}).text
    assert 'value="finance" selected' in mine and 'value="login" selected' in mine
    assert total(mine) >= 1 and all("登录" in text(r) and "登录失败" not in text(r) for r in entries(mine))
    assert "财务处 (finance, 财务)" in html.unescape(mine)  # the picker names the person and role


def test_the_csv_export_equals_the_filtered_page(demo_server: LiveServer) -> None:
    c, _ = login(demo_server, "admin")
    params = {"kind": "institution", "object_id": "CZ-"}
    page = c.get("/audit", params=params).text
    assert 'href="/audit.csv?kind=institution&amp;object_id=CZ-"' in page
    r = c.get("/audit.csv", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["时间", "操作人", "角色", "操作", "对象类型", "对象编号", "对象", "变更", "原因"]
    shown = entries(page)
    assert len(rows) - 1 == len(shown) == total(page)
    for line, row in zip(rows[1:], shown, strict=True):
        assert line[0] in text(row) and line[1] in text(row) and line[3] in text(row)
        assert f'data-object="{line[5]}"' in row and line[6] in text(row)
        assert "\\u" not in ",".join(line)
        for change in filter(None, line[7].split("\n")):
            assert change.split(": ", 1)[0] in text(row)  # each field the page shows
    assert any("常州" in line[6] for line in rows[1:])  # the object by its Chinese name
    en, token = login(demo_server, "admin")
    en.post("/lang/en", data={"csrf_token": token, "next": "/audit"})
    assert en.get("/audit.csv", params=params).content.decode("utf-8-sig").startswith("When,Who,")


def test_only_an_administrator_reads_the_log(demo_server: LiveServer) -> None:
    for name in ("manager", "binhu", "finance", "viewer", "esco", "esco2"):
        c, _ = login(demo_server, name)
        assert c.get("/audit").status_code == 403, name
        assert c.get("/audit.csv").status_code == 403, name
    anonymous = client(demo_server)
    assert anonymous.get("/audit").status_code == 303 and anonymous.get("/audit.csv").status_code == 303


@pytest.fixture
def statements(demo_server: LiveServer) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(demo_server.engine, "before_cursor_execute", count)
    yield seen
    event.remove(demo_server.engine, "before_cursor_execute", count)


def test_the_log_costs_the_same_statements_for_one_entry_or_a_full_page(demo_server: LiveServer,
                                                                        statements: list[str]) -> None:
    c, _ = login(demo_server, "admin")
    counts = {}
    for name, params in {"one": {"action": "meter.create", "object_id": "CZ-ZLRMYY-E01"},
                         "page": {"action": "meter.create"}}.items():
        c.get("/audit", params=params)  # warm
        statements.clear()
        page = c.get("/audit", params=params).text
        counts[name] = (len(statements), len(entries(page)))
    assert counts["one"][1] == 1 and counts["page"][1] == 50
    assert counts["one"][0] == counts["page"][0], counts
    statements.clear()
    assert len(entries(c.get("/audit").text)) == 50
    # a page of every kind: at most one more statement per kind of object named (and per kind of region or
    # institution named in the changes) — bounded by the kinds the product has, not by the entries
    from emc.audit.models import AuditEvent

    with Session(demo_server.engine) as s:
        kinds = len(set(s.exec(select(AuditEvent.object_type)).all()))
    assert len(statements) <= counts["page"][0] + kinds + 2, (len(statements), counts, kinds)


# -- the users page -------------------------------------------------------------------------------------
def _admin(server: LiveServer) -> tuple[object, str]:
    return login(server, "admin")


def _create(server: LiveServer, username: str, role: str, password: str, region: str = "", esco: str = "") -> None:
    c, token = login(server, "admin")
    if f'id="user-{username}"' in c.get("/admin/users").text:
        return
    r = c.post("/admin/users", data={"username": username, "password": password, "role": role, "region": region,
                                     "esco": esco, "csrf_token": token}, headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text


def test_users_page_names_regions_and_escos_and_offers_pickers(demo_server: LiveServer) -> None:
    c, _ = login(demo_server, "admin")
    page = c.get("/admin/users").text
    binhu = re.search(r'<tr id="user-binhu".*?</tr>', page, re.S).group(0)  # type: ignore[union-attr]
    assert "滨湖区" in binhu and "320211" in binhu
    esco = re.search(r'<tr id="user-esco".*?</tr>', page, re.S).group(0)  # type: ignore[union-attr]
    assert "国网" in text(esco) or "有限公司" in text(esco)  # the company's name beside its code
    add = page.split('id="add-user"', 1)[1]
    assert re.search(r'<select name="region">.*?<option value="320211"\s*>[^<]*滨湖区 \(320211\)</option>', add, re.S)
    assert re.search(r'<select name="esco">.*?\(CZ-HYNY\)</option>', add, re.S)


def test_password_reset_ends_the_old_session_and_the_old_password(demo_server: LiveServer) -> None:
    _create(demo_server, "h5-reset", "viewer", "first-pass-1")
    user, _ = login(demo_server, "h5-reset", "first-pass-1")
    admin, token = login(demo_server, "admin")
    mismatch = admin.post("/admin/users/h5-reset/password", data={
        "password": "second-pass-2", "confirm": "second-pass-3", "csrf_token": token}, headers={"HX-Request": "true"})
    assert mismatch.status_code == 422 and "两次输入的新密码不一致" in mismatch.text
    assert user.get("/api/me").status_code == 200  # nothing happened
    done = admin.post("/admin/users/h5-reset/password", data={
        "password": "second-pass-2", "confirm": "second-pass-2", "reason": "忘记密码（电话核实）",
        "csrf_token": token}, headers={"HX-Request": "true"})
    assert done.status_code == 200 and "已重置 h5-reset 的密码" in done.text
    assert user.get("/api/me").status_code == 401  # the old session is dead
    fresh = client(demo_server)
    csrf = CSRF.search(fresh.get("/login").text).group(1)  # type: ignore[union-attr]
    assert fresh.post("/login", data={"username": "h5-reset", "password": "first-pass-1",
                                      "csrf_token": csrf}).status_code == 401
    again, _ = login(demo_server, "h5-reset", "second-pass-2")
    assert again.get("/api/me").json()["username"] == "h5-reset"
    log = admin.get("/audit", params={"kind": "user", "object_id": "h5-reset", "action": "user.password_reset"}).text
    [row] = entries(log)
    assert "管理员重置密码" in text(row) and "忘记密码（电话核实）" in text(row) and "结束的登录" in text(row)


def test_role_change_takes_effect_on_the_next_request_and_is_audited(demo_server: LiveServer) -> None:
    _create(demo_server, "h5-role", "viewer", "role-pass-1", region="320211")
    user, _ = login(demo_server, "h5-role", "role-pass-1")

    def codes() -> set[str]:
        return {i["code"] for i in user.get("/api/contracts", params={"page_size": 100}).json()["items"]}

    assert WUXI in codes() and HOSPITAL not in codes()
    admin, token = login(demo_server, "admin")
    bad = admin.post("/admin/users/h5-role/role", data={"role": "manager", "region": "", "csrf_token": token},
                     headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "a manager needs the region" in html.unescape(bad.text)
    assert codes() == codes() and WUXI in codes()  # refused: nothing changed
    r = admin.post("/admin/users/h5-role/role", data={"role": "manager", "region": "320400", "reason": "调往常州",
                                                      "csrf_token": token}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "已修改 h5-role 的角色或数据范围" in r.text
    row = re.search(r'<tr id="user-h5-role".*?</tr>', r.text, re.S).group(0)  # type: ignore[union-attr]
    assert "常州市" in row and "机关事务管理局合同管理员" in row
    assert user.get("/api/me").json()["role"] == "manager"  # the same session, its next request
    assert HOSPITAL in codes() and WUXI not in codes()
    log = admin.get("/audit", params={"object_id": "h5-role", "action": "user.role_change"}).text
    [entry] = entries(log)
    words = text(entry)
    assert re.search(r"角色\s*只读用户\s*→\s*机关事务管理局合同管理员", words), words
    assert re.search(r"地区\s*滨湖区 \(320211\)\s*→\s*常州市 \(320400\)", words), words  # names, with codes
    assert "调往常州" in words and "系统管理员" in words
    again = admin.post("/admin/users/h5-role/role", data={"role": "manager", "region": "320400", "csrf_token": token})
    assert again.status_code == 200
    assert total(admin.get("/audit", params={"object_id": "h5-role", "action": "user.role_change"}).text) == 1


def test_deactivation_ends_sessions_and_reactivation_restores_the_login(demo_server: LiveServer) -> None:
    _create(demo_server, "h5-off", "viewer", "off-pass-1")
    user, _ = login(demo_server, "h5-off", "off-pass-1")
    admin, token = login(demo_server, "admin")
    r = admin.post("/admin/users/h5-off/active", data={"active": "false", "reason": "=1+2 离职",
                                                       "csrf_token": token}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "已停用 h5-off" in r.text
    assert user.get("/api/me").status_code == 401
    assert admin.post("/admin/users/h5-off/active", data={"active": "true", "csrf_token": token}).status_code == 200
    login(demo_server, "h5-off", "off-pass-1")
    log = admin.get("/audit", params={"object_id": "h5-off", "action": "user.deactivate"}).text
    [row] = entries(log)
    assert re.search(r"启用\s*是\s*→\s*否", text(row)) and "=1+2 离职" in text(row)
    exported = admin.get("/audit.csv", params={"object_id": "h5-off", "action": "user.deactivate"})
    [line] = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))[1:]
    assert line[-1] == "'=1+2 离职"  # a reason that would run as a formula in Excel is quoted


def test_an_administrator_cannot_demote_or_deactivate_themself(demo_server: LiveServer) -> None:
    admin, token = login(demo_server, "admin")
    for path, data in (("/admin/users/admin/active", {"active": "false"}),
                       ("/admin/users/admin/role", {"role": "viewer"})):
        r = admin.post(path, data={**data, "csrf_token": token}, headers={"HX-Request": "true"})
        assert r.status_code == 409 and "不能停用自己或修改自己的角色" in r.text
    assert admin.get("/api/me").json()["role"] == "admin"


def test_the_last_active_administrator_stays(session: Session) -> None:
    """The guard a page cannot reach (an administrator acting on another): on a database of its own."""
    from emc.org.admin import GuardRefused, change_role, set_user_active
    from emc.org.models import Role
    from emc.org.service import UserCreate, create_user, load_regions

    load_regions(session)
    only = create_user(session, UserCreate(username="only", password="only-pass-1", role=Role.admin), actor="t")
    session.commit()
    with pytest.raises(GuardRefused, match="last active administrator"):
        change_role(session, only, "viewer", region=None, esco=None, actor="cli")
    session.rollback()
    with pytest.raises(GuardRefused, match="last active administrator"):
        set_user_active(session, only, False, actor="cli")
    session.rollback()
    second = create_user(session, UserCreate(username="second", password="second-pass", role=Role.admin), actor="t")
    assert change_role(session, only, "viewer", region="320200", esco=None, actor=second, reason="交接") is True
    session.commit()
    with pytest.raises(GuardRefused, match="last active administrator"):
        set_user_active(session, second, False, actor="cli")
    session.rollback()
    assert (only.role, second.role, second.is_active) == ("viewer", "admin", True)


def test_in_the_browser_a_role_is_changed_from_the_pickers_and_the_log_filters_as_you_pick(
        page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    from test_browser import log_in

    server = sqlite_demo_server
    _create(server, "h5-browser", "viewer", "browser-pass-1")
    log_in(page, server, "admin")
    page.goto(f"{server.url}/admin/users")
    row = page.locator("#user-h5-browser")
    row.locator("details.user-edit summary").first.click()
    form = row.locator("form.change-role")
    form.locator("select[name=role]").select_option("manager")
    form.locator("select[name=region]").select_option("320211")
    form.locator("input[name=reason]").fill("浏览器测试")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#user-h5-browser td.region:has-text('滨湖区')")
    assert "机关事务管理局合同管理员" in page.locator("#user-h5-browser td.role").inner_text()
    assert page.url.endswith("/admin/users")  # htmx swapped the block; the page stayed
    page.goto(f"{server.url}/audit")
    with page.expect_response(lambda r: "/audit?" in r.url and r.request.headers.get("hx-request") == "true"):
        page.select_option("#audit-filters select[name=action]", "user.role_change")
    from playwright.sync_api import expect

    expect(page.locator("tr.audit-entry").first).to_contain_text("修改角色或数据范围")  # waits for the swap
    expect(page.locator("tr.audit-entry").filter(has_not_text="修改角色或数据范围")).to_have_count(0)
    assert "action=user.role_change" in page.url  # the filter is in the address, to share or go back to
    rows = page.locator("tr.audit-entry")
    assert rows.count() >= 1
    assert all("修改角色或数据范围" in r for r in rows.all_inner_texts())
    first = page.locator("tr.audit-entry[data-object='h5-browser']").inner_text()
    assert "浏览器测试" in first and "滨湖区 (320211)" in first


def test_every_action_kind_and_field_in_the_log_has_a_label(demo_server: LiveServer) -> None:
    """No internal key reaches the page: each action, object kind and changed field the demo's log holds (and
    what the tests before this one added) is translated in both catalogs."""
    from emc.audit.models import AuditEvent
    from emc.web.i18n import catalog

    with Session(demo_server.engine) as s:
        events = s.exec(select(AuditEvent)).all()
    needed = {f"audit.do.{e.action}" for e in events} | {f"audit.kind.{e.object_type}" for e in events}
    needed |= {f"audit.field.{k}" for e in events for side in (e.before or {}, e.after or {}) for k in side}
    for lang in ("zh", "en"):
        assert needed - catalog(lang).keys() == set(), lang
