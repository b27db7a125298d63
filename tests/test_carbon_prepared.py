"""Prepared carbon figures (emc.carbon.prepared) over real HTTP, SQLite and PostgreSQL: what a reader sees from
a stored view is what a fresh computation through the reader's own scope gives — for the city manager, a
district manager, an ESCO and a viewer, before and after the inputs change through the services that change
them (an institution moved to another district, an import reverted and the ledger refreshed, a target
added) — and a district manager never reads figures prepared for another district.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, _fresh_url, build_demo_db
from fastapi.encoders import jsonable_encoder
from sqlalchemy import delete, func, select
from sqlmodel import Session, col
from test_web import login

from emc.baselines import results
from emc.carbon import ledger, loading, prepared
from emc.carbon.models import CarbonEntry, CarbonView
from emc.carbon.reads import dashboard, standing
from emc.db import session_scope
from emc.metering.models import BatchStatus, ImportBatch
from emc.metering.revert import revert_batch
from emc.org import service as org
from emc.org.models import Institution, Region, User
from emc.org.scope import Scope

YEAR = 2023
WUXI, BINHU, YIXING = "320200", "320211", "320282"
READERS = [("manager", WUXI), ("manager", BINHU), ("binhu", BINHU), ("esco", WUXI), ("viewer", WUXI)]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
           postgres: Any) -> Iterator[LiveServer]:
    """A demo of its own: these tests change institutions, imports and targets."""
    url = _fresh_url(request.param, tmp_path_factory.mktemp("prepared"), sqlite_template, postgres)
    build_demo_db(url)
    with LiveServer(url) as live:
        yield live


def _fresh(server: LiveServer, username: str, region: str) -> dict[str, Any]:
    """The dashboard computed now, through the user's scope, as the API would encode it."""
    with Session(server.engine) as s:
        user = s.execute(select(User).where(User.username == username)).scalar_one()
        data = dashboard.city_dashboard(s, Scope.of(s, user), region_code=region, year=YEAR)
    return jsonable_encoder(data)


def _fresh_board(server: LiveServer, username: str, region: str) -> list[dict[str, Any]]:
    with Session(server.engine) as s:
        user = s.execute(select(User).where(User.username == username)).scalar_one()
        return jsonable_encoder(standing.leaderboard(s, Scope.of(s, user), YEAR, category="organ",
                                                     indicator="energy_per_area", region_code=region))


def _api(server: LiveServer, username: str, region: str) -> dict[str, Any]:
    c, _ = login(server, username)
    r = c.get("/api/carbon/dashboard", params={"year": YEAR, "region": region})
    assert r.status_code == 200, r.text
    return r.json()


def _views(server: LiveServer) -> int:
    with Session(server.engine) as s:
        return int(s.execute(select(func.count()).select_from(CarbonView)).scalar_one())


def _every_reader_sees_a_fresh_computation(server: LiveServer) -> None:
    for username, region in READERS:
        first, again = _api(server, username, region), _api(server, username, region)
        assert first == again == _fresh(server, username, region), (username, region)
    c, _ = login(server, "manager")
    board = c.get("/api/carbon/leaderboards", params={"year": YEAR, "category": "organ", "region": WUXI}).json()
    assert board == _fresh_board(server, "manager", WUXI)


