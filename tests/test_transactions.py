"""One transaction per request, over HTTP (emc.web.deps.get_session): the handler's writes are committed
before the response is sent, so a commit that fails answers an error — never the 200 the handler had
prepared — and a handler that raises leaves nothing behind. Also: while the app answers, get_settings() is
the app's own settings object (emc.config), in the thread pool where plain ``def`` handlers run.

The app is the real one (create_app on a migrated database, served by uvicorn); the routes named probe are
added by this test and use the app's own session dependency and error handling."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from conftest import LiveServer
from sqlmodel import Session, select

from emc.config import get_settings
from emc.errors import Conflict
from emc.org.models import Esco
from emc.web.deps import CONCURRENT_CHANGE, SessionDep


@pytest.fixture
def server(db_url: str) -> Iterator[LiveServer]:
    live = LiveServer(db_url)

    @live.app.get("/api/probe/one/{code}")
    def one(session: SessionDep, code: str) -> dict[str, str]:
        session.add(Esco(code=code, name="probe"))
        return {"stored": code}

    @live.app.get("/api/probe/twice/{code}")
    @live.app.get("/probe/twice/{code}")
    def twice(session: SessionDep, code: str) -> dict[str, str]:
        session.add(Esco(code=code, name="first"))
        session.add(Esco(code=code, name="second"))  # the unique key fails at the commit, after this returns
        return {"stored": code}

    @live.app.get("/api/probe/refused/{code}")
    def refused(session: SessionDep, code: str) -> dict[str, str]:
        session.add(Esco(code=code, name="refused"))
        session.flush()  # written, then refused: the rollback must take it back
        raise Conflict(f"{code}: refused after writing")

    @live.app.get("/api/probe/settings")
    def settings() -> dict[str, bool]:
        return {"same": get_settings() is live.app.state.settings}

    with live:
        yield live


def _escos(server: LiveServer, code: str) -> list[str]:
    with Session(server.engine) as s:
        return [e.name for e in s.exec(select(Esco).where(Esco.code == code)).all()]


def test_a_write_is_committed_before_the_answer(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/api/probe/one/P-ONE")
    assert r.status_code == 200 and r.json() == {"stored": "P-ONE"}
    assert _escos(server, "P-ONE") == ["probe"]  # read at once, on another connection: already there


def test_a_commit_that_fails_answers_409_not_200(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/api/probe/twice/P-TWICE")
    assert r.status_code == 409, r.text
    assert r.json() == {"detail": CONCURRENT_CHANGE}
    assert _escos(server, "P-TWICE") == []
    again = httpx.get(f"{server.url}/probe/twice/P-TWICE", headers={"HX-Request": "true"})
    assert again.status_code == 409 and again.headers["HX-Reswap"] == "none" and "nothing was saved" in again.text


def test_a_handler_that_raises_leaves_nothing(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/api/probe/refused/P-REFUSED")
    assert r.status_code == 409 and r.json() == {"detail": "P-REFUSED: refused after writing"}
    assert _escos(server, "P-REFUSED") == []


def test_handlers_read_the_apps_own_settings(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/api/probe/settings").json() == {"same": True}
    assert get_settings() is not server.app.state.settings  # outside a request: the process's own
