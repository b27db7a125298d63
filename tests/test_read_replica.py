"""A read replica for pages and exports (issue 15, EMC_DATABASE_READ_URL; the rule is emc.web.replica's).

The replica of these tests is PostgreSQL seen through a role that can only read (``GRANT SELECT`` and
``default_transaction_read_only = on``), as a hot standby refuses writes: every write that strays onto it fails
with "cannot execute … in a read-only transaction". Two replicas stand in for a streaming standby:

* the demo database itself, read through that role: a replica with no lag. Every route of the access matrix
  (tests/test_access_matrix.py) is walked as every actor; no GET may fail, and the request log says which
  database answered each request — every read the replica, every write the primary.
* a copy of the database taken at one instant: a replica whose replay stopped (the most a replica can lag).
  What another user reads from it is stale; what the writer reads after a post-and-redirect is not, because
  of the read-your-writes rule.

And the real thing: a hot standby made with ``pg_basebackup -R`` from a primary on a cluster of the test's own
(the shared server takes no replication connections), its replay paused while the writer submits, resumed after.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, PostgresServer, build_demo_db, free_port, unavailable
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from emc.config import Settings
from emc.web.deps import SessionDep

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
WUXI = "WX-SMZX-2018"


# -- the replica -----------------------------------------------------------------------------------------
@contextmanager
def read_only_role(postgres: PostgresServer, url: str) -> Iterator[str]:
    """A login role that may only read the database of ``url``; yields the URL that signs in as it."""
    role, database = f"emc_ro_{uuid.uuid4().hex[:10]}", make_url(url).database
    postgres._exec(f'CREATE ROLE "{role}" LOGIN')
    postgres._exec(f'ALTER ROLE "{role}" SET default_transaction_read_only = on')
    postgres._exec(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
    owner = create_engine(make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
    try:
        yield make_url(url).set(username=role).render_as_string(hide_password=False)
    finally:
        with owner.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                         {"r": role})
            conn.execute(text(f'DROP OWNED BY "{role}"'))  # its grants: the role can go
        owner.dispose()
        postgres._exec(f'DROP ROLE "{role}"')


def _pg(postgres: PostgresServer | None) -> PostgresServer:
    if postgres is None:
        unavailable("EMC_TEST_POSTGRES_URL is not set: the read replica needs PostgreSQL")
    assert postgres is not None
    return postgres


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def request_log() -> Iterator[list[logging.LogRecord]]:
    """The request log's lines (emc.web.requestlog: method, route, user and which database answered)."""
    logger, lines = logging.getLogger("emc.request"), _Lines()
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        yield lines.records
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)


def answered_by(records: list[logging.LogRecord], *methods: str) -> dict[str, set[str]]:
    """Which database answered the requests of ``methods`` that opened one: {database: {"GET /route", …}}."""
    out: dict[str, set[str]] = {}
    for r in records:
        database = getattr(r, "database", None)
        if database is not None and getattr(r, "method", "") in methods:
            out.setdefault(database, set()).add(f"{getattr(r, 'method', '')} {getattr(r, 'route', '')}")
    return out


NO_DATABASE = {"GET /api/openapi.json", "GET /api/docs", "GET /metrics", "GET /healthz"}  # no request session


def logged_gets(app: Any) -> set[str]:
    """Every GET route that opens a request session, named as the request log names it: by its whole template,
    the prefixes of the routers it was included under (/api) in front (emc.web.requestlog.route_template)."""
    def walk(routes: Any, prefix: str = "") -> Iterator[str]:
        for r in routes:
            if hasattr(r, "original_router"):
                yield from walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif "GET" in (getattr(r, "methods", None) or ()):
                yield f"GET {prefix}{r.path}"

    return set(walk(app.routes)) - NO_DATABASE


# -- the walk ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def replica_demo(postgres: PostgresServer | None) -> Iterator[tuple[str, str]]:
    """The demo on PostgreSQL and the URL of its read-only replica role."""
    server = _pg(postgres)
    url = server.fresh()
    build_demo_db(url)
    with read_only_role(server, url) as read_url:
        yield url, read_url


