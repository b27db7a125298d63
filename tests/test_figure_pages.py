"""Issue 15's figure pages at province scale keep their numbers: a leaderboard is served a bounded page at a time
and its pages, put together, are the whole board (the same institutions, order, ranks and counts as the JSON
API's full board); the portfolio's paid / due totals, now summed by the database, equal a direct sum over the
settlements of the contracts the user sees. For a province-wide manager and a district manager (滨湖区), over a
closed year, the year still open and a year with gaps, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from decimal import Decimal

from conftest import LiveServer
from sqlalchemy import select
from sqlmodel import Session
from test_web import login

from emc import clock
from emc.contracts.models import Contract
from emc.settlement.models import Settlement

WUXI, BINHU = "320200", "320211"
ROW = re.compile(r'<tr class="[^"]*"><td class="num">([^<]+)</td><td><a href="/carbon/institutions/([^"?]+)\?')


def _board_pages(c, params: dict[str, object]) -> tuple[list[tuple[int | None, str]], str, int]:  # type: ignore[no-untyped-def]
    """Every page of a leaderboard, followed by its own "next" links (htmx attributes included)."""
    first = c.get("/carbon/leaderboards", params=params, headers={"HX-Request": "true"})
    assert first.status_code == 200
    html, rows, pages = first.text, [], 0
    while True:
        pages += 1
        board = html.split('id="board"')[1]
        got = ROW.findall(board)
        assert len(got) <= int(params["per_page"])  # type: ignore[call-overload]
        rows += [(None if rank.strip() == "—" else int(rank), code) for rank, code in got]
        nxt = re.search(r'<a href="(/carbon/leaderboards\?[^"]+)" hx-get="\1"[^>]*>下一页</a>', board)
        if not nxt:
            return rows, first.text, pages
        html = c.get(nxt.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"}).text


def test_leaderboard_pages_together_are_the_whole_board(demo_server: LiveServer) -> None:
    today = clock.today()
    checked = 0
    for user, region in (("manager", WUXI), ("binhu", BINHU)):
        c, _ = login(demo_server, user)
        # a closed year, the year still open, and 2021 (the demo's ledger starts in 2022: a year with gaps)
        for year in (2023, today.year, 2021):
            for category in ("organ", "school"):
                params: dict[str, object] = {"year": year, "category": category, "indicator": "energy_per_area",
                                             "region": region, "per_page": 3}
                rows, first, pages = _board_pages(c, params)
                api = c.get("/api/carbon/leaderboards", params={k: v for k, v in params.items()
                                                                 if k != "per_page"}).json()
                assert rows == [(r["rank"], r["institution"]) for r in api], (user, year, category)
                ranked = sum(1 for r in api if r["complete"])
                coverage = re.search(r'id="board-coverage">([^<]+)<', first).group(1)  # type: ignore[union-attr]
                assert f"排名 {ranked} 家" in coverage and f"{len(api) - ranked} 家数据不完整" in coverage, coverage
                assert pages == max(1, -(-len(api) // 3))
                checked += len(api) > 3
    assert checked >= 2  # some boards did span several pages
    binhu, _ = login(demo_server, "binhu")
    assert binhu.get("/carbon/leaderboards", params={"region": WUXI}).status_code == 404
    # the page size is bounded: a request for the whole board at once is refused, naming the field
    r = binhu.get("/carbon/leaderboards", params={"per_page": 100_000})
    assert r.status_code == 422 and "per_page" in r.text


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_the_portfolio_totals_equal_a_sum_over_the_settlements(settled_demo_server: LiveServer) -> None:
    for user in ("manager", "binhu"):
        c, _ = login(settled_demo_server, user)
        page = c.get("/portfolio", params={"page_size": "100"}).text
        codes = set(re.findall(r'<tr><td class="nowrap"><a href="/contracts/([^"]+)">', page))
        totals = re.search(r'id="portfolio-totals">(.*?)</div>\s*</div>', page, re.S).group(1)  # type: ignore[union-attr]
        shown = [_money(v) for v in re.findall(r"<strong>([\d,]+\.\d\d)</strong>", totals)]
        with Session(settled_demo_server.engine) as session:
            rows = session.execute(select(Settlement.status, Settlement.net_to_esco).join(
                Contract, Contract.id == Settlement.contract_id).where(Contract.code.in_(codes))).all()
        paid = sum((n for s, n in rows if s == "paid"), Decimal("0.00"))
        due = sum((n for s, n in rows if s in ("approved", "issued")), Decimal("0.00"))
        assert codes and shown[1:3] == [paid, due], (user, shown, paid, due)
        assert due > 0 or user == "binhu"


def test_a_category_read_equals_the_whole_read_restricted(demo_server: LiveServer) -> None:
    """The leaderboard reads only its category's institutions: every figure, like-for-like figure and month of
    coverage of those institutions is the one the whole region's read gives them (the board before issue 15)."""
    from emc.carbon.reads.figures import compared, region
    from emc.org.models import Institution, User
    from emc.org.scope import Scope

    today = clock.today()
    with Session(demo_server.engine) as session:
        seen = 0
        for username, path in (("manager", None), ("binhu", region(session, BINHU).path)):
            user = session.execute(select(User).where(User.username == username)).scalars().one()
            scope = Scope.of(session, user)
            for year in (2023, today.year, 2021):
                whole = compared(session, scope, year, path, today)
                for category in ("organ", "school", "hospital"):
                    ids = set(session.execute(select(Institution.id).where(Institution.category == category)
                                              ).scalars())
                    part = compared(session, scope, year, path, today, category=category)
                    for got, full in zip(part[:2], whole[:2], strict=True):  # like for like, now and before
                        assert got == {i: f for i, f in full.items() if i in ids}, (username, year, category)
                    assert part[2].figures == {i: f for i, f in whole[2].figures.items() if i in ids}
                    assert {i: part[3].months(i) for i in ids} == {i: whole[3].months(i) for i in ids}
                    assert {i: part[3].complete(i) for i in ids} == {i: whole[3].complete(i) for i in ids}
                    assert part[3].elapsed == whole[3].elapsed
                    seen += len(part[0]) > 0
        assert seen >= 4  # like-for-like figures were compared, not only empty reads


def test_a_districts_institutions_are_paged_and_together_are_the_statistics_rows(demo_server: LiveServer) -> None:
    """A district's dashboard lists its institutions a page at a time; the pages, followed by their own links,
    are the statistics report's rows for the district, in its order."""
    c, _ = login(demo_server, "binhu")
    rows = c.get("/api/carbon/statistics", params={"year": 2023, "region": BINHU}).json()
    html = c.get("/carbon", params={"year": 2023, "region": BINHU, "per_page": 1}, headers={"HX-Request": "true"}).text
    listed, pages = [], 0
    while True:
        pages += 1
        table = html.split('id="carbon-institutions"')[1].split("</section>")[0]
        got = re.findall(r'<tr><td><a href="/carbon/institutions/([^"?]+)\?', table)
        assert len(got) == 1
        listed += got
        nxt = re.search(r'<a href="(/carbon\?[^"]+)" hx-get="\1"[^>]*>下一页</a>', table)
        if not nxt:
            break
        html = c.get(nxt.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"}).text
    assert listed == [r["institution"] for r in rows] and pages == len(rows) > 1
