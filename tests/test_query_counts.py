"""No page issues a number of SQL queries that grows with the data.

Two demos, the second five times the first (synthetic contracts, meters, readings, and issued settlements
left unpaid past their payment days), are served by the real app; every main GET page is requested as the
province-wide manager and the statements it sends to the database are counted on the served app's engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import LiveServer, PostgresServer, _fresh_url
from sqlalchemy import Engine, event, func, select, update
from sqlmodel import Session
from test_web import login

from emc.contracts.models import Contract, ContractMeter
from emc.db import make_engine, upgrade
from emc.settlement import drafting, period_inputs, workflow
from emc.settlement.core.periods import settlement_periods
from emc.settlement.models import Settlement

SIZES = {"small": (6, 3), "large": (30, 15)}  # synthetic contracts, issued settlements


def issue_unpaid(engine: Engine, n: int) -> None:
    """Draft, approve (a second manager: four eyes) and issue ``n`` settlements of contracts whose first periods
    settle from the demo's data, issued 100 days ago and not paid: each is overdue for payment."""
    def ago(days: int) -> datetime:
        return datetime.now(UTC) - timedelta(days=days)

    with Session(engine, expire_on_commit=False) as session:
        issued = 0
        for contract in session.execute(select(Contract).order_by(Contract.code)).scalars():
            for period in settlement_periods(period_inputs.terms(session, contract)[-1].terms.contract)[:3]:
                if issued >= n:
                    break
                savepoint = session.begin_nested()
                try:
                    rows = drafting.draft_period(session, contract, period, actor="test")
                    for row in rows:
                        workflow.transition(session, row, "submit", actor="manager", at=ago(110))
                        workflow.transition(session, row, "approve", actor="manager2", at=ago(105))
                        workflow.transition(session, row, "issue", actor="manager", at=ago(100))
                    savepoint.commit()
                    issued += len(rows)
                except Exception:  # noqa: BLE001  (a period that needs a baseline or data: try the next contract)
                    savepoint.rollback()
                    break
        session.commit()
    assert issued >= n, f"only {issued} settlements could be issued"


def build(url: str, synthetic: int, settlements: int) -> None:
    from emc.demo.build import build_demo

    engine = make_engine(url)
    upgrade(engine)
    for _ in build_demo(engine, synthetic_contracts=synthetic, settle=False):
        pass
    issue_unpaid(engine, settlements)
    from emc import clock
    from emc.notify import delivery, sync

    with Session(engine) as session:  # what the scheduler's job does next: the inboxes of the issued statements
        sync.sync(session, clock.today(), settings=delivery.DeliverySettings(smtp_host="", wecom_webhook="",
                                                                            dingtalk_webhook=""))
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
            postgres: PostgresServer | None) -> Iterator[dict[str, LiveServer]]:
    out: dict[str, LiveServer] = {}
    try:
        for size, (synthetic, settlements) in SIZES.items():
            url = _fresh_url(request.param, tmp_path_factory.mktemp(f"qc-{size}"), sqlite_template, postgres)
            build(url, synthetic, settlements)
            out[size] = LiveServer(url).__enter__()
        yield out
    finally:
        for server in out.values():
            server.__exit__(None, None, None)


def biggest_contract(engine: Engine) -> str:
    """The contract with the most meters: the one whose page would grow with meters and readings."""
    with Session(engine) as session:
        return session.execute(select(Contract.code).join(ContractMeter, ContractMeter.contract_id == Contract.id)
                               .group_by(Contract.code).order_by(func.count().desc(), Contract.code)).scalars().first()


def pages(server: LiveServer) -> dict[str, str]:
    code = biggest_contract(server.engine)
    return {
        "portfolio": "/portfolio", "contracts": "/contracts", "contract": f"/contracts/{code}",
        "mv": "/contracts/WX-SMZX-2018/mv", "settlements": "/settlements", "statements": "/statements",
        "carbon": "/carbon", "leaderboards": "/carbon/leaderboards", "imports": "/imports", "tariffs": "/tariffs",
        # issue 15's figure pages: a district's dashboard, a later page of a board, the board's API, a district's
        # portfolio
        "carbon district": "/carbon?region=320211", "portfolio district": "/portfolio?region=320211",
        "leaderboards page 2": "/carbon/leaderboards?category=school&per_page=5&page=2",
        "leaderboards district": "/carbon/leaderboards?region=320211&indicator=water_per_capita",
        "api leaderboards": "/api/carbon/leaderboards?category=organ",
        "api contracts": "/api/contracts", "api settlements": "/api/settlements", "api imports": "/api/imports",
        "api tariffs": "/api/tariffs", "api dashboard": "/api/carbon/dashboard",
        # the settlements list filtered (columns, totals per status) and the statements page's groupings
        "settlements filtered": "/settlements?status=issued&from=2018-01&to=2031-12&region=320000&contract=-",
        "settlements drafts": "/settlements?status=draft", "statements by due": "/statements?by=due",
        "statements overdue": "/statements?overdue=1&by=period",
        "notifications": "/notifications?show=all", "bell": "/notifications/count",
        "api notifications": "/api/notifications?show=all",
    }