def test_stored_figures_are_a_fresh_computation_before_and_after_changes(server: LiveServer) -> None:
    _every_reader_sees_a_fresh_computation(server)
    assert _views(server) >= 1
    # the page shows the stored figures: the city's total on the page is the API's
    c, _ = login(server, "manager")
    assert c.get("/carbon", params={"year": YEAR, "region": WUXI}).status_code == 200
    before = _api(server, "manager", WUXI)

    # 1. an institution moved from Binhu to Yixing (an audited update through the service)
    with session_scope(server.engine) as s:
        binhu = s.execute(select(Region).where(Region.code == BINHU)).scalar_one()
        yixing = s.execute(select(Region).where(Region.code == YIXING)).scalar_one()
        moved = s.execute(select(Institution).where(Institution.region_id == binhu.id, col(Institution.id).in_(
            select(CarbonEntry.institution_id).where(CarbonEntry.month >= date(YEAR, 1, 1),
                                                     CarbonEntry.month < date(YEAR + 1, 1, 1))))
            .order_by(Institution.code)).scalars().first()  # one with figures in the year
        assert moved is not None
        org.upsert_institution(s, moved.code, {"region_id": yixing.id}, actor="test")
    after = _api(server, "manager", WUXI)
    districts = {d["code"]: d["institutions"] for d in after["districts"]}
    assert districts != {d["code"]: d["institutions"] for d in before["districts"]}  # the move is seen at once
    _every_reader_sees_a_fresh_computation(server)

    # 2. the largest committed import reverted, the ledger refreshed: entries removed or restated
    with session_scope(server.engine) as s:
        batch = s.execute(select(ImportBatch).where(
            ImportBatch.status == BatchStatus.committed, ImportBatch.kind == "meter")
                          .order_by(col(ImportBatch.rows_new).desc())).scalars().first()
        assert batch is not None
        revert_batch(s, batch, actor="test", reason="prepared figures follow the ledger")
    with session_scope(server.engine) as s:
        ledger.refresh(s, actor="test")
    _every_reader_sees_a_fresh_computation(server)

    # 3. a target added for the city (a carbon data file)
    target = Path(server.engine.url.database or "x").parent / "wuxi-target.toml" \
        if server.engine.dialect.name == "sqlite" else Path("/tmp") / f"wuxi-target-{server.port}.toml"
    target.write_text('[[target]]\nid = "wuxi-2023-energy-per-area-test"\nregion = "320200"\n'
                      'indicator = "energy_per_area"\nyear = 2023\nbase_year = 2022\ncut = 0.02\n'
                      'source = "test: a target added after the figures were prepared"\n', encoding="utf-8")
    with session_scope(server.engine) as s:
        loading.load_file(s, target, actor="test")
    got = _api(server, "manager", WUXI)
    assert "wuxi-2023-energy-per-area-test" in {t["target"] for t in got["targets"]}
    _every_reader_sees_a_fresh_computation(server)


def test_a_district_manager_never_reads_another_districts_prepared_figures(server: LiveServer) -> None:
    city = _api(server, "manager", YIXING)  # prepared for every bureau reader of Yixing
    assert city["region"]["institutions"] > 0
    seen = _api(server, "binhu", YIXING)  # Binhu's manager names Yixing's code in the API
    assert seen == _fresh(server, "binhu", YIXING)
    assert seen["region"]["institutions"] == 0 and seen["region"]["figures"] != city["region"]["figures"]
    esco = _api(server, "esco2", WUXI)  # an ESCO's own, never the bureau's
    assert esco == _fresh(server, "esco2", WUXI) and esco["region"] != _api(server, "manager", WUXI)["region"]


def test_the_refresh_job_recomputes_what_changed_and_prepares_the_defaults(server: LiveServer) -> None:
    with Session(server.engine) as s:
        got = prepared.refresh(s, writer=server.engine)
        assert got["left"] == 0
        current = prepared.stamp(s)
        rows = s.execute(select(CarbonView.view, CarbonView.args, CarbonView.fingerprint)).all()
        assert rows and all(fp == current for _, _, fp in rows)  # nothing stale is left
        top = s.execute(select(Region.code).where(col(Region.parent_id).is_(None))).scalars().first()
        assert any(v == "dashboard" and a["region"] == top and a["scope"] == {} for v, a, _ in rows)
        again = prepared.refresh(s, writer=server.engine)
        assert again == {"stale": 0, "computed": 0, "left": 0}  # nothing changed: no work


def test_emc_db_prepare_computes_what_pages_read_prepared(server: LiveServer) -> None:
    """The operator's command after a restore: every M&V result and carbon view current afterwards."""
    with session_scope(server.engine) as s:
        s.execute(delete(CarbonView))
    env = {**os.environ, "EMC_DATABASE_URL": server.db_url}
    done = subprocess.run([sys.executable, "-m", "emc.cli", "db", "prepare"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "carbon views:" in done.stdout and "M&V results:" in done.stdout
    with Session(server.engine) as s:
        current = prepared.stamp(s)
        views = s.execute(select(CarbonView.fingerprint)).scalars().all()
        assert views and set(views) == {current}
        assert prepared.refresh(s, writer=server.engine)["computed"] == 0
        assert results.refresh(s, writer=server.engine).computed == 0  # every M&V result stored and current