def test_the_replica_role_refuses_writes(replica_demo: tuple[str, str]) -> None:
    """What the walk relies on: the role cannot write, as a hot standby cannot."""
    _, read_url = replica_demo
    engine = create_engine(make_url(read_url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM app_user")).scalar_one() > 0
            with pytest.raises(DBAPIError, match="read-only transaction"):
                conn.execute(text("UPDATE app_user SET email = email"))
    finally:
        engine.dispose()


def test_every_route_answers_with_reads_on_the_replica_and_writes_on_the_primary(
        replica_demo: tuple[str, str]) -> None:
    from test_access_matrix import run_matrix

    url, read_url = replica_demo
    role = make_url(read_url).username
    # no read-your-writes window: every GET goes to the replica, even right after the walk's log-ins and posts
    with LiveServer(url, database_read_url=read_url, read_your_writes_s=0) as server, request_log() as lines:
        problems, requests = run_matrix(server)
        health = httpx.get(f"{server.url}/healthz").json()
        with server.engine.connect() as conn:
            replica_connections = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = :role AND datname = current_database()"),
                {"role": role}).scalar_one()
    assert requests > 1000
    assert problems == [], f"{len(problems)} of {requests} answers wrong:\n" + "\n".join(problems)
    reads, writes = answered_by(lines, "GET", "HEAD"), answered_by(lines, "POST", "PUT", "PATCH", "DELETE")
    assert set(reads) == {"replica"}, f"reads answered by the primary: {sorted(reads.get('primary', ()))}"
    assert logged_gets(server.app) - reads["replica"] == set(), "GET routes that never answered from the replica"
    assert {"GET /contracts/{code}/mv/report/{year}.pdf", "GET /settlements/{number}/statement.pdf",
            "GET /portfolio/export.xlsx", "GET /ledger/export.{fmt}"} <= reads["replica"]
    assert set(writes) == {"primary"} and "POST /login" in writes["primary"]
    assert replica_connections >= 1  # the read role's pooled connections, seen by the server itself
    assert health == {"status": "ok", "database": "ok", "replica": "ok", "migrations": "at head",
                      "version": health["version"]}


def _touching() -> Any:
    def touch(session: SessionDep) -> dict[str, int]:  # a write during a read, as a lazy cache fill would make
        return {"rows": session.execute(text("UPDATE app_user SET email = email WHERE username = 'admin'")).rowcount}

    return touch


def test_a_get_that_writes_is_marked_and_runs_on_the_primary(replica_demo: tuple[str, str]) -> None:
    from emc.web.replica import writes

    url, read_url = replica_demo
    server = LiveServer(url, database_read_url=read_url, read_your_writes_s=0)
    server.app.get("/test/unmarked")(_touching())
    server.app.get("/test/marked")(writes(_touching()))
    with server, request_log() as lines:
        unmarked = httpx.get(f"{server.url}/test/unmarked")
        marked = httpx.get(f"{server.url}/test/marked")
    assert unmarked.status_code == 500  # the replica refused the write
    assert marked.status_code == 200 and marked.json() == {"rows": 1}
    assert answered_by(lines, "GET") == {"replica": {"GET /test/unmarked"}, "primary": {"GET /test/marked"}}


# -- read-your-writes -----------------------------------------------------------------------------------------
def _login(server: LiveServer, username: str) -> httpx.Client:
    c = httpx.Client(base_url=server.url, follow_redirects=False, timeout=60)
    token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
    assert c.post("/login", data={"username": username, "password": f"demo-{username}",
                                  "csrf_token": token}).status_code == 303
    c.headers["X-CSRF-Token"] = CSRF.search(c.get("/account").text).group(1)  # type: ignore[union-attr]
    return c


def _signed_in_at_once(server: LiveServer, username: str) -> bool:
    """Log in, then open a page at once, as the browser does after the log-in's redirect."""
    c = httpx.Client(base_url=server.url, follow_redirects=False, timeout=60)
    token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
    posted = c.post("/login", data={"username": username, "password": f"demo-{username}", "csrf_token": token})
    return posted.status_code == 303 and c.get("/account").status_code == 200


def _moved(c: httpx.Client, server: LiveServer) -> httpx.Client:
    """The same browser (its cookies and token) talking to another web host."""
    moved = httpx.Client(base_url=server.url, follow_redirects=False, timeout=60, cookies=c.cookies)
    moved.headers["X-CSRF-Token"] = c.headers["X-CSRF-Token"]
    return moved


def test_the_writer_reads_its_write_at_once_while_a_lagging_replica_still_shows_others_the_old_state(
        postgres: PostgresServer | None) -> None:
    from test_web import _approved_wuxi_settlement

    server_ = _pg(postgres)
    url = server_.fresh()
    build_demo_db(url)
    with LiveServer(url) as first:  # one database: sign in, and draft the period to be submitted
        number = _approved_wuxi_settlement(first)
        signed_in = {name: _login(first, name) for name in ("manager", "admin")}
    # the replica: the database as it was at this instant, its replay stopped (no connection may be open)
    source, frozen = make_url(url).database, f"emc_t_{uuid.uuid4().hex[:12]}"
    server_._exec(f'CREATE DATABASE "{frozen}" TEMPLATE "{source}"')
    server_.created.append(frozen)
    with read_only_role(server_, server_.url_for(frozen)) as read_url, \
            LiveServer(url, database_read_url=read_url, read_your_writes_s=3600) as server, request_log() as lines:
        writer, other = (_moved(signed_in[name], server) for name in ("manager", "admin"))
        assert other.get(f"/api/settlements/{number}").json()["status"] == "draft"
        posted = writer.post(f"/settlements/{number}/submit", data={})
        assert posted.status_code == 303
        page = writer.get(posted.headers["location"])  # post/redirect/get, as a browser follows it
        assert page.status_code == 200 and number in page.text
        assert writer.get(f"/api/settlements/{number}").json()["status"] == "submitted"
        # the replica has not replayed the submit: someone who did not write reads the old state from it
        assert other.get(f"/api/settlements/{number}").json()["status"] == "draft"
        # a log-in is a write too: its session exists on the primary only, and the page after it is read there
        assert _signed_in_at_once(server, "finance")
    by_user: dict[str, set[str]] = {}
    for r in lines:
        if getattr(r, "method", "") == "GET" and getattr(r, "database", None):
            by_user.setdefault(getattr(r, "user", None) or "anonymous", set()).add(str(getattr(r, "database", "")))
    # the log-in form is read from the replica; what the writers read next, from the primary
    assert by_user == {"manager": {"primary"}, "admin": {"replica"}, "finance": {"primary"}, "anonymous": {"replica"}}


# -- without a replica -------------------------------------------------------------------------------------
def test_without_a_read_url_one_engine_answers_everything(db_url: str) -> None:
    from sqlmodel import Session

    from emc.org.service import UserCreate, create_user

    with LiveServer(db_url) as server, request_log() as lines:
        assert server.app.state.read_engine is server.app.state.engine
        with Session(server.engine) as s:
            create_user(s, UserCreate(username="solo", password="solo-password", role="admin"),
                        actor="test")
            s.commit()
        c = httpx.Client(base_url=server.url, follow_redirects=True, timeout=60)
        token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
        assert c.post("/login", data={"username": "solo", "password": "solo-password",
                                      "csrf_token": token}).status_code == 200
        assert c.get("/contracts").status_code == 200
    assert set(answered_by(lines, "GET", "POST")) == {"primary"}


@pytest.mark.parametrize(("primary", "replica", "named"), [
    ("", "postgresql://ro@db2/emc", "EMC_DATABASE_URL is 'sqlite'"),
    ("postgresql://emc@db1/emc", "sqlite:///replica.db", "EMC_DATABASE_READ_URL is 'sqlite'"),
])
def test_a_read_replica_needs_postgresql_on_both_sides(primary: str, replica: str, named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(database_url=primary, database_read_url=replica)


# -- a streaming standby ----------------------------------------------------------------------------------------
class Cluster:
    """A PostgreSQL cluster of the test's own, in a temporary directory: the shared test server takes no
    replication connections. Run as the ``postgres`` OS user when the tests run as root (initdb refuses root).
    Every command has a time limit; :meth:`stop` is safe to call whatever state the cluster is in."""

    def __init__(self, bindir: Path, home: Path, name: str) -> None:
        self.bindir, self.data, self.port = bindir, home / name, free_port()
        self.log, self.sockets = home / f"{name}.log", home
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/emc"

    def run(self, tool: str, *args: str, timeout: int = 120) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_postgres, str(self.bindir / tool), *args], capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=self.sockets)
        assert done.returncode == 0, f"{tool} {' '.join(args)}: {done.stderr or done.stdout}"

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                 f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")

    def sql(self, query: str, database: str = "emc") -> Any:
        engine = create_engine(make_url(self.url).set(drivername="postgresql+psycopg", database=database),
                               isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with engine.connect() as conn:
            result = conn.execute(text(query))
            return result.scalar() if result.returns_rows else None


def _postgres_bindir() -> Path:
    pg_config = shutil.which("pg_config")
    found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False) if pg_config else None
    bindir = Path(found.stdout.strip() if found and found.returncode == 0 else "/nonexistent")
    if not all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "pg_basebackup")) or \
            (os.geteuid() == 0 and shutil.which("runuser") is None):
        unavailable("PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) are needed for a standby")
    return bindir


