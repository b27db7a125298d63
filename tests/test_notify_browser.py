"""The bell and the inbox in a real browser (Debian chromium through Playwright), under the content security policy."""

from __future__ import annotations

from conftest import LiveServer, screenshot
from test_browser import log_in
from test_notify_web import NUMBER, _draft


def test_the_bell_counts_and_the_inbox_leads_to_the_work_then_clears(page, sqlite_demo_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    _draft(sqlite_demo_server)
    log_in(page, sqlite_demo_server, "manager")
    page.wait_for_selector("#bell-count.badge")  # swapped in by htmx
    assert int(page.inner_text("#bell-count")) >= 1  # loaded by htmx after the page: the page itself pays nothing
    page.click("#bell")
    page.wait_for_url("**/notifications")
    row = page.locator("tr.notification", has_text=NUMBER)
    assert "结算草稿待提交" in row.inner_text()
    row.locator("button", has_text=NUMBER).click()  # opens the settlement (and marks it read)
    page.wait_for_url(f"**/settlements/{NUMBER}")
    page.click("#action-submit")
    page.wait_for_selector("#settlement-status >> text=待审批")
    page.goto(f"{sqlite_demo_server.url}/notifications?show=all")
    assert "已办结" in page.locator("tr.notification", has_text=NUMBER).first.inner_text()  # the draft's: done
    page.context.clear_cookies()
    log_in(page, sqlite_demo_server, "manager2")
    page.goto(f"{sqlite_demo_server.url}/notifications")
    row = page.locator("tr.notification.unread", has_text=NUMBER)
    assert "结算待审批" in row.inner_text()
    screenshot(page, "notifications-inbox")
    row.locator("button", has_text="标为已读").click()  # in place, through htmx
    page.wait_for_selector(f"tr.notification.read >> text={NUMBER}")
