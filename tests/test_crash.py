"""Crashes leave nothing half-written: the real server (`emc serve`, a subprocess) is killed with SIGKILL
in the middle of an import commit (page, then API), and `emc settle --due` in the middle of drafting;
after a restart the database holds either all of a commit or none of it, nothing twice, and the commit
works exactly once, also when two clients commit at the same moment. On SQLite and PostgreSQL.

The kill is timed by the database, not a clock: on SQLite when the write-ahead log starts growing (the
commit's rows are being written), on PostgreSQL when the server's transaction holds a write lock on
``reading``. While a commit runs, another connection watches: no reader may ever see the batch's
readings while the batch still says "previewed" (the defect: a savepoint released outside a real
transaction on SQLite made the rows durable before the batch was marked committed).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from conftest import free_port
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from emc.contracts.service import load_contract
from emc.contracts.spec import parse_contract
from emc.db import make_engine
from emc.org.models import Role
from emc.org.service import UserCreate, create_user, issue_token, load_regions

DATA = Path(__file__).parent / "data"
SITE = (DATA / "import-site.toml").read_text(encoding="utf-8")
EMC = str(Path(sys.executable).parent / "emc")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
METERS = ("M-E", "M-W")
STEP = timedelta(minutes=15)
START = datetime(2024, 1, 1)
ROWS_PER_METER = 4 * 24 * 366  # a leap year of quarter hours: 2 × 35,136 readings


def _big_file(path: Path) -> int:
    lines = ["表号,时间,用量"]
    for meter in METERS:
        t = START
        for i in range(ROWS_PER_METER):
            lines.append(f"{meter},{t:%Y-%m-%d %H:%M},{1 + (i % 97) / 10}")
            t += STEP
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def _setup(url: str) -> str:
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        load_regions(s)
        load_contract(s, parse_contract(SITE, "site.toml"), source="site.toml", actor="test")
        user = create_user(s, UserCreate(username="crash-mgr", password="crash-manager-pw", role=Role.manager,
                                         region="320000"), actor="test")
        token = issue_token(s, user, "crash", actor="test").token
        s.commit()
    engine.dispose()
    return token


class Server:
    """`emc serve` in its own process, as production runs it (no scheduler: nothing else writes)."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "EMC_DATABASE_URL": url, "EMC_ENV": "test", "EMC_DATA_DIR": str(tmp),
                    "EMC_SECRET_KEY": "crash-test-secret-" + "x" * 32}
        self.proc = subprocess.Popen([EMC, "serve", "--port", str(self.port), "--no-scheduler"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError("emc serve did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def _batch(engine: Engine, batch_id: int) -> tuple[str, int]:
    """(status, readings of the batch) as any other reader sees them, in one snapshot.

    One statement: Python's sqlite3 driver opens no transaction for SELECTs, so two statements would be two
    snapshots on SQLite and a commit landing between them would look half-written when it was not."""
    with engine.connect() as conn:
        status, rows = conn.execute(text(
            "SELECT status, (SELECT count(*) FROM reading WHERE batch_id = :b) FROM import_batch WHERE id = :b"),
            {"b": batch_id}).one()
    return status, rows


def _writing(engine: Engine, url: str, wal_before: int) -> bool:
    """The commit has started writing readings (not yet committed)."""
    if make_url(url).get_backend_name() == "sqlite":
        wal = Path(make_url(url).database + "-wal")
        return wal.exists() and wal.stat().st_size > wal_before + (1 << 20)
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE relation = 'reading'::regclass AND mode = 'RowExclusiveLock' "
            "AND pid <> pg_backend_pid()")).scalar_one())


def _wal_size(url: str) -> int:
    wal = Path(str(make_url(url).database) + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _kill_mid_commit(server: Server, engine: Engine, url: str, batch_id: int, post) -> None:  # type: ignore[no-untyped-def]
    """Start the commit, kill the server once it is writing readings, and check it really was mid-commit."""
    wal_before = _wal_size(url) if make_url(url).get_backend_name() == "sqlite" else 0
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(_try(post)), daemon=True)
    worker.start()
    deadline = time.monotonic() + 120
    while not _writing(engine, url, wal_before):
        assert worker.is_alive() and time.monotonic() < deadline, f"the commit ended before it was killed: {outcome}"
        time.sleep(0.01)
    server.kill()
    worker.join(10)
    assert outcome and isinstance(outcome[0], httpx.HTTPError), f"the request finished before the kill: {outcome}"


def _try(post):  # type: ignore[no-untyped-def]
    try:
        return post()
    except httpx.HTTPError as exc:
        return exc


