"""Running emc on PostgreSQL without autovacuum: statistics after every bulk load, no JIT on small queries, and a
scheduler that holds its lock without an open transaction."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from conftest import LiveServer, PostgresServer, unavailable
from sqlalchemy import Engine, text
from sqlmodel import Session

from emc.contracts.service import load_contract
from emc.contracts.spec import parse_contract
from emc.db import make_engine, upgrade
from emc.jobs.scheduler import LOCK_KEY, SchedulerLock, configure
from emc.metering.service import ImportOptions, import_file
from emc.org.scope import Scope
from emc.org.service import load_regions

DATA = Path(__file__).parent / "data"
EMC = str(Path(sys.executable).parent / "emc")


@pytest.fixture
def pg(postgres: PostgresServer | None) -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database (these tests are about PostgreSQL's planner and sessions)."""
    if postgres is None:
        unavailable("EMC_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    assert postgres is not None
    engine = make_engine(postgres.fresh())
    yield engine
    engine.dispose()


def load_site(engine: Engine) -> None:
    """The import tests' school with its meters."""
    with Session(engine) as session:
        load_regions(session)
        text_ = (DATA / "import-site.toml").read_text(encoding="utf-8")
        load_contract(session, parse_contract(text_, "site.toml"), source="site.toml", actor="test")
        session.commit()


def estimated_rows(engine: Engine, table: str) -> float:
    """The planner's idea of a table's size: -1 when it was never analysed."""
    with engine.connect() as conn:
        return float(conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar_one())


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())


def test_a_large_import_leaves_the_planner_knowing_the_readings(pg: Engine, tmp_path: Path) -> None:
    load_site(pg)
    hours = [f"M-E,2024-03-{d:02d} {h:02d}:00,{10 + h}\n" for d in range(1, 31) for h in range(24)]
    path = tmp_path / "march.csv"
    path.write_text("表号,时间,用量(kWh)\n" + "".join(hours), encoding="utf-8")
    with Session(pg) as session:
        report = import_file(session, path, file_name=path.name, actor="test", scope=Scope.everything(),
                             options=ImportOptions())
        session.commit()
        assert report.batch.rows_new == 720
    assert estimated_rows(pg, "reading") == count(pg, "reading") == 720


def test_a_small_import_does_not_pay_for_analyze(pg: Engine, tmp_path: Path) -> None:
    """autovacuum's rule (50 rows + 10 %): twelve readings change nothing worth re-planning for."""
    load_site(pg)
    before = estimated_rows(pg, "reading")
    path = tmp_path / "day.csv"
    path.write_text("表号,时间,用量(kWh)\n" + "".join(f"M-E,2024-03-01 {h:02d}:00,1\n" for h in range(12)),
                    encoding="utf-8")
    with Session(pg) as session:
        import_file(session, path, file_name=path.name, actor="test", scope=Scope.everything(), options=ImportOptions())
        session.commit()
    assert count(pg, "reading") == 12
    assert estimated_rows(pg, "reading") == before == 0  # analysed (empty) by the upgrade, not again since


def test_upgrade_analyses_every_table(postgres: PostgresServer | None) -> None:
    if postgres is None:
        unavailable("EMC_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    assert postgres is not None
    name = f"emc_t_up_{uuid.uuid4().hex[:12]}"
    postgres._exec(f'CREATE DATABASE "{name}"')  # empty, not from the migrated template
    postgres.created.append(name)
    engine = make_engine(postgres.url_for(name))
    try:
        upgrade(engine)
        with engine.connect() as conn:
            blind = conn.execute(text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.reltuples < 0")).scalars().all()
            tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
        assert tables > 20 and blind == []
    finally:
        engine.dispose()


def test_the_demo_is_analysed(demo_server: LiveServer) -> None:
    engine = demo_server.engine
    if engine.dialect.name != "postgresql":
        return  # SQLite plans without collected statistics
    for table in ("reading", "meter", "contract", "contract_version", "institution", "audit_event"):
        rows = count(engine, table)
        assert rows > 0 and estimated_rows(engine, table) >= 0.5 * rows, table


def test_app_connections_run_without_jit(pg: Engine) -> None:
    with pg.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"


def test_the_scheduler_holds_its_lock_without_an_open_transaction(pg: Engine) -> None:
    """An "idle in transaction" session kept for the scheduler's life holds back VACUUM on every table."""
    lock = SchedulerLock(pg)
    assert lock.acquire()
    scheduler = configure(BackgroundScheduler(), pg)
    scheduler.start()
    try:
        assert not SchedulerLock(pg).acquire()  # still one scheduler per installation
        admin = make_engine(pg.url.render_as_string(hide_password=False))
        with admin.connect() as conn:
            holder = conn.execute(text(
                "SELECT a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = :k AND l.granted"), {"k": LOCK_KEY}).scalars().all()
            stuck = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'")).scalar_one()
        admin.dispose()
        assert holder == ["idle"]
        assert stuck == 0
    finally:
        scheduler.shutdown(wait=False)
        lock.release()
    second = SchedulerLock(pg)
    assert second.acquire()  # released: another process may take over
    second.release()


def test_a_running_emc_scheduler_leaves_no_session_idle_in_transaction(pg: Engine, tmp_path: Path) -> None:
    """`emc scheduler` as an operator runs it (its own process): the lock's connection is autocommit (its backend
    idle with no transaction open), and no backend of the database stays "idle in transaction" while it runs."""
    env = {**os.environ, "EMC_DATABASE_URL": pg.url.render_as_string(hide_password=False),
           "EMC_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([EMC, "scheduler"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "emc scheduler running" in proc.stdout.readline(), proc.stderr.read() if proc.poll() else ""
        with pg.connect() as conn:
            holder = conn.execute(text(
                "SELECT a.state, a.xact_start IS NULL FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = :k AND l.granted"), {"k": LOCK_KEY}).all()
            assert [tuple(row) for row in holder] == [("idle", True)]
            # a job's own transaction may be caught between two statements (on a loaded machine, for seconds):
            # what must not happen is a backend that stays in the same transaction, so every transaction seen
            # idle at first must have ended within the window (a connection held for the scheduler's life never
            # would)
            idle = ("SELECT pid, xact_start FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()")
            stuck = {tuple(row) for row in conn.execute(text(idle)).all()}
            for _ in range(300):
                if not stuck:
                    break
                time.sleep(0.1)
                stuck &= {tuple(row) for row in conn.execute(text(idle)).all()}
            assert stuck == set()
        assert proc.poll() is None  # still running, still holding the lock
    finally:
        proc.terminate()
        proc.wait(30)
