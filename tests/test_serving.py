"""Serving past one process: /healthz for the load balancer, /metrics for Prometheus (administrators and the
allow-list only), a request id on every response and log line, and `emc serve --workers N` with one scheduler."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, LiveServer, PostgresServer, free_port, unavailable
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from sqlmodel import Session
from test_web import login

from emc.db import head_revision, make_engine, upgrade
from emc.jobs.scheduler import run_job
from emc.org.models import User
from emc.org.service import issue_token


def test_healthz_says_whether_the_schema_is_the_one_the_code_needs(db_url: str) -> None:
    with LiveServer(db_url) as server, httpx.Client(base_url=server.url) as c:
        ok = c.get("/healthz")
        assert ok.status_code == 200 and ok.json()["status"] == "ok"
        with server.engine.begin() as conn:  # as if the code were upgraded but not the database
            conn.execute(text("UPDATE alembic_version SET version_num = '0006'"))
        behind = c.get("/healthz")
        assert behind.status_code == 503 and behind.json() == {"status": "unavailable", "database": "ok",
                                                                 "migrations": "not at head"}
        with server.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()})
        assert c.get("/healthz").status_code == 200


def test_healthz_says_503_when_the_database_is_gone(postgres: PostgresServer | None) -> None:
    if postgres is None:
        unavailable("EMC_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    assert postgres is not None
    url = postgres.fresh()
    with LiveServer(url) as server, httpx.Client(base_url=server.url) as c:
        assert c.get("/healthz").status_code == 200
        postgres._exec(f'DROP DATABASE "{server.engine.url.database}" WITH (FORCE)')
        gone = c.get("/healthz")
        assert gone.status_code == 503 and gone.json()["database"] == "unreachable"


def test_every_response_carries_a_request_id(demo_server: LiveServer) -> None:
    with httpx.Client(base_url=demo_server.url) as c:
        assert c.get("/login", headers={"X-Request-ID": "proxy-7f3a.42"}).headers["X-Request-ID"] == "proxy-7f3a.42"
        made = c.get("/login").headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        forged = c.get("/login", headers={"X-Request-ID": "x\" injected=1 " + "y" * 200}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", forged)  # not an id: replaced, never echoed into logs


def admin_token(server: LiveServer) -> str:
    with Session(server.engine) as session:
        admin = session.execute(select(User).where(User.username == "admin")).scalar_one()
        token = issue_token(session, admin, "prometheus", actor="test").token
        session.commit()
    return token


def test_metrics_are_for_administrators_only(demo_server: LiveServer) -> None:
    anonymous = httpx.Client(base_url=demo_server.url)
    missing = anonymous.get("/no-such-page")
    for client in (anonymous, login(demo_server, "manager")[0], login(demo_server, "esco")[0]):
        refused = client.get("/metrics")
        assert refused.status_code == 404 and "emc_" not in refused.text
    # indistinguishable from a path that does not exist (the page repeats its own path in the language form)
    assert anonymous.get("/metrics").text == missing.text.replace("/no-such-page", "/metrics")
    manager, _ = login(demo_server, "manager")
    assert manager.get("/contracts/WX-SMZX-2018").status_code == 200
    assert manager.get("/api/contracts/WX-SMZX-2018").status_code == 200
    scrape = anonymous.get("/metrics", headers={"Authorization": f"Bearer {admin_token(demo_server)}"})
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    body = scrape.text
    assert 'method="GET",route="/contracts/{code}",status="200"' in body
    # the API's route keeps its prefix: the page and the API are told apart
    assert 'method="GET",route="/api/contracts/{code}",status="200"' in body
    assert "WX-SMZX-2018" not in body  # labels are route templates, never a contract code
    with Session(demo_server.engine) as session:
        drafts = session.execute(text("SELECT count(*) FROM settlement WHERE status = 'draft'")).scalar_one()
    assert f'emc_settlements_waiting{{waiting_for="submission"}} {float(drafts)}' in body


def test_metrics_for_an_allowed_address(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMC_METRICS_ALLOW", "10.0.0.0/8, 127.0.0.1")
    with LiveServer(db_url) as server, httpx.Client(base_url=server.url) as c:
        body = c.get("/metrics").text
        assert 'emc_settlements_waiting{waiting_for="approval"} 0.0' in body


def test_a_failing_job_is_counted_as_an_error() -> None:
    def errors() -> float:
        return REGISTRY.get_sample_value("emc_job_duration_seconds_count", {"job": "t-broken", "outcome": "error"}) or 0

    before = errors()
    with pytest.raises(Exception):  # noqa: B017  (whatever the job raises reaches APScheduler's error listener)
        run_job("t-broken", "emc.settlement.jobs:no_such_job")
    assert errors() == before + 1


def test_serve_with_workers_elects_one_scheduler(tmp_path: Path) -> None:
    db = tmp_path / "serve.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    port = free_port()
    env = {**os.environ, "EMC_DATABASE_URL": f"sqlite:///{db}", "EMC_METRICS_ALLOW": "127.0.0.1",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "emc.cli", "serve", "--workers", "2", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "emc serve --workers 2 did not start"
            time.sleep(0.3)
        for _ in range(6):
            httpx.get(f"http://127.0.0.1:{port}/healthz")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        served = re.search(r'emc_http_request_duration_seconds_count\{method="GET",route="/healthz",'
                           r'status="200"\} (\d+)', metrics)
        assert served and float(served.group(1)) >= 7  # summed over both workers
        lock_pid = int(Path(f"{db}.scheduler.lock").read_text())
        parent = Path(f"/proc/{lock_pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        assert lock_pid != proc.pid and parent == str(proc.pid)  # one worker holds the lock; the supervisor does not
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert err.count("another process runs the scheduler") == 1
    assert all(line.startswith("{") for line in err.splitlines() if line.strip())  # JSON logs
