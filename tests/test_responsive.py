"""Phones and desktops (issue 16): at 390 px no page of the demo scrolls sideways and the navigation folds
behind a menu; at 1440 px the navigation stays on one line in both languages. Each role's pages are walked
from its own navigation plus the first detail link on each list, and screenshots land in test-artifacts/. Every demo
user lands on its own page (portfolio or ESCO home) and that landing fits both widths
(test-artifacts/landing-<user>-<width>.png)."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from conftest import LiveServer, screenshot
from test_browser import log_in

pytestmark = pytest.mark.browser

ROLES = ["manager", "esco", "finance", "admin"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


def _context(browser, viewport: dict[str, int], lang: str = "zh-CN"):  # type: ignore[no-untyped-def]
    return browser.new_context(viewport=viewport, locale=lang, bypass_csp=True)


def _overflow(page) -> int:  # type: ignore[no-untyped-def]
    """How far the document reaches past the viewport's right edge, in CSS pixels."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def _shape(path: str) -> str:
    """A page kind: the path with its codes and numbers blanked, so one contract stands for all contracts."""
    return "/".join("*" if re.fullmatch(r"[A-Z0-9][A-Z0-9_.-]*", part) else part for part in path.split("/"))


def _pages_of(page, server: LiveServer, limit: int = 40) -> list[str]:  # type: ignore[no-untyped-def]
    """Every kind of page the role reaches from its navigation within two clicks (API docs aside: Swagger's
    own page; downloads aside), one page per kind."""
    nav = [a for a in page.eval_on_selector_all("nav.main a", "els => els.map(e => e.getAttribute('href'))")
           if a and not a.startswith("/api/")]
    seen = {_shape(p) for p in nav}
    paths, frontier = list(nav), list(nav)
    for _depth in range(2):
        found = []
        for path in frontier:
            page.goto(f"{server.url}{path}")
            hrefs = page.eval_on_selector_all("main a[href^='/']", "els => els.map(e => e.getAttribute('href'))")
            for href in hrefs:
                target = urlparse(href).path
                if target.startswith(("/api/", "/static/", "/login", "/logout")) or \
                        target.endswith((".pdf", ".csv", ".xlsx", ".zip", "/pdf", "/csv", "/xlsx", "/zip")):
                    continue
                if _shape(target) not in seen and len(paths) < limit:
                    seen.add(_shape(target))
                    paths.append(target)
                    found.append(target)
        frontier = found
    return paths


# the settled demo (drafts, approvals, statements) on SQLite: its pages, not its database, are under test
@pytest.mark.parametrize("settled_demo_server", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ROLES)
def test_no_page_scrolls_sideways_on_a_phone(browser, settled_demo_server: LiveServer, role: str) -> None:  # type: ignore[no-untyped-def]
    server = settled_demo_server
    context = _context(browser, PHONE)
    page = context.new_page()
    try:
        log_in(page, server, role)
        # the navigation is folded: its links are hidden until the menu button opens them
        assert page.locator("nav.main").is_hidden()
        page.click("label.nav-button")
        assert page.locator("nav.main").is_visible()
        assert page.locator("nav.main a").first.is_visible()
        screenshot(page, f"phone-{role}-menu")
        wide, visited = {}, []
        for path in _pages_of(page, server):
            response = page.goto(f"{server.url}{path}")
            assert response is not None and response.status == 200, path
            visited.append(path)
            if (over := _overflow(page)) > 0:
                wide[path] = over
        assert len(visited) >= 10, visited  # the walk reached the role's pages, not just its landing
        # tables scroll inside their own box: a list of contracts is not one character per line
        page.goto(f"{server.url}/contracts")
        assert page.evaluate("document.documentElement.scrollHeight") < 6000
        assert wide == {}, f"pages wider than a 390 px phone (px past the edge): {wide}"
        page.goto(f"{server.url}/contracts")
        screenshot(page, f"phone-{role}-landing")
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_desktop_navigation_stays_on_one_line(browser, sqlite_demo_server: LiveServer, lang: str) -> None:  # type: ignore[no-untyped-def]
    context = _context(browser, DESKTOP)
    page = context.new_page()
    try:
        log_in(page, sqlite_demo_server, "admin")  # the longest navigation
        if lang == "en":
            page.click("#lang-switch")
            page.wait_for_load_state()
        tops = page.eval_on_selector_all("nav.main a", "els => els.map(e => Math.round(e.getBoundingClientRect().top))")
        assert len(tops) >= 8 and len(set(tops)) == 1, f"navigation wraps at 1440 px ({lang}): link tops {tops}"
        heights = page.eval_on_selector_all(
            "nav.main a", "els => els.map(e => Math.round(e.getBoundingClientRect().height))")
        assert len(set(heights)) == 1, f"a navigation label breaks over two lines ({lang}): heights {heights}"
        assert page.locator("label.nav-button").is_hidden()
        assert _overflow(page) <= 0
        screenshot(page, f"desktop-admin-{lang}")
    finally:
        context.close()


# every demo user and where it lands: the bureau's roles on the portfolio, an ESCO on its own home
LANDINGS = {"admin": "/portfolio", "manager": "/portfolio", "manager2": "/portfolio", "binhu": "/portfolio",
            "finance": "/portfolio", "viewer": "/portfolio", "esco": "/home", "esco2": "/home"}
HEADINGS = {"/portfolio": "合同能源管理项目总览", "/home": "首页"}


@pytest.mark.parametrize("role", list(LANDINGS))
def test_each_role_lands_on_its_page_at_1440_and_390(browser, sqlite_demo_server: LiveServer, role: str) -> None:  # type: ignore[no-untyped-def]
    """Logged in from the login page (no target), each role lands where it works; the landing fits a phone
    (no sideways scroll) and a desktop, and its screenshots land in test-artifacts/landing-<user>-<width>.png."""
    server = sqlite_demo_server
    for viewport in (DESKTOP, PHONE):
        context = _context(browser, viewport)
        page = context.new_page()
        try:
            page.goto(f"{server.url}/login")
            page.fill("input[name=username]", role)
            page.fill("input[name=password]", f"demo-{role}")
            page.click("#login-submit")
            page.wait_for_url(f"{server.url}{LANDINGS[role]}")
            assert page.inner_text("main h1").startswith(HEADINGS[LANDINGS[role]])
            page.wait_for_selector("#bell-count.badge", state="attached")  # the header's last htmx load
            width = viewport["width"]
            assert page.evaluate("document.scrollingElement.scrollWidth") <= width + 1, f"{role} at {width} px"
            screenshot(page, f"landing-{role}-{width}")
        finally:
            context.close()