def test_kill_during_import_commit_leaves_all_or_nothing(db_url: str, tmp_path: Path) -> None:
    token = _setup(db_url)
    rows = _big_file(tmp_path / "quarter-hours.csv")
    engine = make_engine(db_url)
    server = Server(db_url, tmp_path)
    api = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=server.base, timeout=120) as c:
            r = c.post("/api/imports", headers=api, files={"file": ("quarter-hours.csv",
                                                                     (tmp_path / "quarter-hours.csv").read_bytes())})
            assert r.status_code == 201, r.text
            batch_id = r.json()["id"]
            assert (r.json()["status"], r.json()["new"], r.json()["errors"]) == ("previewed", rows, 0)

            # 1. the page's commit (session cookie + CSRF), killed mid-way
            csrf = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
            c.post("/login", data={"username": "crash-mgr", "password": "crash-manager-pw", "csrf_token": csrf})
            csrf = CSRF.search(c.get(f"/imports/{batch_id}").text).group(1)  # type: ignore[union-attr]
            cookies = dict(c.cookies)
        _kill_mid_commit(server, engine, db_url, batch_id, lambda: httpx.post(
            f"{server.base}/imports/{batch_id}/commit", data={"csrf_token": csrf}, cookies=cookies, timeout=180))
        assert _batch(engine, batch_id) == ("previewed", 0)

        # 2. the API's commit, killed mid-way
        server = Server(db_url, tmp_path)
        _kill_mid_commit(server, engine, db_url, batch_id, lambda: httpx.post(
            f"{server.base}/api/imports/{batch_id}/commit", headers=api, timeout=180))
        assert _batch(engine, batch_id) == ("previewed", 0)

        # 3. after a restart two clients commit at the same moment: one commits, the other is told the batch
        #    is committed (409); no reader ever sees rows of a previewed batch; the readings are stored once
        server = Server(db_url, tmp_path)
        start = threading.Barrier(2)
        answers: list[int] = []

        def commit() -> None:
            start.wait()
            answers.append(httpx.post(f"{server.base}/api/imports/{batch_id}/commit", headers=api,
                                      timeout=180).status_code)

        workers = [threading.Thread(target=commit, daemon=True) for _ in range(2)]
        for w in workers:
            w.start()
        seen = set()
        while any(w.is_alive() for w in workers) or not seen:
            seen.add(_batch(engine, batch_id))
            time.sleep(0.005)
        seen.add(_batch(engine, batch_id))
        assert sorted(answers) == [200, 409]
        assert seen <= {("previewed", 0), ("committed", rows)}, f"a reader saw a half-written commit: {seen}"
        assert _batch(engine, batch_id) == ("committed", rows)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM reading")).scalar_one() == rows
    finally:
        if server.proc.poll() is None:
            server.proc.terminate()
            server.proc.wait(10)
        engine.dispose()


# -- the scheduler's job ----------------------------------------------------------------------------------
LEASES = 16


def _leases(url: str) -> None:
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        load_regions(s)
        for i in range(LEASES):
            text_ = SITE.replace("T-IMPORT-2024", f"T-LEASE-{i:03d}").replace('"M-E"', f'"L{i}-E"') \
                .replace('"M-R"', f'"L{i}-R"').replace('"M-W"', f'"L{i}-W"')
            load_contract(s, parse_contract(text_, f"lease-{i}.toml"), source=f"lease-{i}.toml", actor="test")
        s.commit()
    engine.dispose()


def _settlements(engine: Engine) -> tuple[dict[str, int], int, int]:
    """(periods drafted per contract, settlements without lines, duplicated periods)."""
    with engine.connect() as conn, conn.begin():
        per = dict(conn.execute(text(
            "SELECT c.code, count(*) FROM settlement s JOIN contract c ON c.id = s.contract_id "
            "WHERE s.kind = 'period' GROUP BY c.code")).all())
        bare = conn.execute(text("SELECT count(*) FROM settlement s WHERE NOT EXISTS "
                                 "(SELECT 1 FROM settlement_line l WHERE l.settlement_id = s.id)")).scalar_one()
        twice = conn.execute(text("SELECT count(*) FROM (SELECT contract_id, kind, period_start, period_end "
                                  "FROM settlement GROUP BY contract_id, kind, period_start, period_end "
                                  "HAVING count(*) > 1) d")).scalar_one()
    return per, bare, twice


def test_kill_during_settle_due_leaves_whole_contracts(db_url: str, tmp_path: Path) -> None:
    _leases(db_url)
    engine = make_engine(db_url)
    env = {**os.environ, "EMC_DATABASE_URL": db_url, "EMC_DATA_DIR": str(tmp_path)}
    command = [EMC, "settle", "--due", "--today", "2025-01-01"]
    try:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not _settlements(engine)[0]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()  # type: ignore[union-attr]
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        per, bare, twice = _settlements(engine)
        assert 0 < len(per) < LEASES, f"killed too late to test anything: {len(per)} contracts drafted"
        assert set(per.values()) == {12}, f"a contract was left half-drafted: {per}"  # 2024's twelve months
        assert (bare, twice) == (0, 0)

        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        per, bare, twice = _settlements(engine)
        assert (len(per), set(per.values()), bare, twice) == (LEASES, {12}, 0, 0)
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and _settlements(engine)[0] == per
    finally:
        engine.dispose()
