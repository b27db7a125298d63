"""Every route × every kind of actor × an object in and out of their scope → the answer they must get.

The routes are read from the application itself (``app.routes``), so a new route fails this test until it is
described in :data:`ROUTES` (who may use it, which object its path names, a body that reaches the handler
without changing anything the rest of the test relies on). Each answer is reduced to an outcome:

* ``login``     — 303 to /login (pages) or 401 (API): not signed in, logged out, deactivated, token revoked;
* ``forbidden`` — 403: signed in, the role may not do this;
* ``hidden``    — 404: the object does not exist *for this actor* (out of scope looks exactly like absent);
* ``ok``        — the handler ran (200, a redirect elsewhere, a 409/422 refusal of the action itself).

Two fixed objects of each kind stand for "in" and "out": side W hangs off the Wuxi civic centre (滨湖区, the
ESCO ``esco``), side C off the Changzhou hospital (钟楼区, ``esco2``). A signed-in actor sees W, C or both
(:data:`SEES`). On top of the status, every page or JSON answered ``ok`` must not contain the other side's
marker (its contract code prefix), which is how lists, exports and "used by" columns are checked.
An actor whose role is refused *and* who cannot see the object may get 403 or 404: either refuses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from conftest import LiveServer
from sqlmodel import Session, select

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
W, C = "W", "C"
MARK = {W: "WX-SMZX", C: "CZ-ZLRMYY"}
SIGNED_IN = ["admin", "manager", "binhu", "finance", "viewer", "esco", "esco2"]
NOBODY = ["anonymous", "deactivated", "logged_out", "revoked_token"]
ACTORS = SIGNED_IN + NOBODY
ROLE = {"admin": "admin", "manager": "manager", "binhu": "manager", "finance": "finance", "viewer": "viewer",
        "esco": "esco", "esco2": "esco"}
SEES = {"admin": {W, C}, "manager": {W, C}, "finance": {W, C}, "binhu": {W}, "viewer": {W}, "esco": {W},
        "esco2": {C}}
BUREAU = {"admin", "manager", "finance", "viewer"}
ALL = set(ROLE.values())

CONTRACT = {W: "WX-SMZX-2018", C: "CZ-ZLRMYY-HVAC-2024"}
INSTITUTION = {W: "WX-SMZX", C: "CZ-ZLRMYY"}
METER = {W: "WX-SMZX-E11", C: "CZ-ZLRMYY-E01"}
TARIFF = {W: ("WX-WATER-NONRES", "water"), C: ("CZ-WATER-PLAN", "water")}
C_NUMBER = "CZ-ZLRMYY-HVAC-2024-202501"


@dataclass
class World:
    """The objects of each side, by kind, created once per demo server."""

    batch: dict[str, int] = field(default_factory=dict)
    number: dict[str, str] = field(default_factory=dict)
    warning: dict[str, int] = field(default_factory=dict)
    carbon_key: dict[str, str] = field(default_factory=dict)
    baseline: int = 0
    admin_token_id: int = 0  # a token of the user "gone": every other user must get 404 revoking it


@dataclass(frozen=True)
class Spec:
    roles: set[str] | str  # "public": no sign-in needed; else the roles that may use it
    params: Callable[[str, World], dict[str, Any]] | None = None  # path values for a side; None: no object
    body: Callable[[str, World], dict[str, Any]] | None = None  # httpx kwargs (data/json/files)
    sides: tuple[str, ...] = (W, C)
    hidden_for_all: tuple[str, ...] = ()  # sides whose object belongs to no one who asks (another user's token)
    markers: bool = True  # check the answer for the other side's marker
    own_actors: tuple[str, ...] | None = None  # expensive renders: run the in-scope case for these only
    public_outcomes: frozenset[str] = frozenset({"ok"})


def contract(side: str, w: World) -> dict[str, Any]:
    return {"code": CONTRACT[side]}


def hourly(meter: str) -> bytes:
    """A day of the meter's readings and one row of an unknown meter: the preview has an error, so committing
    it (as the matrix does, for every actor) writes nothing."""
    rows = "".join(f"{meter},2024-06-01 {h:02d}:00,{10 + h}\n" for h in range(24))
    return ("表号,时间,用量(kWh)\n" + rows + "NO-SUCH-METER,2024-06-01 00:00,1\n").encode("gbk")


def _form(**values: Any) -> Callable[[str, World], dict[str, Any]]:
    return lambda side, w: {"data": dict(values)}


NO_OBJECT: tuple[str, ...] = ("-",)
ROUTES: dict[str, Spec] = {
    "GET /api/openapi.json": Spec("public", sides=NO_OBJECT, markers=False),
    "GET /api/docs": Spec("public", sides=NO_OBJECT, markers=False),
    "GET /healthz": Spec("public", sides=NO_OBJECT, markers=False),
    # administrators only, and everyone else (signed in or not) gets the plain 404 (tests/test_serving.py)
    "GET /metrics": Spec("public", sides=NO_OBJECT, markers=False, public_outcomes=frozenset({"ok", "hidden"})),
    "GET /login": Spec("public", sides=NO_OBJECT, markers=False, public_outcomes=frozenset({"ok", "login"})),
    "POST /login": Spec("public", sides=NO_OBJECT, markers=False, body=_form(username="nobody", password="x" * 8),
                        public_outcomes=frozenset({"login", "ok"})),  # 401 wrong password, then 429
    "POST /logout": Spec("public", sides=NO_OBJECT, markers=False, own_actors=(),  # would end the session
                         public_outcomes=frozenset({"ok", "login"})),
    "POST /lang/{code}": Spec("public", params=lambda s, w: {"code": "zh"}, sides=NO_OBJECT, markers=False),
    "GET /verify": Spec("public", sides=NO_OBJECT, markers=False),
    "GET /verify/{number}": Spec("public", params=lambda s, w: {"number": w.number[s]}, markers=False),
    # no code, no file: the form again (a wrong code would count against the address's /verify allowance)
    "POST /verify": Spec("public", sides=NO_OBJECT, markers=False, body=_form(number="X")),
    "POST /verify/{number}": Spec("public", params=lambda s, w: {"number": w.number[s]}, markers=False),
    "GET /": Spec(ALL, sides=NO_OBJECT),
    "GET /home": Spec({"esco"}, sides=NO_OBJECT),  # the ESCO's home; the bureau's first page is the portfolio
    "GET /api/me": Spec(ALL, sides=NO_OBJECT),
    "GET /account": Spec(ALL, sides=NO_OBJECT),
    "POST /account/password": Spec(ALL, sides=NO_OBJECT, body=_form(current="wrong-password", new="a" * 10,
                                                                     confirm="b" * 10)),
    "POST /account/tokens": Spec(ALL, sides=NO_OBJECT, body=_form(name="", days=0)),
    "POST /account/tokens/{token_id}/revoke": Spec(ALL, params=lambda s, w: {"token_id": w.admin_token_id},
                                                   sides=(W,), hidden_for_all=(W,)),
    "GET /api/tokens": Spec(ALL, sides=NO_OBJECT),
    "POST /api/tokens/{token_id}/revoke": Spec(ALL, params=lambda s, w: {"token_id": w.admin_token_id},
                                               sides=(W,), hidden_for_all=(W,)),
    # the inbox: every signed-in user's own; marking all read is left out for them (other tests read unread counts)
    "GET /notifications": Spec(ALL, sides=NO_OBJECT),
    "GET /notifications/count": Spec(ALL, sides=NO_OBJECT),
    "GET /api/notifications": Spec(ALL, sides=NO_OBJECT),
    "POST /notifications/read-all": Spec(ALL, sides=NO_OBJECT, own_actors=()),
    "POST /notifications/email": Spec(ALL, sides=NO_OBJECT, body=_form(email="not an address")),
    "POST /notifications/{notification_id}/read": Spec(ALL, params=lambda s, w: {"notification_id": 10**9},
                                                       hidden_for_all=(W, C)),
    # contracts
    "GET /contracts": Spec(ALL, sides=NO_OBJECT),
    "GET /contracts/{code}": Spec(ALL, params=contract),
    "POST /contracts/upload": Spec({"admin", "manager"}, sides=NO_OBJECT,
                                   body=lambda s, w: {"files": {"file": ("x.toml", b"not = [toml")}}),
    "GET /api/contracts": Spec(ALL, sides=NO_OBJECT),
    "GET /api/contracts/{code}": Spec(ALL, params=contract),
    # M&V
    "GET /contracts/{code}/mv": Spec(ALL, params=contract),
    "GET /contracts/{code}/mv/report/{year}.pdf": Spec(ALL, params=lambda s, w: {**contract(s, w), "year": 1},
                                                       own_actors=("binhu", "esco2"), markers=False),
    "POST /contracts/{code}/mv/fit": Spec({"admin", "manager", "esco"}, params=contract,
                                          body=_form(utility="no-such-utility")),
    "POST /contracts/{code}/mv/baselines/{baseline_id}": Spec(
        {"admin", "manager"}, params=lambda s, w: {**contract(s, w), "baseline_id": w.baseline},
        body=_form(decision="reject", reason=""), hidden_for_all=(C,)),
    "POST /contracts/{code}/mv/adjustments": Spec(
        {"admin", "manager", "esco"}, params=contract,
        body=_form(utility="electricity", kind="no-such-kind", start="2020-01-01", reason="matrix")),
    "POST /contracts/{code}/mv/adjustments/{adjustment_id}": Spec(
        {"admin", "manager"}, params=lambda s, w: {**contract(s, w), "adjustment_id": 10**9},
        body=_form(decision="approve"), hidden_for_all=(W, C)),
    "GET /api/contracts/{code}/baselines": Spec(ALL, params=contract),
    "GET /api/contracts/{code}/savings": Spec(ALL, params=contract, body=lambda s, w: {"params": {
        "utility": "water", "start": "2019-01-01", "end": "2019-02-01"}}),
    # imports
    "GET /imports": Spec({"admin", "manager", "esco", "finance", "viewer"}, sides=NO_OBJECT),
    "POST /imports": Spec({"admin", "manager", "esco"}, sides=NO_OBJECT,
                          body=lambda s, w: {"files": {"file": ("empty.csv", b"")}}),
    "GET /imports/{batch_id}": Spec({"admin", "manager", "esco", "finance", "viewer"},
                                    params=lambda s, w: {"batch_id": w.batch[s]}),
    "POST /imports/{batch_id}/commit": Spec({"admin", "manager", "esco"},
                                            params=lambda s, w: {"batch_id": w.batch[s]}),
    "POST /imports/{batch_id}/revert": Spec({"admin", "manager"}, params=lambda s, w: {"batch_id": w.batch[s]},
                                            body=_form(reason="matrix test")),
    "GET /imports/{batch_id}/rejects.{fmt}": Spec({"admin", "manager", "esco", "finance", "viewer"},
                                                  params=lambda s, w: {"batch_id": w.batch[s], "fmt": "csv"}),
    "POST /imports/{batch_id}/discard": Spec({"admin", "manager", "esco"},
                                             params=lambda s, w: {"batch_id": w.batch[s]}),
    "GET /imports/templates/{layout}.{fmt}": Spec({"admin", "manager", "esco"}, sides=NO_OBJECT,
                                                  params=lambda s, w: {"layout": "long-interval", "fmt": "csv"}),
    "GET /api/imports": Spec({"admin", "manager", "esco", "finance", "viewer"}, sides=NO_OBJECT),
    "POST /api/imports/{batch_id}/discard": Spec({"admin", "manager", "esco"},
                                                 params=lambda s, w: {"batch_id": w.batch[s]}),
    "POST /api/imports": Spec({"admin", "manager", "esco"}, sides=NO_OBJECT,
                              body=lambda s, w: {"files": {"file": ("empty.csv", b"")}}),
    "GET /api/imports/{batch_id}": Spec({"admin", "manager", "esco", "finance", "viewer"},
                                        params=lambda s, w: {"batch_id": w.batch[s]}),
    "POST /api/imports/{batch_id}/commit": Spec({"admin", "manager", "esco"},
                                                params=lambda s, w: {"batch_id": w.batch[s]}),
    "POST /api/imports/{batch_id}/revert": Spec({"admin", "manager"}, params=lambda s, w: {"batch_id": w.batch[s]},
                                                body=lambda s, w: {"json": {"reason": "matrix test"}}),
    # settlements, statements, ledger
    "GET /portfolio": Spec(ALL, sides=NO_OBJECT),
    "GET /settlements": Spec(ALL, sides=NO_OBJECT),
    "GET /settlements/export.{fmt}": Spec(ALL, params=lambda s, w: {"fmt": "csv"}, sides=NO_OBJECT),
    "POST /settlements/issue-period": Spec({"admin", "manager"}, sides=NO_OBJECT, body=_form(month="1990-01")),
    "GET /settlements/period/{month}.zip": Spec({"admin", "manager", "finance"}, params=lambda s, w: {
        "month": "1990-01"}, sides=NO_OBJECT),
    "GET /statements": Spec(ALL, sides=NO_OBJECT),
    "GET /portfolio/export.xlsx": Spec(ALL, sides=NO_OBJECT, markers=False),  # a zip: checked in test_bulk_settling
    # bulk: a number nobody has, so the review lists it as skipped and the run does nothing
    "POST /settlements/bulk/{action}/review": Spec({"admin", "manager"}, params=lambda s, w: {"action": "submit"},
                                                   sides=NO_OBJECT, body=_form(number="NO-SUCH-SETTLEMENT")),
    "POST /settlements/bulk/{action}": Spec({"admin", "manager"}, params=lambda s, w: {"action": "approve"},
                                            sides=NO_OBJECT, body=_form(number="NO-SUCH-SETTLEMENT",
                                                                        confirm_count="0", confirm_amount="0")),
    "GET /settlements/{number}/confirm/{action}": Spec({"admin", "manager"}, params=lambda s, w: {
        "number": w.number[s], "action": "approve"}),
    "GET /ledger/export.{fmt}": Spec(ALL, params=lambda s, w: {"fmt": "csv"}, sides=NO_OBJECT),
    "GET /ledger/balances.{fmt}": Spec(ALL, params=lambda s, w: {"fmt": "csv"}, sides=NO_OBJECT),
    "GET /settlements/{number}": Spec(ALL, params=lambda s, w: {"number": w.number[s]}),
    "POST /settlements/{number}/{action}": Spec({"admin", "manager"}, params=lambda s, w: {
        "number": w.number[s], "action": "adjust"}),  # never possible here: refused
    "GET /settlements/{number}/statement.pdf": Spec(ALL, params=lambda s, w: {"number": w.number[s]},
                                                    markers=False),
    # a one-institution statement's allocation is one row: the institution pays the whole
    "GET /settlements/{number}/allocation.{fmt}": Spec(ALL, params=lambda s, w: {"number": w.number[s],
                                                                                 "fmt": "csv"}, markers=False),
    "GET /api/settlements": Spec(ALL, sides=NO_OBJECT),
    "GET /api/settlements/{number}": Spec(ALL, params=lambda s, w: {"number": w.number[s]}),
    "POST /api/settlements/{number}/{action}": Spec({"admin", "manager"}, params=lambda s, w: {
        "number": w.number[s], "action": "adjust"}, body=lambda s, w: {"json": {}}),
    # tariffs
    "GET /tariffs": Spec(ALL, sides=NO_OBJECT),
    "POST /tariffs/upload": Spec({"admin", "manager"}, sides=NO_OBJECT,
                                 body=lambda s, w: {"files": {"file": ("t.toml", b"format = 1")}}),
    "GET /tariffs/{code}/{utility}": Spec(ALL, params=lambda s, w: dict(zip(("code", "utility"), TARIFF[s],
                                                                           strict=True))),
    "POST /tariffs/{code}/{utility}/versions": Spec(
        {"admin", "manager"}, params=lambda s, w: dict(zip(("code", "utility"), TARIFF[s], strict=True)),
        body=lambda s, w: {"data": {"version": {W: "2018-01-01", C: "2024-01-01"}[s], "effective_from": "2030-01-01",
                                    "source": "matrix"}}),  # a version it already has: refused, nothing written
    "GET /api/tariffs": Spec(ALL, sides=NO_OBJECT),
    # carbon
    "GET /carbon": Spec(ALL, sides=NO_OBJECT),
    "GET /carbon/institutions/{code}": Spec(ALL, params=lambda s, w: {"code": INSTITUTION[s]}),
    "POST /carbon/warnings/{warning_id}/acknowledge": Spec(BUREAU - {"viewer", "finance"},
                                                          params=lambda s, w: {"warning_id": w.warning[s]}),
    "GET /carbon/leaderboards": Spec(ALL, sides=NO_OBJECT),
    "GET /carbon/factors": Spec({"admin", "manager"}, sides=NO_OBJECT),
    "GET /carbon/statistics.xlsx": Spec(ALL, sides=NO_OBJECT, markers=False),
    "GET /carbon/ledger.csv": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/factors": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/ledger": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/ledger/history": Spec(ALL, body=lambda s, w: {"params": {"key": w.carbon_key[s]}}),
    "GET /api/carbon/restatements": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/rollup": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/indicators": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/targets": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/warnings": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/leaderboards": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/statistics": Spec(ALL, sides=NO_OBJECT),
    "GET /api/carbon/dashboard": Spec(ALL, sides=NO_OBJECT),
    # administration
    "GET /admin/users": Spec({"admin"}, sides=NO_OBJECT),
    "POST /admin/users": Spec({"admin"}, sides=NO_OBJECT, body=_form(username="", password="", role="viewer")),
    "POST /admin/users/{username}/active": Spec({"admin"}, params=lambda s, w: {"username": "viewer"},
                                                sides=NO_OBJECT, body=_form(active="true")),
    "POST /admin/users/{username}/password": Spec({"admin"}, params=lambda s, w: {"username": "viewer"},
                                                  sides=NO_OBJECT, body=_form(password="short", confirm="other")),
    "POST /admin/users/{username}/role": Spec({"admin"}, params=lambda s, w: {"username": "viewer"},
                                              sides=NO_OBJECT, body=_form(role="viewer", region="320200")),  # as it is
    "GET /audit": Spec({"admin"}, sides=NO_OBJECT),
    "GET /audit.csv": Spec({"admin"}, sides=NO_OBJECT),
    "GET /api/users": Spec({"admin"}, sides=NO_OBJECT),
    "POST /api/users": Spec({"admin"}, sides=NO_OBJECT, body=lambda s, w: {"json": {"username": "x"}}),
}


def app_routes(app: Any) -> list[str]:
    """Every "METHOD /path" the application answers, read from its router (included routers flattened)."""
    def walk(routes: Any, prefix: str = "") -> Iterator[str]:
        for r in routes:
            if hasattr(r, "original_router"):  # an included router
                yield from walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif getattr(r, "methods", None):
                for method in sorted(r.methods - {"HEAD"}):
                    yield f"{method} {prefix}{r.path}"

    return sorted(set(walk(app.routes)))


# -- the world ------------------------------------------------------------------------------------------
def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=60)


def _login(server: LiveServer, username: str, password: str | None = None) -> httpx.Client:
    c = _client(server)
    token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"username": username, "password": password or f"demo-{username}",
                               "csrf_token": token})
    assert r.status_code == 303, (username, r.text[:300])
    c.headers["X-CSRF-Token"] = CSRF.search(c.get("/account").text).group(1)  # type: ignore[union-attr]
    return c


def _preview(c: httpx.Client, meter: str) -> int:
    r = c.post("/api/imports", files={"file": (f"matrix-{meter}.csv", hourly(meter))})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def build_world(server: LiveServer) -> World:
    from test_web import _approved_wuxi_settlement

    from emc.baselines.models import Baseline
    from emc.carbon.models import CarbonEntry, CarbonWarning
    from emc.contracts.models import Contract
    from emc.org.models import Institution, User
    from emc.org.service import UserCreate, create_user, issue_token
    from emc.settlement.models import Settlement, SettlementSource, SettlementStatus

    w = World()
    w.number[W] = _approved_wuxi_settlement(server)
    w.batch[W] = _preview(_login(server, "esco"), METER[W])
    w.batch[C] = _preview(_login(server, "esco2"), METER[C])
    with Session(server.engine, expire_on_commit=False) as s:
        cz = s.exec(select(Contract).where(Contract.code == CONTRACT[C])).one()
        if s.exec(select(Settlement).where(Settlement.number == C_NUMBER)).first() is None:
            # approved and priced with the province's TOU tariff (as its recorded sources say), which every
            # region reads: its tariff page must not list this number to anyone who cannot see the hospital
            row = Settlement(number=C_NUMBER, contract_id=cz.id, period_start=date(2025, 1, 1),
                             period_end=date(2025, 2, 1), contract_year=1, status=SettlementStatus.approved,
                             net_to_esco=Decimal("12345.67"), created_by="matrix",
                             inputs={"tariff_versions": "JS-TOU-GS/electricity@2025-06-01"})
            s.add(row)
            s.flush()
            s.add(SettlementSource(settlement_id=row.id, kind="tariff", ref="JS-TOU-GS/electricity@2025-06-01"))
        w.number[C] = C_NUMBER
        for side in (W, C):
            inst = s.exec(select(Institution).where(Institution.code == INSTITUTION[side])).one()
            found = s.exec(select(CarbonWarning).where(CarbonWarning.institution_id == inst.id,
                                                       CarbonWarning.quota_id == "matrix")).first()
            if found is None:
                found = CarbonWarning(institution_id=inst.id, year=2024, quota_id="matrix", indicator="energy",
                                      level="constraint", tier_bp=8000, through=date(2024, 6, 1),
                                      ratio=Decimal("0.8"), year_to_date=Decimal(1), allowed_to_date=Decimal(1))
                s.add(found)
                s.flush()
            w.warning[side] = found.id or 0
            w.carbon_key[side] = s.exec(select(CarbonEntry.key).where(CarbonEntry.institution_id == inst.id,
                                                                      CarbonEntry.contract_id.is_(None))).first()
        wx = s.exec(select(Contract).where(Contract.code == CONTRACT[W])).one()
        w.baseline = s.exec(select(Baseline.id).where(Baseline.contract_id == wx.id)).first() or 0
        gone = s.exec(select(User).where(User.username == "gone")).first() or create_user(
            s, UserCreate(username="gone", password="demo-gone", role="manager", region="320211"), actor="matrix")
        w.admin_token_id = issue_token(s, gone, "matrix", actor="matrix").record.id or 0  # nobody else's token
        s.commit()
    return w


@dataclass
class Actors:
    clients: dict[str, httpx.Client]
    cookies: dict[str, dict[str, str]]  # the replayed cookies of the actors who are not signed in


def build_actors(server: LiveServer) -> Actors:
    from emc.org.models import User
    from emc.org.service import issue_token, revoke_token, set_active

    clients = {name: _login(server, name) for name in SIGNED_IN}
    anonymous = _client(server)
    anonymous.headers["X-CSRF-Token"] = CSRF.search(anonymous.get("/login").text).group(1)  # type: ignore[union-attr]
    clients["anonymous"] = anonymous
    # a cookie replayed after logout, and one of a user deactivated while signed in
    out = _login(server, "binhu")
    kept = dict(out.cookies)
    assert out.post("/logout").status_code == 303
    out.cookies.clear()
    out.cookies.update(kept)
    clients["logged_out"] = out
    gone = _login(server, "gone")
    revoked = _client(server)
    with Session(server.engine, expire_on_commit=False) as s:
        user = s.exec(select(User).where(User.username == "gone")).one()
        set_active(s, user, False, actor="matrix")
        binhu = s.exec(select(User).where(User.username == "binhu")).one()
        issued = issue_token(s, binhu, "matrix-revoked", actor="matrix")
        revoke_token(s, issued.record, actor="matrix")
        s.commit()
    clients["deactivated"] = gone
    revoked.headers["Authorization"] = f"Bearer {issued.token}"
    clients["revoked_token"] = revoked
    return Actors(clients, {name: dict(clients[name].cookies) for name in NOBODY})


# -- the oracle ------------------------------------------------------------------------------------------
def outcome(method: str, path: str, r: httpx.Response) -> str:
    if r.status_code == 401 or (r.status_code == 303 and r.headers.get("location", "").startswith("/login")) \
            or r.headers.get("hx-redirect", "").startswith("/login"):
        return "login"
    if r.status_code == 403:
        return "forbidden"
    if r.status_code == 404:
        return "hidden"
    if r.status_code >= 500:
        return f"error {r.status_code}"
    return "ok"


def expected(spec: Spec, actor: str, side: str) -> set[str]:
    if spec.roles == "public":
        return set(spec.public_outcomes)
    if actor in NOBODY:
        return {"login"}
    role_ok = ROLE[actor] in spec.roles
    visible = side == "-" or (side in SEES[actor] and side not in spec.hidden_for_all)
    if not visible:
        return {"hidden"} if role_ok else {"hidden", "forbidden"}
    return {"ok"} if role_ok else {"forbidden"}


def run_matrix(server: LiveServer) -> tuple[list[str], int]:
    world = build_world(server)
    actors = build_actors(server)
    routes = app_routes(server.app)
    problems = [f"{r}: not in ROUTES (say who may use it and which object it names)"
                for r in routes if r not in ROUTES]
    problems += [f"{r}: in ROUTES but the app has no such route" for r in ROUTES if r not in routes]
    requests = 0
    for key in routes:
        spec = ROUTES.get(key)
        if spec is None:
            continue
        method, template = key.split(" ", 1)
        for side in spec.sides:
            params = spec.params(side if side != "-" else W, world) if spec.params else {}
            path = template.format(**params) if params else template
            for actor in ACTORS:
                want = expected(spec, actor, side)
                if want == {"ok"} and spec.own_actors is not None and actor not in spec.own_actors \
                        and spec.roles != "public":
                    continue
                if spec.own_actors == () and actor in SIGNED_IN:
                    continue
                kwargs = spec.body(side if side != "-" else W, world) if spec.body else {}
                if method == "POST" and not kwargs:
                    kwargs = {"data": {}}
                c = actors.clients[actor]
                if actor in NOBODY:  # replay the same cookie every time, whatever the last answer set
                    c.cookies.clear()
                    c.cookies.update(actors.cookies[actor])
                r = c.request(method, path, **kwargs)
                requests += 1
                got = outcome(method, path, r)
                if got not in want:
                    problems.append(f"{actor:13} {key} [{side}] {path}: {r.status_code} → {got}, expected "
                                    f"{'/'.join(sorted(want))}")
                elif got == "ok" and spec.markers and actor in SIGNED_IN:
                    text = r.text if "text" in r.headers.get("content-type", "") or "json" in \
                        r.headers.get("content-type", "") else ""
                    for other in ({W, C} - SEES[actor]):
                        if MARK[other] in text:
                            problems.append(f"{actor:13} {key} [{side}] {path}: shows {MARK[other]} (out of scope)")
    return problems, requests


def test_every_route_answers_every_actor_as_their_scope_allows(demo_server: LiveServer) -> None:
    problems, requests = run_matrix(demo_server)
    assert requests > 1000
    assert problems == [], f"{len(problems)} of {requests} answers wrong:\n" + "\n".join(problems)


@pytest.mark.parametrize("needle", ["GET /contracts/{code}", "POST /imports/{batch_id}/revert"])
def test_the_route_list_comes_from_the_app(demo_server: LiveServer, needle: str) -> None:
    assert needle in app_routes(demo_server.app)
