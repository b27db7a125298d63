"""Shared fixtures: real databases (an SQLite file, and PostgreSQL when EMC_TEST_POSTGRES_URL is set),
the real app served over HTTP by uvicorn, and Debian's chromium driven by Playwright.

Each database test runs on both backends. Without a configured PostgreSQL server (or without
chromium) those tests skip with the reason; under CI (CI=true) they fail instead, so a green CI
means nothing was skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

import emc.wiring  # noqa: F401  (scope rules, as every shell installs them)
from emc.db import make_engine, upgrade

CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("EMC_TEST_POSTGRES_URL", "")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def unavailable(reason: str) -> None:
    """Skip locally; fail under CI, where everything must run."""
    if CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


# -- databases ------------------------------------------------------------------------------------
class PostgresServer:
    """Creates throwaway databases on the configured server; a migrated template makes each cheap."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url).set(drivername="postgresql+psycopg")
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        self.template = f"emc_tpl_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = [self.template]
        self._exec(f'CREATE DATABASE "{self.template}"')
        engine = make_engine(self.url_for(self.template))
        upgrade(engine)
        engine.dispose()

    def _exec(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def url_for(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def fresh(self) -> str:
        name = f"emc_t_{uuid.uuid4().hex[:12]}"
        self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return self.url_for(name)

    def drop_all(self) -> None:
        for name in reversed(self.created):
            self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    if not PG_URL:
        yield None
        return
    server = PostgresServer(PG_URL)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _fresh_url(backend: str, tmp_path: Path, sqlite_template: Path, postgres: PostgresServer | None) -> str:
    if backend == "sqlite":
        path = tmp_path / f"emc-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    if postgres is None:
        unavailable("EMC_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    assert postgres is not None
    return postgres.fresh()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path,
           postgres: PostgresServer | None) -> str:
    """The URL of a freshly migrated, empty database: an SQLite file, then a PostgreSQL database."""
    return _fresh_url(request.param, tmp_path, sqlite_template, postgres)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


# -- the app over HTTP ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, db_url: str, **settings_: object) -> None:
        """``settings_``: further settings (``database_read_url`` gives the app a read replica's engine)."""
        import uvicorn

        from emc.config import Settings
        from emc.web.app import create_app

        self.db_url = db_url
        self.engine = make_engine(db_url)
        settings = Settings(database_url=db_url, env="test", secret_key="test-secret-" + "x" * 32,
                            **settings_)  # type: ignore[arg-type]
        read_url = settings.database_read_url
        self.read_engine = make_engine(read_url, read_only=True) if read_url else self.engine
        self.app = create_app(settings, self.engine, self.read_engine)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # as `emc serve` runs it: uvicorn does not rewrite the client from X-Forwarded-For (emc.web.security does,
        # for EMC_TRUSTED_PROXIES only)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.engine.dispose()
        self.read_engine.dispose()


_DEMO_TEMPLATES: dict[str, str] = {}  # server and size → the demo built once this session (a file, or a database name)


def _build_demo(url: str, synthetic_contracts: int) -> None:
    from emc.demo.build import build_demo

    engine = make_engine(url)
    upgrade(engine)
    # settle=False: the tests take baselines and settlements through the workflow themselves
    for _ in build_demo(engine, synthetic_contracts=synthetic_contracts, settle=False):
        pass
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the whole demo in the file, to be copied
    engine.dispose()


def build_demo_db(url: str, synthetic_contracts: int = 12) -> None:
    """The demo (the examples, ``synthetic_contracts`` synthetic ones and the demo users; nothing settled) at
    ``url``, which names a fresh database. Built once per server, size and test session (11 s on SQLite, 38 s
    on PostgreSQL with 12), then copied: the file on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL —
    the same bytes a build gives (the demo is deterministic for a given day), in a second or two."""
    target = make_url(url)
    backend = target.get_backend_name()
    # per server (SQLite: "sqlite://") and size
    server = f'{target.set(database="").render_as_string(hide_password=False)}#{synthetic_contracts}'
    if server not in _DEMO_TEMPLATES:
        if backend == "sqlite":
            built = Path(os.path.dirname(target.database or ".")) / f"demo-template-{uuid.uuid4().hex[:8]}.db"
            _build_demo(f"sqlite:///{built}", synthetic_contracts)
            _DEMO_TEMPLATES[server] = str(built)
        else:
            name = f"emc_demo_tpl_{uuid.uuid4().hex[:10]}"
            _admin(url, f'CREATE DATABASE "{name}"')
            _build_demo(target.set(database=name).render_as_string(hide_password=False), synthetic_contracts)
            _DEMO_TEMPLATES[server] = name
            _PG_DEMO_TEMPLATES.append((url, name))
    if backend == "sqlite":
        for suffix in ("-wal", "-shm"):
            Path(f"{target.database}{suffix}").unlink(missing_ok=True)
        shutil.copy(_DEMO_TEMPLATES[server], str(target.database))
    else:
        _admin(url, f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        _admin(url, f'CREATE DATABASE "{target.database}" TEMPLATE "{_DEMO_TEMPLATES[server]}"')


_PG_DEMO_TEMPLATES: list[tuple[str, str]] = []


def _admin(url: str, sql: str) -> None:
    """A statement outside any database of the tests (the server's maintenance database)."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg", database="postgres"),
                           isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_demo_templates() -> Iterator[None]:
    yield
    for url, name in _PG_DEMO_TEMPLATES:
        # a test's own server (the read replica's primary) is stopped by then, its files gone with it
        with contextlib.suppress(OperationalError):
            _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def demo_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
                postgres: PostgresServer | None) -> Iterator[LiveServer]:
    """The demo database (examples + a small synthetic portfolio + demo users) served by uvicorn."""
    url = _fresh_url(request.param, tmp_path_factory.mktemp("demo"), sqlite_template, postgres)
    build_demo_db(url)
    with LiveServer(url) as server:
        yield server


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def settled_demo_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                        sqlite_template: Path, postgres: PostgresServer | None) -> Iterator[LiveServer]:
    """The demo as `emc demo` builds it, settlements included (baselines approved, every ended period with
    data drafted, the examples' first contract years approved): for invariants over the whole demo."""
    from emc.demo.build import build_demo

    url = _fresh_url(request.param, tmp_path_factory.mktemp("demo-settled"), sqlite_template, postgres)
    engine = make_engine(url)
    upgrade(engine)
    for _ in build_demo(engine, synthetic_contracts=12, settle=True):
        pass
    engine.dispose()
    with LiveServer(url) as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_demo_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[LiveServer]:
    """The demo on SQLite only: for browser tests, which test pages rather than the database."""
    url = _fresh_url("sqlite", tmp_path_factory.mktemp("demo-b"), sqlite_template, None)
    build_demo_db(url)
    with LiveServer(url) as server:
        yield server


# -- the browser ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium): browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        yield b
        b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    # bypass_csp: the tests' own wait_for_function strings are evaluated in the page, which the app's policy
    # (no eval) forbids; test_browser.test_htmx_works_under_the_content_security_policy checks the app under it
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN",  # type: ignore[attr-defined]
                                  bypass_csp=True)
    pg = context.new_page()
    yield pg
    context.close()


def screenshot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
