"""The M&V page reads its stored result (issue 15): computed once per state of the data, the same figures as a
fresh computation, a new result after every change of what it depends on and after nothing else, a query
count that does not grow with the meters, and another ESCO's results out of reach.

The real app over HTTP on the demo (both databases); baselines are fitted and approved by the fixture as the
bureau would (the demo without settlements has none)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import LiveServer, PostgresServer, _fresh_url, build_demo_db
from sqlalchemy import delete, event, select
from sqlmodel import Session
from test_web import login

from emc.baselines import results, service
from emc.baselines.fingerprint import Pair, result_fingerprint, result_fingerprints
from emc.baselines.models import Baseline, MVResult
from emc.contracts.models import Contract
from emc.db import make_engine, session_scope
from emc.org.models import User
from emc.org.scope import Scope

WX, YX = "WX-SMZX-2018", "YX-TG-2023"  # one water meter, held by `esco`; 31 electricity meters, held by neither
WX_WATER = f"/contracts/{WX}/mv?utility=water"
YX_ELECTRICITY = f"/contracts/{YX}/mv?utility=electricity"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
           postgres: PostgresServer | None) -> Iterator[LiveServer]:
    url = _fresh_url(request.param, tmp_path_factory.mktemp("mv-cache"), sqlite_template, postgres)
    build_demo_db(url, synthetic_contracts=0)
    engine = make_engine(url)
    with session_scope(engine) as session:
        for code, utility in ((WX, "water"), (YX, "electricity")):
            contract = session.execute(select(Contract).where(Contract.code == code)).scalar_one()
            service.approve(session, service.fit(session, contract, utility, actor="demo"), actor="manager",
                            reason="fitted for the M&V cache tests")
    engine.dispose()
    with LiveServer(url) as live:
        yield live


def _contract(session: Session, code: str) -> Contract:
    return session.execute(select(Contract).where(Contract.code == code)).scalar_one()


def fingerprint(server: LiveServer, code: str, utility: str) -> str:
    with Session(server.engine) as session:
        contract = _contract(session, code)
        versions = service.versions(session, contract, utility)
        approved = next((b for b in versions if b.status == "approved"), None)
        return result_fingerprint(session, contract, utility, approved or versions[0], approved,
                                  service.adjustments(session, contract, utility))


def stored(server: LiveServer, code: str, utility: str) -> list[tuple[str, datetime, int]]:
    with Session(server.engine) as session:
        contract = _contract(session, code)
        return [(r.fingerprint, r.computed_at, r.baseline_id) for r in session.execute(select(MVResult).where(
            MVResult.contract_id == contract.id, MVResult.utility == utility)).scalars()]


def counted(server: LiveServer, client: object, path: str) -> tuple[list[str], str]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(server.engine, "before_cursor_execute", count)
    try:
        response = client.get(path)  # type: ignore[attr-defined]
    finally:
        event.remove(server.engine, "before_cursor_execute", count)
    assert response.status_code == 200, path
    return statements, response.text


def figures(page: str) -> dict[str, str]:
    """What the page computed: the savings table and the three charts, as sent."""
    out = {}
    for section in ("savings", "chart-baseline", "chart-reporting", "chart-savings"):
        found = re.search(rf'<section class="card" id="{section}">.*?</section>', page, re.S)
        assert found, f"the page has no {section}"
        out[section] = found.group(0)
    return out


def total_savings(page: str) -> str:
    """The savings total as the page prints it (the footer of the savings table, fourth column)."""
    foot = re.search(r"<tfoot>(.*?)</tfoot>", figures(page)["savings"], re.S)
    assert foot
    return re.findall(r"<th[^>]*>(.*?)</th>", foot.group(1))[3]


def reads_readings(statements: list[str]) -> bool:
    return any(re.search(r"\breading\b", s) for s in statements)


def _day(meter: str, day: str, value: float, unit: str = "m³") -> bytes:
    rows = "".join(f"{meter},{day} {h:02d}:00,{value + h / 10}\n" for h in range(24))
    return (f"表号,时间,用量({unit})\n" + rows).encode()


def upload(client: object, token: str, name: str, body: bytes, *, commit: bool, **form: str) -> dict[str, object]:
    r = client.post("/api/imports", files={"file": (name, body)},  # type: ignore[attr-defined]
                    data={"commit": str(commit).lower(), **form}, headers={"X-CSRF-Token": token})
    assert r.status_code == 201, r.text
    batch: dict[str, object] = r.json()
    assert batch["status"] == ("committed" if commit else "previewed"), batch
    return batch


def test_a_cached_view_shows_the_fresh_figures_without_reading_the_data(server: LiveServer) -> None:
    c, _ = login(server, "manager")
    first_statements, first = counted(server, c, WX_WATER)  # the first view computes and stores
    assert reads_readings(first_statements)
    kept = stored(server, WX, "water")
    assert len(kept) == 1 and kept[0][0] == fingerprint(server, WX, "water")
    statements, second = counted(server, c, WX_WATER)
    assert stored(server, WX, "water") == kept  # nothing computed again: the row is the first view's
    assert not reads_readings(statements)
    assert figures(second) == figures(first)
    with session_scope(server.engine) as session:  # a fresh computation shows the same figures
        session.execute(delete(MVResult))
    assert figures(c.get(WX_WATER).text) == figures(first)
    assert stored(server, WX, "water")[0][1] > kept[0][1]
    # 31 meters of billing data cost a cached view as many queries as one meter of hourly data does
    assert c.get(YX_ELECTRICITY).status_code == 200
    big, page = counted(server, c, YX_ELECTRICITY)
    assert not reads_readings(big) and "chart-savings" in page
    assert len(big) == len(statements), (len(big), len(statements))


def test_every_change_of_the_data_and_nothing_else_gives_a_new_result(server: LiveServer) -> None:
    m, token = login(server, "manager")
    before_page = m.get(WX_WATER).text
    before, total = fingerprint(server, WX, "water"), total_savings(before_page)
    assert stored(server, WX, "water")[0][0] == before

    # nothing that leaves the figures alone changes the fingerprint: a preview, another contract's import,
    # a proposed adjustment, another utility's fit
    upload(m, token, "preview.csv", _day("WX-SMZX-W01", "2019-06-03", 80), commit=False, mode="replace")
    upload(m, token, "other.csv", _day("CZ-ZLRMYY-E01", "2024-06-03", 80, "kWh"), commit=True)
    assert m.post(f"/contracts/{WX}/mv/adjustments", data={
        "csrf_token": token, "utility": "water", "kind": "continuous", "start": "2020-01-01",
        "amount": "40", "reason": "a new dormitory wing"}, headers={"HX-Request": "true"}).status_code == 204
    assert fingerprint(server, WX, "water") == before
    seen = {before}

    def changed(what: str) -> str:
        now = fingerprint(server, WX, "water")
        assert now not in seen, what
        seen.add(now)
        page = m.get(WX_WATER).text
        assert stored(server, WX, "water")[0][0] == now, what  # the view stored the new result
        return total_savings(page)

    # a replace-mode correction of a reporting day of the baseline's meter: new figures
    fix = upload(m, token, "fix.csv", _day("WX-SMZX-W01", "2019-06-01", 500), commit=True, mode="replace",
                 reason="the meter was read wrongly that day")
    corrected = changed("correction")
    assert corrected != total
    # … and the charts drawn from it (drawn once per stored result and language, never from an older one)
    assert figures(m.get(WX_WATER).text)["chart-savings"] != figures(before_page)["chart-savings"]
    # reverting it gives the figures back (under a new fingerprint: the revert is recorded)
    r = m.post(f"/api/imports/{fix['id']}/revert", json={"reason": "the correction was wrong"},
               headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    assert changed("revert") == total
    # new readings (only-new) of the meter, and corrected weather of its station
    upload(m, token, "new.csv", _day("WX-SMZX-W01", "2026-12-01", 9), commit=True)
    changed("new readings")
    upload(m, token, "weather.csv", "日期,气温\n2019-06-01,35\n".encode(), commit=True, mode="replace", kind="weather",
           station="58354", reason="the station's day was misread")
    changed("weather")
    # approving the proposed adjustment raises the adjusted baseline: more savings
    with Session(server.engine) as session:
        adjustment = service.adjustments(session, _contract(session, WX), "water")[0]
    assert m.post(f"/contracts/{WX}/mv/adjustments/{adjustment.id}", data={
        "csrf_token": token, "decision": "approve"}, headers={"HX-Request": "true"}).status_code == 204
    assert changed("adjustment approved") != total
    # a new baseline approved: the page shows it
    assert m.post(f"/contracts/{WX}/mv/fit", data={"csrf_token": token, "utility": "water"},
                  headers={"HX-Request": "true"}).status_code == 204
    assert fingerprint(server, WX, "water") in seen  # proposed only: the approved one is still shown
    with Session(server.engine) as session:
        newest = service.versions(session, _contract(session, WX), "water")[0]
    assert m.post(f"/contracts/{WX}/mv/baselines/{newest.id}", data={
        "csrf_token": token, "decision": "approve", "reason": "refitted"},
        headers={"HX-Request": "true"}).status_code == 204
    changed("baseline approved")
    assert stored(server, WX, "water")[0][2] == newest.id


def test_the_job_refreshes_a_changed_result_before_the_first_view(server: LiveServer) -> None:
    m, token = login(server, "manager")
    m.get(WX_WATER)
    upload(m, token, "more.csv", _day("WX-SMZX-W01", "2026-12-02", 9), commit=True)
    assert stored(server, WX, "water")[0][0] != fingerprint(server, WX, "water")  # stale until the job runs
    with Session(server.engine) as session:
        report = results.refresh(session, writer=server.engine, limit=1)
    assert report.computed == 1
    kept = stored(server, WX, "water")
    assert kept[0][0] == fingerprint(server, WX, "water")
    statements, _ = counted(server, m, WX_WATER)
    assert stored(server, WX, "water") == kept and not reads_readings(statements)
    with Session(server.engine) as session:  # nothing changed since: the next run computes nothing
        assert results.refresh(session, writer=server.engine).computed == 0


def test_a_result_is_stored_once(server: LiveServer) -> None:
    """Two first views at once: the second store finds the key taken and leaves the row as it is."""
    m, _ = login(server, "manager")
    m.get(YX_ELECTRICITY)
    (key, at, _), = stored(server, YX, "electricity")
    with Session(server.engine) as session:
        contract = _contract(session, YX)
        baseline = service.approved(session, contract, "electricity")
        assert baseline is not None
        again = results.compute(session, contract, "electricity", baseline, baseline)
    with session_scope(server.engine) as session:
        results.store(session, contract, "electricity", key, again)
    assert stored(server, YX, "electricity") == [(key, at, baseline.id)]


def test_another_escos_result_is_out_of_reach(server: LiveServer) -> None:
    esco, _ = login(server, "esco")
    assert esco.get(WX_WATER).status_code == 200
    other, _ = login(server, "esco2")
    assert other.get(WX_WATER).status_code == 404
    with Session(server.engine) as session:
        wx = _contract(session, WX).id
        for name, sees in (("esco", True), ("esco2", False)):
            user = session.execute(select(User).where(User.username == name)).scalar_one()
            rows = session.execute(select(MVResult.contract_id).where(
                Scope.of(session, user).clause_for(MVResult))).scalars().all()
            assert (wx in rows) is sees, name
        assert session.execute(select(Baseline.id)).first() is not None


def test_the_jobs_fingerprints_of_many_pairs_equal_each_pairs_own(server: LiveServer) -> None:
    """The refresh job reads every viewed or approved pair's fingerprint in chunks: each equals the pair's own
    (the page's), and a change to one pair's data changes that pair's only."""
    def all_pairs(session: Session) -> list[Pair]:
        """Every contract and utility of the demo; where the pair has no baseline (only two are fitted here),
        another's stands in as the one shown (the fingerprint reads only its id and status)."""
        stand_in = session.execute(select(Baseline).order_by(Baseline.id)).scalars().first()
        assert stand_in is not None
        out: list[Pair] = []
        for contract in session.execute(select(Contract).order_by(Contract.code)).scalars():
            for utility in ("electricity", "water", "gas"):
                versions = service.versions(session, contract, utility)
                approved = next((b for b in versions if b.status == "approved"), None)
                out.append((contract, utility, approved or (versions[0] if versions else stand_in), approved,
                            service.adjustments(session, contract, utility)))
        return out

    with Session(server.engine) as session:
        pairs = all_pairs(session)
        bulk = result_fingerprints(session, pairs)
    assert len(pairs) >= 10 and len(set(bulk.values())) == len(pairs)
    with Session(server.engine) as session:
        assert bulk == {(c.id, u): result_fingerprint(session, c, u, shown, approved, adjustments)
                        for c, u, shown, approved, adjustments in pairs}
    m, token = login(server, "manager")
    upload(m, token, "later.csv", _day("WX-SMZX-W01", "2026-12-03", 7), commit=True)
    with Session(server.engine) as session:
        after = result_fingerprints(session, all_pairs(session))
    assert {k for k in bulk if bulk[k] != after[k]} == {(_contract_id(server, WX), "water")}


def _contract_id(server: LiveServer, code: str) -> int:
    with Session(server.engine) as session:
        cid = _contract(session, code).id
    assert cid is not None
    return cid
