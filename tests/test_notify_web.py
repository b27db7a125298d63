"""Notifications over HTTP on the demo: who is told of what, in scope, and that each clears when the thing is done."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
from conftest import LiveServer
from sqlmodel import Session, col, func, select
from test_web import client, login, net, today_local

from emc import clock
from emc.notify import sync
from emc.notify.models import Notification

WUXI = "WX-SMZX-2018"
NUMBER = "WX-SMZX-2018-201901"  # a period no other test of the demo server moves


def _draft(server: LiveServer) -> None:
    """The water baseline approved and the period drafted (the nightly job's work), then the job's sync."""
    from emc.baselines import service as baselines
    from emc.contracts.models import Contract
    from emc.settlement import drafting
    from emc.settlement.models import Settlement

    with Session(server.engine) as s:
        if s.exec(select(Settlement).where(Settlement.number == NUMBER)).first() is None:
            contract = s.exec(select(Contract).where(Contract.code == WUXI)).one()
            if baselines.approved(s, contract, "water") is None:
                baselines.approve(s, baselines.fit(s, contract, "water", actor="t"), actor="t")
            if s.exec(select(Settlement).where(Settlement.number == f"{WUXI}-201812")).first() is None:
                drafting.draft(s, contract, date(2018, 12, 1), actor="t")  # as test_web drafts it: left a draft
            drafting.draft(s, contract, date(2019, 1, 1), actor="t")
        sync.sync(s, clock.today())
        s.commit()


def inbox(c: httpx.Client, show: str = "open") -> dict[tuple[str, str], dict]:
    """The user's notifications as (kind, ref) → the notification, through the API."""
    r = c.get("/api/notifications", params={"show": show})
    assert r.status_code == 200, r.text
    return {(n["kind"], n["ref"]): n for n in r.json()}


def kinds_of(c: httpx.Client, ref: str, show: str = "open") -> set[str]:
    return {kind for kind, r in inbox(c, show) if r == ref}


def act(c: httpx.Client, token: str, action: str, **data: str) -> None:
    r = c.post(f"/settlements/{NUMBER}/{action}", data={"csrf_token": token, **data}, headers={"HX-Request": "true"})
    assert r.status_code == 204, (action, r.text)


def test_the_workflow_tells_each_user_what_waits_for_them_and_clears_when_done(demo_server: LiveServer) -> None:
    _draft(demo_server)
    m, mt = login(demo_server, "manager")
    m2, m2t = login(demo_server, "manager2")
    binhu, _ = login(demo_server, "binhu")
    f, ft = login(demo_server, "finance")
    e, et = login(demo_server, "esco")
    e2, _ = login(demo_server, "esco2")
    assert kinds_of(m, NUMBER) == {"to_submit"} and kinds_of(binhu, NUMBER) == {"to_submit"}
    assert kinds_of(e, NUMBER) == set() and kinds_of(f, NUMBER) == set()

    act(m, mt, "submit")
    # four eyes: manager2 (and Binhu's manager) are asked to approve; manager is not asked to approve his own
    assert kinds_of(m2, NUMBER) == {"to_approve"} and kinds_of(binhu, NUMBER) == {"to_approve"}
    assert kinds_of(m, NUMBER) == set()
    assert "to_submit" in kinds_of(m, NUMBER, "all")  # kept, resolved: the history of the inbox
    resolved = inbox(m, "all")[("to_submit", NUMBER)]
    assert resolved["resolved"] is True
    page = m2.get("/notifications").text
    assert NUMBER in page and "结算待审批" in page and f'href="/settlements/{NUMBER}"' not in page  # opened via a form
    assert f'action="/notifications/{inbox(m2)[("to_approve", NUMBER)]["id"]}/read"' in page

    amount = net(m, NUMBER)
    act(m2, m2t, "approve", confirm_amount=amount)
    assert kinds_of(m2, NUMBER) == {"to_issue"} and kinds_of(binhu, NUMBER) == {"to_issue"}
    act(m, mt, "issue", confirm_amount=amount)
    assert kinds_of(f, NUMBER) == {"to_pay"} and kinds_of(e, NUMBER) == {"to_countersign"}
    assert kinds_of(m, NUMBER) == set() and kinds_of(e2, NUMBER, "all") == set()  # the other ESCO: nothing
    assert NUMBER not in e2.get("/notifications", params={"show": "all"}).text

    act(f, ft, "pay", confirm_amount=amount, reference="ICBC-N-0001", paid_on=today_local())
    assert kinds_of(f, NUMBER) == set() and kinds_of(e, NUMBER) == {"to_countersign"}
    act(e, et, "countersign")
    assert kinds_of(e, NUMBER) == set() and kinds_of(e, NUMBER, "all") == {"to_countersign"}

    # a re-run of the scheduler's sync changes nothing: one notification per (user, kind, subject), ever
    with Session(demo_server.engine) as s:
        before = s.exec(select(func.count()).select_from(Notification)).one()
        again = sync.sync(s, clock.today())
        s.commit()
        assert (again.opened, again.resolved) == (0, 0)
        assert s.exec(select(func.count()).select_from(Notification)).one() == before
        per_key = s.exec(select(func.count()).select_from(Notification).where(
            col(Notification.subject_type) == "settlement", col(Notification.ref) == NUMBER)).one()
        assert per_key == len({(n.user_id, n.kind) for n in s.exec(select(Notification).where(
            col(Notification.ref) == NUMBER)).all()})


def test_the_bell_counts_unread_and_marking_read_is_the_users_own(demo_server: LiveServer) -> None:
    _draft(demo_server)
    b, bt = login(demo_server, "binhu")
    page = b.get("/contracts").text
    assert 'id="bell"' in page and 'hx-get="/notifications/count"' in page
    count = b.get("/notifications/count", headers={"HX-Request": "true"}).text
    unread = inbox(b, "unread")
    assert unread, "the district manager has something waiting (the Wuxi period)"
    assert f">{len(unread)}<" in count
    first = next(iter(unread.values()))
    # another user cannot mark it (not found: it does not exist for them)
    m, mt = login(demo_server, "manager")
    assert m.post(f"/notifications/{first['id']}/read", data={"csrf_token": mt}).status_code == 404
    r = b.post(f"/notifications/{first['id']}/read", data={"csrf_token": bt}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and f'id="n-{first["id"]}"' in r.text and "notification read" in r.text
    assert first["id"] not in {n["id"] for n in inbox(b, "unread").values()}
    assert first["id"] in {n["id"] for n in inbox(b, "open").values()}  # read, still to do
    opened = b.post(f"/notifications/{first['id']}/read", data={"csrf_token": bt, "next": "open"})
    assert opened.status_code == 303 and opened.headers["location"] == first["link"]
    # Binhu's manager is told of nothing outside Binhu (the Changzhou hospital, 钟楼区)
    assert not [n for n in inbox(b, "all").values() if n["ref"].startswith("CZ-")]
    # nobody signed in: the login page, not an inbox
    assert client(demo_server).get("/notifications").status_code == 303
    assert client(demo_server).get("/api/notifications").status_code == 401


def test_overdue_approval_appears_with_time_for_the_approvers_only(demo_server: LiveServer) -> None:
    from emc.settlement.models import Settlement

    _draft(demo_server)
    with Session(demo_server.engine) as s:  # a settlement of its own: the period after the workflow test's
        from emc.contracts.models import Contract
        from emc.settlement import drafting

        number = "WX-SMZX-2018-201902"
        if s.exec(select(Settlement).where(Settlement.number == number)).first() is None:
            drafting.draft(s, s.exec(select(Contract).where(Contract.code == WUXI)).one(), date(2019, 2, 1), actor="t")
            s.commit()
    m, mt = login(demo_server, "manager")
    r = m.post(f"/settlements/{number}/submit", data={"csrf_token": mt}, headers={"HX-Request": "true"})
    assert r.status_code == 204, r.text
    m2, _ = login(demo_server, "manager2")
    assert kinds_of(m2, number) == {"to_approve"}
    with Session(demo_server.engine) as s:  # ten days pass
        row = s.exec(select(Settlement).where(Settlement.number == number)).one()
        assert row.submitted_at is not None
        row.submitted_at = row.submitted_at - timedelta(days=10)
        s.add(row)
        s.commit()
        sync.sync(s, clock.today())  # the scheduler's job
        s.commit()
    assert kinds_of(m2, number) == {"to_approve", "overdue_approval"}
    assert kinds_of(m, number) == set()


def test_a_user_sets_the_address_their_notifications_are_mailed_to(demo_server: LiveServer) -> None:
    from emc.org.models import User

    v, vt = login(demo_server, "viewer")
    page = v.get("/notifications").text
    assert 'name="email"' in page and "本系统未配置邮件发送" in page  # the test server sends no e-mail
    bad = v.post("/notifications/email", data={"csrf_token": vt, "email": "not an address"},
                 headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "not an address" in bad.text
    ok = v.post("/notifications/email", data={"csrf_token": vt, "email": "viewer@wuxi.example"})
    assert ok.status_code == 303
    with Session(demo_server.engine) as s:
        assert s.exec(select(User).where(User.username == "viewer")).one().email == "viewer@wuxi.example"
    assert 'value="viewer@wuxi.example"' in v.get("/notifications").text


def test_an_upload_tells_its_uploader_and_a_revert_clears_it(demo_server: LiveServer) -> None:
    from test_web import _hourly

    e, et = login(demo_server, "esco")
    r = e.post("/imports", files={"file": ("notify-e11.csv", _hourly("WX-SMZX-E11", "2024-07-03"))},
               data={"csrf_token": et}, headers={"HX-Request": "true"})
    assert r.status_code == 204, r.text
    batch = r.headers["HX-Redirect"].rsplit("/", 1)[1]
    committed = e.post(f"/imports/{batch}/commit", data={"csrf_token": et}, headers={"HX-Request": "true"})
    assert committed.status_code == 204, committed.text
    news = inbox(e)[("import_committed", "notify-e11.csv")]
    assert news["link"] == f"/imports/{batch}"
    e2, _ = login(demo_server, "esco2")
    m, mt = login(demo_server, "manager")
    assert ("import_committed", "notify-e11.csv") not in inbox(e2, "all")
    assert ("import_committed", "notify-e11.csv") not in inbox(m, "all")  # the uploader's news, not the bureau's
    reverted = m.post(f"/imports/{batch}/revert", data={"csrf_token": mt, "reason": "notification test"},
                      headers={"HX-Request": "true"})
    assert reverted.status_code == 204, reverted.text
    assert ("import_committed", "notify-e11.csv") not in inbox(e)
    assert inbox(e, "all")[("import_committed", "notify-e11.csv")]["resolved"] is True


def test_acknowledging_an_institutions_warnings_clears_the_managers_notification(demo_server: LiveServer) -> None:
    from emc.carbon.models import CarbonWarning
    from emc.org.models import Institution, Region

    m, mt = login(demo_server, "manager")
    m2, _ = login(demo_server, "manager2")
    binhu, _ = login(demo_server, "binhu")
    warned = {ref: n for (kind, ref), n in inbox(m).items() if kind == "quota_warning"}
    assert warned, "the demo has over-quota warnings"
    ref, note = sorted(warned.items())[0]
    code = note["link"].rsplit("/", 1)[1]
    with Session(demo_server.engine) as s:
        inst = s.exec(select(Institution).where(Institution.code == code)).one()
        ids = s.exec(select(CarbonWarning.id).where(CarbonWarning.institution_id == inst.id,
                                                    col(CarbonWarning.acknowledged_at).is_(None))).all()
        region = s.get(Region, inst.region_id)
        in_binhu = region is not None and "/320211/" in region.path
    assert ("quota_warning", ref) in inbox(m2) and (("quota_warning", ref) in inbox(binhu)) == in_binhu
    for n, warning_id in enumerate(ids):
        assert m.post(f"/carbon/warnings/{warning_id}/acknowledge", data={"csrf_token": mt}).status_code == 303
        if n < len(ids) - 1:  # one left unacknowledged: still open
            assert ("quota_warning", ref) in inbox(m)
    assert ("quota_warning", ref) not in inbox(m) and ("quota_warning", ref) not in inbox(m2)
    # the other ESCO and a viewer are never told of warnings
    e2, _ = login(demo_server, "esco2")
    v, _ = login(demo_server, "viewer")
    assert not [k for k in inbox(e2, "all") if k[0] == "quota_warning"]
    assert not [k for k in inbox(v, "all") if k[0] == "quota_warning"]