def _replayed(primary: Cluster, standby: Cluster, within_s: int = 60) -> None:
    """Wait (bounded) until the standby has replayed everything the primary has written so far."""
    target = primary.sql("SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + within_s
    while not standby.sql(f"SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '{target}') >= 0"):
        assert time.monotonic() < deadline, f"the standby did not replay up to {target} within {within_s} s"
        time.sleep(0.1)


def _paused(standby: Cluster, within_s: int = 60) -> None:
    standby.sql("SELECT pg_wal_replay_pause()")
    deadline = time.monotonic() + within_s
    while standby.sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
        assert time.monotonic() < deadline, f"the standby's replay did not pause within {within_s} s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def streaming_pair() -> Iterator[tuple[Cluster, Cluster]]:
    """A primary with the demo, and a hot standby made by pg_basebackup -R that streams from it."""
    bindir = _postgres_bindir()
    home = Path(tempfile.mkdtemp(prefix="emc-replica-"))
    if os.geteuid() == 0:
        os.chown(home, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
    primary, standby = Cluster(bindir, home, "primary"), Cluster(bindir, home, "standby")
    try:
        primary.run("initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C")
        primary.start()
        primary.sql("CREATE DATABASE emc", database="postgres")
        build_demo_db(primary.url)
        for statement in ("CREATE ROLE emc_ro LOGIN", "ALTER ROLE emc_ro SET default_transaction_read_only = on",
                          "GRANT USAGE ON SCHEMA public TO emc_ro",
                          "GRANT SELECT ON ALL TABLES IN SCHEMA public TO emc_ro"):
            primary.sql(statement)
        primary.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                    "-D", str(standby.data), "-R", "-X", "stream", "--checkpoint=fast")
        standby.start()
        assert standby.sql("SELECT pg_is_in_recovery()")
        yield primary, standby
    finally:
        standby.stop()
        primary.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_a_streaming_standby_serves_reads_and_the_writer_never_waits_for_its_replay(
        streaming_pair: tuple[Cluster, Cluster]) -> None:
    from test_web import _approved_wuxi_settlement

    primary, standby = streaming_pair
    with LiveServer(primary.url) as first:  # the primary alone: draft the period, sign in (no stamps yet)
        number = _approved_wuxi_settlement(first)
        signed_in = {name: _login(first, name) for name in ("manager", "admin")}
    read_url = make_url(standby.url).set(username="emc_ro").render_as_string(hide_password=False)
    with LiveServer(primary.url, database_read_url=read_url, read_your_writes_s=3600) as server, \
            request_log() as lines:
        writer, other = (_moved(signed_in[name], server) for name in ("manager", "admin"))
        _replayed(primary, standby)
        assert other.get(f"/api/settlements/{number}").json()["status"] == "draft"
        _paused(standby)  # the replica falls behind, deterministically
        try:
            posted = writer.post(f"/settlements/{number}/submit", data={})
            assert posted.status_code == 303
            assert writer.get(posted.headers["location"]).status_code == 200
            assert writer.get(f"/api/settlements/{number}").json()["status"] == "submitted"
            assert other.get(f"/api/settlements/{number}").json()["status"] == "draft"  # not replayed yet
            assert _signed_in_at_once(server, "finance")
        finally:
            standby.sql("SELECT pg_wal_replay_resume()")
        _replayed(primary, standby)
        assert other.get(f"/api/settlements/{number}").json()["status"] == "submitted"
    reads: dict[str, set[str]] = {}
    for r in lines:
        if getattr(r, "method", "") == "GET" and getattr(r, "database", None):
            reads.setdefault(getattr(r, "user", None) or "anonymous", set()).add(str(getattr(r, "database", "")))
    assert reads == {"manager": {"primary"}, "admin": {"replica"}, "finance": {"primary"}, "anonymous": {"replica"}}
