"""No server errors: schemathesis generates requests from the app's own OpenAPI schema (bounded, with a
fixed seed, so a failure replays) and sends them over HTTP to the real app, as a manager with a bearer
token and as the same manager's browser session. Every answer must be documented (status, content type,
body schema) and none may be a 500. On SQLite and PostgreSQL.

The database is its own (the examples' contracts, regions, a manager): fuzzed writes never reach the
shared demo the other tests read.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from conftest import LiveServer, PostgresServer, _fresh_url
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session, select

from emc.contracts.service import load_contract
from emc.contracts.spec import parse_contract
from emc.db import make_engine
from emc.org.models import Role, User
from emc.org.service import UserCreate, create_user, issue_token, load_regions

ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
                postgres: PostgresServer | None) -> Iterator[tuple[LiveServer, str]]:
    url = _fresh_url(request.param, tmp_path_factory.mktemp("fuzz"), sqlite_template, postgres)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        load_regions(s)
        for path in sorted((ROOT / "contracts").glob("*.toml")):
            load_contract(s, parse_contract(path.read_text(encoding="utf-8"), path.name), source=path.name,
                          actor="test")
        user = create_user(s, UserCreate(username="fuzz-mgr", password="fuzz-manager-pw", role=Role.manager,
                                         region="320000"), actor="test")
        token = issue_token(s, user, "fuzz", actor="test").token
        s.commit()
    engine.dispose()
    with LiveServer(url) as server:
        yield server, token


@pytest.fixture(scope="module")
def api_schema(fuzz_server: tuple[LiveServer, str]) -> schemathesis.BaseSchema:
    server, _ = fuzz_server
    return schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")


@pytest.fixture(scope="module")
def session_headers(fuzz_server: tuple[LiveServer, str]) -> dict[str, str]:
    """The manager's browser session: its cookie and the CSRF token writes need."""
    server, _ = fuzz_server
    with httpx.Client(base_url=server.url) as c:
        token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
        c.post("/login", data={"username": "fuzz-mgr", "password": "fuzz-manager-pw", "csrf_token": token})
        csrf = CSRF.search(c.get("/imports").text).group(1)  # type: ignore[union-attr]
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    return {"Cookie": cookie, "X-CSRF-Token": csrf}


def test_the_api_answers_every_generated_request_as_documented(api_schema: schemathesis.BaseSchema,
                                                               fuzz_server: tuple[LiveServer, str],
                                                               session_headers: dict[str, str]) -> None:
    _, token = fuzz_server
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # revoking a token may hit the fuzzing token itself: that operation goes last, so every other one is
    # fuzzed with a live bearer token too
    operations.sort(key=lambda op: op.path.endswith("/revoke"))
    assert len(operations) >= 25

    def fuzz(operation: schemathesis.APIOperation) -> None:
        @given(case=operation.as_strategy())
        @settings(max_examples=12, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            for headers in ({"Authorization": f"Bearer {token}"}, session_headers):
                try:
                    case.call_and_validate(headers=headers, checks=CHECKS)
                except Exception as exc:  # collect every operation's failure, then report them all
                    failures.append(f"{operation.label}: {str(exc)[:600]}")
                    raise

        with contextlib.suppress(Exception):  # recorded above, with the request that failed
            run()

    for operation in operations:
        fuzz(operation)
    assert failures == [], "\n\n".join(failures)


def test_known_server_errors_are_client_errors(fuzz_server: tuple[LiveServer, str]) -> None:
    """Cases schemathesis once found as server errors, asked directly."""
    server, _ = fuzz_server
    # a token of its own: the fuzzing before it may have revoked the shared one (DELETE /api/tokens/{id})
    with Session(server.engine, expire_on_commit=False) as s:
        user = s.exec(select(User).where(User.username == "fuzz-mgr")).one()
        token = issue_token(s, user, "known cases", actor="test").token
        s.commit()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        assert c.get("/api/tariffs", params={"code": "NO-SUCH-TARIFF"}).status_code == 404
        for path in ("/api/settlements", "/api/imports", "/api/carbon/ledger", "/api/carbon/warnings"):
            r = c.get(path, params={"page": "99999999999999999999"})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "page"], (path, r.text)
        r = c.post("/api/imports/1/revert", content=b"reason=x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 422 and isinstance(r.json()["detail"], list), r.text