def query_counts(server: LiveServer) -> dict[str, int]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    client, _ = login(server, "manager")
    out = {}
    event.listen(server.engine, "before_cursor_execute", count)
    try:
        for name, path in pages(server).items():
            assert client.get(path).status_code == 200, path  # the first view may warm caches
            statements.clear()
            response = client.get(path)
            assert response.status_code == 200, path
            out[name] = len(statements)
    finally:
        event.remove(server.engine, "before_cursor_execute", count)
    return out


def test_no_page_issues_more_queries_for_more_data(servers: dict[str, LiveServer]) -> None:
    small, large = query_counts(servers["small"]), query_counts(servers["large"])
    print("\nqueries per page (small → 5× demo):", {k: (small[k], large[k]) for k in small})
    grew = {name: (small[name], large[name]) for name in small if large[name] > small[name]}
    assert grew == {}, f"pages whose query count grows with the data: {grew}"


def test_the_contract_page_reads_monthly_totals_not_readings(servers: dict[str, LiveServer]) -> None:
    """The page of the contract with the most meters states each meter's readings, first and last day from the
    monthly totals kept on import: the same statements for five times the data, none of them over readings."""
    seen: dict[str, list[str]] = {}
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    for size, server in servers.items():
        statements.clear()
        client, _ = login(server, "manager")
        path = f"/contracts/{biggest_contract(server.engine)}"
        assert client.get(path).status_code == 200
        event.listen(server.engine, "before_cursor_execute", count)
        try:
            page = client.get(path)
        finally:
            event.remove(server.engine, "before_cursor_execute", count)
        assert page.status_code == 200 and "meter_month" in " ".join(statements)
        seen[size] = list(statements)
    assert len(seen["small"]) == len(seen["large"])
    assert [s for s in seen["large"] if re.search(r"\b(FROM|JOIN) reading\b", s)] == []


def test_the_settlements_page_lists_the_overdue_payments(servers: dict[str, LiveServer]) -> None:
    client, _ = login(servers["large"], "manager")
    page = client.get("/settlements").text
    with Session(servers["large"].engine) as session:
        unpaid = session.execute(select(Settlement.number).where(Settlement.status == "issued")).scalars().all()
    assert len(unpaid) >= 15
    shown = [n for n in unpaid if f'href="/settlements/{n}"' in page.split('id="reminders"')[1].split("</section>")[0]]
    assert len(shown) == min(len(unpaid), workflow.REMINDERS_SHOWN)


def test_the_notification_sync_reads_and_writes_in_a_fixed_number_of_queries(
        servers: dict[str, LiveServer]) -> None:
    """The scheduler's sync over the whole installation: the same statements for five times the data (each
    issued settlement opens notifications for finance and the ESCO; fewer than one chunk of rows here)."""
    from emc import clock
    from emc.notify import delivery, sync
    from emc.notify.models import Notification

    counts, opened = {}, {}
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    for size, server in servers.items():
        statements.clear()
        with Session(server.engine) as session:
            session.execute(update(Notification).values(resolved_at=datetime.now(UTC)))  # all to be reopened
            session.commit()
            event.listen(server.engine, "before_cursor_execute", count)
            try:
                report = sync.sync(session, clock.today(), settings=delivery.DeliverySettings(
                    smtp_host="", wecom_webhook="", dingtalk_webhook=""))
            finally:
                event.remove(server.engine, "before_cursor_execute", count)
            session.commit()
        counts[size], opened[size] = len(statements), report.opened
    assert opened["large"] > opened["small"] > 0
    assert counts["small"] == counts["large"] <= 10, counts
