"""The leaks of issue 11, one test each, over the real app and the demo (each failed before the change):
contract files moving institutions and renaming ESCOs, "already loaded" revealing contracts, tariff pages
listing other regions' settlements, /verify showing statements, the ESCO upload and meter-code oracles, and
sessions and tokens that outlived logout, password changes and revocation."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer
from sqlmodel import Session, select
from test_access_matrix import C_NUMBER, CONTRACT, METER, _client, _login, build_world, hourly

ROOT = Path(__file__).resolve().parent.parent
HOSPITAL = (ROOT / "contracts" / "hospital-hvac-lighting.toml").read_text(encoding="utf-8")


def _upload_contract(c: httpx.Client, name: str, text: str) -> httpx.Response:
    return c.post("/contracts/upload", files={"file": (name, text.encode())}, headers={"HX-Request": "true"})


# -- contract files: every object they touch must be the loader's ------------------------------------------
def test_a_district_manager_cannot_move_an_institution_or_rename_an_esco_by_contract_file(
        demo_server: LiveServer) -> None:
    from emc.org.models import Esco, Institution, Region

    binhu = _login(demo_server, "binhu")
    amended = (HOSPITAL.replace('region = "320404"', 'region = "320211"')
               .replace("常州恒远综合能源服务有限公司", "被改名的公司")
               + '\n[amendment]\neffective = 2025-01-01\nreason = "moved"\n')
    r = _upload_contract(binhu, "hospital.toml", amended)
    text = html.unescape(r.text)
    assert r.status_code == 422 and "not available to you" in text
    assert "version" not in text  # "already loaded (version N)" would confirm the contract and its history
    same = _upload_contract(binhu, "hospital.toml", HOSPITAL)  # the unchanged file: no "unchanged (version 1)"
    assert same.status_code == 422 and "version" not in html.unescape(same.text)
    with Session(demo_server.engine) as s:
        inst = s.exec(select(Institution).where(Institution.code == "CZ-ZLRMYY")).one()
        assert s.get(Region, inst.region_id).code == "320404"  # type: ignore[union-attr]
        assert s.exec(select(Esco).where(Esco.code == "CZ-HYNY")).one().name == "常州恒远综合能源服务有限公司"
    assert binhu.get(f"/contracts/{CONTRACT['C']}").status_code == 404
    assert binhu.get(f"/api/settlements?contract={CONTRACT['C']}").json() == []
    # a new contract of its own may not reach into another region either
    fresh = HOSPITAL.replace("CZ-ZLRMYY-HVAC-2024", "BH-NEW-2025").replace('code = "CZ-ZLRMYY"', 'code = "BH-NEW"')
    fresh = re.sub(r'code = "CZ-ZLRMYY-(\w+)"', r'code = "BH-NEW-\1"', fresh).replace(
        'institution = "CZ-ZLRMYY"', 'institution = "BH-NEW"')
    refused = _upload_contract(binhu, "new.toml", fresh)
    assert refused.status_code == 422 and "region 320404 is not available to you" in html.unescape(refused.text)


# -- tariffs: owned by their region ---------------------------------------------------------------------------
def test_tariff_pages_list_only_settlements_in_scope_and_versions_belong_to_their_region(
        demo_server: LiveServer) -> None:
    from emc.tariffs.models import Tariff

    build_world(demo_server)  # an approved Changzhou settlement priced with the province's TOU tariff
    page = "/tariffs/JS-TOU-GS/electricity"
    assert C_NUMBER in _login(demo_server, "manager").get(page).text
    for name in ("binhu", "viewer", "esco"):
        assert C_NUMBER not in _login(demo_server, name).get(page).text, name
    binhu = _login(demo_server, "binhu")
    form = {"version": "2030-01-01", "effective_from": "2030-01-01", "source": "leak", "price:water.supply": "9"}
    assert binhu.post("/tariffs/CZ-WATER-PLAN/water/versions", data=form).status_code == 404
    city = binhu.post("/tariffs/WX-WATER-NONRES/water/versions", data=form, headers={"HX-Request": "true"})
    assert city.status_code == 422 and "not one you may change" in html.unescape(city.text)  # the city's notice
    with Session(demo_server.engine) as s:
        assert s.exec(select(Tariff).where(Tariff.version == "2030-01-01")).all() == []


# -- /verify: by code or PDF, nothing shown, throttled -----------------------------------------------------------
def test_verify_says_only_match_or_not_and_shows_nothing_to_someone_with_the_number(
        demo_server: LiveServer) -> None:
    import hashlib
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from emc.contracts.models import Contract
    from emc.settlement import statements
    from emc.settlement.models import Settlement

    # an approved statement of its own (the hospital, February 2025): approving one of the demo's periods here
    # would change what the workflow and portfolio tests find
    number = "CZ-ZLRMYY-HVAC-2024-202502"
    with Session(demo_server.engine) as s:
        if s.exec(select(Settlement).where(Settlement.number == number)).first() is None:
            cz = s.exec(select(Contract).where(Contract.code == CONTRACT["C"])).one()
            s.add(Settlement(number=number, contract_id=cz.id, period_start=date(2025, 2, 1),
                             period_end=date(2025, 3, 1), contract_year=1, status="approved",
                             net_to_esco=Decimal("4321.98"), created_by="t", approved_by="t",
                             approved_at=datetime(2025, 3, 5, tzinfo=UTC),
                             inputs_hash=hashlib.sha256(number.encode()).hexdigest()))
            s.commit()
        row = s.exec(select(Settlement).where(Settlement.number == number)).one()
        code = statements.verification_code(row)
        net = f"{row.net_to_esco:,.2f}"
    anon = _client(demo_server)
    page = anon.get(f"/verify/{number}")
    assert page.status_code == 200
    for secret in (code, net, "status", "已批准", "已开具", "已支付"):
        assert secret not in page.text, secret
    ok = anon.get(f"/verify/{number}", params={"code": code.lower().replace("-", " ")})
    assert 'id="verify-result"' in ok.text and "✔" in ok.text and net not in ok.text
    wrong = anon.get(f"/verify/{number}", params={"code": "0000-0000-0000-0000"})
    unknown = anon.get(f"/verify/{number}-X", params={"code": code})
    assert "✘" in wrong.text and "✘" in unknown.text
    # the PDF: matched by the digest of copies handed out; an anonymous check renders nothing
    from emc.settlement.models import StatementDigest

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    pdf = _login(demo_server, "esco2").get(f"/settlements/{number}/statement.pdf").content
    assert "✔" in anon.post("/verify", data={"number": number, "csrf_token": token},
                            files={"file": ("s.pdf", pdf)}).text
    with Session(demo_server.engine) as s:  # the copy handed out is what /verify compares with
        assert [d.sha256 for d in s.exec(select(StatementDigest).where(StatementDigest.settlement_id == row.id))] \
            == [statements.pdf_digest(pdf)]
    forged = pdf[:-200] + bytes([pdf[-200] ^ 1]) + pdf[-199:]
    assert "✘" in anon.post("/verify", data={"number": number, "csrf_token": token},
                            files={"file": ("s.pdf", forged)}).text


def test_verify_is_throttled_per_address(db_url: str) -> None:
    with LiveServer(db_url) as server:  # its own server: the throttle would slow every later test's checks
        c = _client(server)
        answers = [c.get("/verify/NO-SUCH-NUMBER", params={"code": f"{i:016d}"}).status_code for i in range(30)]
        assert answers[0] == 200 and answers[-1] == 429
        assert "Retry-After" in c.get("/verify/X", params={"code": "1"}).headers


# -- imports: no oracles --------------------------------------------------------------------------------------
def test_uploading_another_escos_exact_file_reveals_nothing_and_leaves_its_batch_alone(
        demo_server: LiveServer) -> None:
    from emc.metering.models import ImportBatch

    esco = _login(demo_server, "esco")
    data = hourly(METER["W"]).replace(b"NO-SUCH-METER,2024-06-01 00:00,1\n", b"")
    data = data.replace(b"2024-06-01", b"2024-07-01")
    first = esco.post("/api/imports", files={"file": ("mine.csv", data)}, data={"commit": "true"}).json()
    assert first["status"] == "committed"
    with Session(demo_server.engine) as s:
        stored = s.get(ImportBatch, first["id"]).stored_path  # type: ignore[union-attr]
    esco2 = _login(demo_server, "esco2")
    again = esco2.post("/api/imports", files={"file": ("theirs.csv", data)}).json()
    assert again["id"] != first["id"] and again["file_name"] == "theirs.csv" and not again["already_imported"]
    assert again["counts"] == {"unknown_meter": 24}
    assert esco2.get(f"/api/imports/{first['id']}").status_code == 404
    with Session(demo_server.engine) as s:
        assert s.get(ImportBatch, first["id"]).stored_path == stored  # type: ignore[union-attr]
    # the owner uploading it again is told it is already in
    assert esco.post("/api/imports", files={"file": ("mine.csv", data)}).json()["id"] == first["id"]


# -- sessions and tokens ------------------------------------------------------------------------------------------
def _cookie_payload(c: httpx.Client) -> dict[str, object]:
    raw = c.cookies["emc_session"].split(".")[0]
    return json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))


def test_the_cookie_carries_a_random_session_id_and_logout_ends_it_on_the_server(demo_server: LiveServer) -> None:
    from emc.org.models import User

    c = _login(demo_server, "viewer")
    payload = _cookie_payload(c)
    with Session(demo_server.engine) as s:
        pw = s.exec(select(User).where(User.username == "viewer")).one().password_hash
    assert set(payload) <= {"sid", "csrf", "lang"} and not any(pw[-16:] in str(v) or pw[-8:] in str(v)
                                                                 for v in payload.values())
    kept = dict(c.cookies)
    assert c.get("/api/me").status_code == 200
    assert c.post("/logout").status_code == 303
    replay = _client(demo_server)
    replay.cookies.update(kept)
    assert replay.get("/api/me").status_code == 401


def test_password_change_ends_other_sessions_and_tokens_and_admin_reset_too(demo_server: LiveServer) -> None:
    from emc.org.models import User
    from emc.org.service import UserCreate, create_user, issue_token

    with Session(demo_server.engine, expire_on_commit=False) as s:
        if s.exec(select(User).where(User.username == "pw-user")).first() is None:
            create_user(s, UserCreate(username="pw-user", password="first-password", role="viewer",
                                      region="320211"), actor="test")
        user = s.exec(select(User).where(User.username == "pw-user")).one()
        token = issue_token(s, user, "pw", actor="test", days=30).token
        s.commit()
    here = _login(demo_server, "pw-user", "first-password")
    elsewhere = _login(demo_server, "pw-user", "first-password")
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{demo_server.url}/api/me", headers=bearer).status_code == 200
    wrong = here.post("/account/password", data={"current": "nope-nope", "new": "second-password",
                                                 "confirm": "second-password"})
    assert wrong.status_code == 422 and elsewhere.get("/api/me").status_code == 200
    done = here.post("/account/password", data={"current": "first-password", "new": "second-password",
                                                "confirm": "second-password"})
    assert done.status_code == 200
    assert here.get("/api/me").status_code == 200  # this browser stays signed in
    assert elsewhere.get("/api/me").status_code == 401
    assert httpx.get(f"{demo_server.url}/api/me", headers=bearer).status_code == 401
    assert [t["revoked"] for t in here.get("/api/tokens").json()] == [True]
    # the administrator resets it: the user's session ends too
    admin = _login(demo_server, "admin")
    assert admin.post("/admin/users/pw-user/password", data={"password": "third-password",
                                                             "confirm": "third-password"}).status_code == 200
    assert here.get("/api/me").status_code == 401
    _login(demo_server, "pw-user", "third-password")


def test_tokens_expire_are_listed_and_revoked_and_reads_never_write(demo_server: LiveServer) -> None:
    from emc.dbtypes import utcnow
    from emc.org.models import ApiToken

    c = _login(demo_server, "esco")
    page = c.post("/account/tokens", data={"name": "platform", "days": "30"})
    raw = re.search(r'id="new-token">([^<]+)<', page.text).group(1)  # type: ignore[union-attr]
    bearer = httpx.Client(base_url=demo_server.url, headers={"Authorization": f"Bearer {raw}"}, timeout=20)
    # the one just issued: newest first (test_web issues another "platform" token to `esco` on this server)
    listed = [t for t in c.get("/api/tokens").json() if t["name"] == "platform"][0]
    assert bearer.get("/api/contracts").status_code == 200 and bearer.get("/api/me").json()["username"] == "esco"
    with Session(demo_server.engine) as s:
        assert s.get(ApiToken, listed["id"]).last_used_at is None  # type: ignore[union-attr]  (reads do not write)
    assert bearer.post("/api/imports/999999/commit").status_code == 404  # a write records the use
    with Session(demo_server.engine) as s:
        record = s.get(ApiToken, listed["id"])
        assert record is not None and record.last_used_at is not None
        record.expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
    assert bearer.get("/api/me").status_code == 401  # expired
    with Session(demo_server.engine) as s:
        record = s.get(ApiToken, listed["id"])
        record.expires_at = utcnow() + timedelta(days=1)  # type: ignore[union-attr]
        s.commit()
    assert bearer.get("/api/me").status_code == 200
    assert c.post(f"/api/tokens/{listed['id']}/revoke").json()["revoked"] is True
    assert bearer.get("/api/me").status_code == 401
    assert _login(demo_server, "esco2").post(f"/api/tokens/{listed['id']}/revoke").status_code == 404


def test_pages_refuse_frames_and_carry_a_content_security_policy(demo_server: LiveServer) -> None:
    r = _login(demo_server, "manager").get("/contracts")
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert "<script>" not in r.text and " onclick=" not in r.text
    assert "secure" not in r.headers.get("set-cookie", "").lower()  # plain HTTP, no trusted proxy


# -- who the client is: trusted proxies only ----------------------------------------------------------------------
def test_forwarded_headers_count_only_from_trusted_proxies() -> None:
    from emc.web.security import client_address, is_https, parse_proxies

    proxies = parse_proxies("10.0.0.5, 172.16.0.0/12")
    scope = {"client": ("198.51.100.7", 4000), "scheme": "http",
             "headers": [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https")]}
    assert client_address(scope, proxies) == "198.51.100.7" and not is_https(scope, proxies)
    assert client_address(scope, ()) == "198.51.100.7"
    via = {**scope, "client": ("172.16.3.4", 4000),
           "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.9, 10.0.0.5"), (b"x-forwarded-proto", b"https")]}
    assert client_address(via, proxies) == "203.0.113.9"  # the right-most untrusted hop, not what the client wrote
    assert is_https(via, proxies)
    with pytest.raises(ValueError, match="not an IP address"):
        parse_proxies("proxy.example")


def test_the_session_cookie_is_secure_over_https() -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from emc.web.security import SecurityHeaders, parse_proxies

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"set-cookie", b"emc_session=abc; path=/; httponly; samesite=lax")]})
        await send({"type": "http.response.body", "body": b""})

    async def run(scope: dict[str, object]) -> dict[bytes, bytes]:
        sent: list[dict[str, object]] = []

        async def send(message):  # type: ignore[no-untyped-def]
            sent.append(message)

        await SecurityHeaders(app, parse_proxies("10.0.0.5"), False)(scope, None, send)  # type: ignore[arg-type]
        return dict(sent[0]["headers"])  # type: ignore[arg-type]

    def cookie(scope: dict[str, object]) -> bytes:  # its own thread: the browser tests leave a loop running here
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run(scope)).result()[b"set-cookie"]

    base = {"type": "http", "path": "/", "headers": [(b"x-forwarded-proto", b"https")]}
    assert b"secure" not in cookie({**base, "scheme": "http", "client": ("9.9.9.9", 1)})
    assert cookie({**base, "scheme": "http", "client": ("10.0.0.5", 1)}).endswith(b"; secure")
    assert cookie({**base, "scheme": "https", "client": ("9.9.9.9", 1)}).endswith(b"; secure")


def test_a_district_manager_cannot_write_weather_for_another_regions_station(demo_server: LiveServer) -> None:
    """Observations feed every baseline on their station: binhu may not import for Changzhou's (58343)."""
    from emc.metering.models import WeatherObservation

    rows = "".join(f"58343,2031-01-01 {h:02d}:00,{h}\n" for h in range(3)).replace("2031", "2024")
    body = ("站号,时间,气温\n" + rows).encode()
    binhu = _login(demo_server, "binhu")
    r = binhu.post("/api/imports", files={"file": ("cz-weather.csv", body)}, data={"kind": "weather", "commit": "true"})
    assert r.status_code == 201 and r.json()["counts"].get("station_not_yours") == 3
    with Session(demo_server.engine) as s:
        assert s.exec(select(WeatherObservation).where(WeatherObservation.batch_id == r.json()["id"])).all() == []
    manager = _login(demo_server, "manager")  # the province's manager covers Changzhou: checked, not refused
    ok = manager.post("/api/imports", files={"file": ("cz-weather.csv", body)}, data={"kind": "weather"})
    assert "station_not_yours" not in ok.json()["counts"]
