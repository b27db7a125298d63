"""Delivery of notifications: a real SMTP server (aiosmtpd) and a robot webhook on loopback that fails once.

The notifications come from the real sync over a real database (SQLite file and PostgreSQL); the outbox is sent by
the scheduler's function; every attempt is logged on the outbox row and a failure is retried after its backoff."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import date, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port
from sqlmodel import Session, col, select

from emc.contracts.models import Contract, ContractInstitution
from emc.dbtypes import utcnow
from emc.notify import delivery, sync
from emc.notify.models import Notification, NotificationDelivery
from emc.org.models import Esco, Institution, Region, Role, User
from emc.settlement.models import Settlement

TODAY = date(2026, 12, 4)


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  (aiosmtpd's name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


class Robot(BaseHTTPRequestHandler):
    """A group robot that answers 500 to the first post it gets and accepts the rest, as WeCom/DingTalk do."""

    posts: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Robot.posts.append((self.path, body))
        if len(Robot.posts) == 1:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"busy")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def robot() -> Iterator[str]:
    Robot.posts = []
    server = HTTPServer(("127.0.0.1", 0), Robot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _world(session: Session) -> Settlement:
    """Two managers of a region with e-mail addresses, and a settlement submitted by the first."""
    region = Region(code="329900", name="测试市", level="city", path="/329900/")
    session.add(region)
    session.flush()
    esco = Esco(code="E-N", name="测试节能公司")
    inst = Institution(code="I-N", name="测试机关", category="office", region_id=region.id)
    session.add_all([esco, inst])
    session.flush()
    for name in ("alice", "bob"):
        session.add(User(username=name, password_hash="x", role=Role.manager, region_id=region.id,
                         email=f"{name}@example.test", language="zh" if name == "alice" else "en"))
    assert esco.id is not None
    contract = Contract(code="N-1", name="测试合同", type="shared_savings", esco_id=esco.id,
                        start_date=date(2026, 1, 1), end_date=date(2030, 12, 31), settlement_frequency="monthly")
    session.add(contract)
    session.flush()
    session.add(ContractInstitution(contract_id=contract.id, institution_id=inst.id))
    row = Settlement(number="N-1-202611", contract_id=contract.id, period_start=date(2026, 11, 1),
                     period_end=date(2026, 12, 1), contract_year=1, status="submitted", created_by="scheduler",
                     submitted_by="alice", submitted_at=utcnow())
    session.add(row)
    session.flush()
    return row


def test_email_goes_to_the_approver_through_a_real_smtp_server_once(session: Session,
                                                                    smtp: tuple[Inbox, int]) -> None:
    handler, port = smtp
    _world(session)
    settings = delivery.DeliverySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none",
                                         smtp_from="emc@bureau.test", wecom_webhook="", dingtalk_webhook="")
    report = sync.sync(session, TODAY, settings=settings)
    session.commit()
    # four eyes: alice submitted it, so only bob is asked to approve it, and only bob is mailed
    assert report.opened == 1 and report.queued == 1
    assert sync.sync(session, TODAY, settings=settings).queued == 0  # a re-run queues nothing
    counts = delivery.deliver_due(session, settings=settings)
    session.commit()
    assert counts == {"sent": 1, "retry": 0, "failed": 0}
    assert len(handler.messages) == 1
    sender, to, raw = handler.messages[0]
    mail = message_from_bytes(raw)
    assert (sender, to) == ("emc@bureau.test", ["bob@example.test"])
    assert str(make_header(decode_header(mail["Subject"]))) == "Settlement to approve: N-1-202611"  # bob reads English
    assert "/settlements/N-1-202611" in mail.get_payload(decode=True).decode()
    out = session.exec(select(NotificationDelivery)).one()
    assert out.status == "sent" and out.attempts == 1 and out.attempts_log[0]["ok"] is True
    assert delivery.deliver_due(session, settings=settings) == {"sent": 0, "retry": 0, "failed": 0}  # sent once
    # the notification itself stays in the inbox whatever delivery did
    assert session.exec(select(Notification).where(col(Notification.resolved_at).is_(None))).one().kind == "to_approve"


def test_a_robot_that_fails_first_is_retried_after_the_backoff_and_every_attempt_is_logged(
        session: Session, robot: str) -> None:
    row = _world(session)
    settings = delivery.DeliverySettings(smtp_host="", wecom_webhook=f"{robot}/cgi-bin/webhook/send?key=k",
                                         dingtalk_webhook=f"{robot}/robot/send?access_token=t", dingtalk_secret="SEC")
    row.status, row.approved_by = "approved", "bob"
    session.add(row)
    sync.sync(session, TODAY, settings=settings)  # to_issue for alice and bob: one post per robot, not two
    session.commit()
    outbox = session.exec(select(NotificationDelivery).order_by(col(NotificationDelivery.id))).all()
    assert sorted(o.channel for o in outbox) == ["dingtalk", "wecom"]
    now = utcnow()
    first = delivery.deliver_due(session, now=now, settings=settings)
    session.commit()
    assert first == {"sent": 1, "retry": 1, "failed": 0}  # the robot's first answer was a 500
    failed = session.exec(select(NotificationDelivery).where(col(NotificationDelivery.status) == "pending")).one()
    assert failed.attempts == 1 and "500" in failed.last_error and failed.next_attempt_at > now
    assert delivery.deliver_due(session, now=now + timedelta(seconds=30), settings=settings)["sent"] == 0  # waits
    second = delivery.deliver_due(session, now=now + delivery.backoff(1), settings=settings)
    session.commit()
    assert second == {"sent": 1, "retry": 0, "failed": 0}
    session.refresh(failed)
    assert failed.status == "sent" and failed.attempts == 2
    assert [a["ok"] for a in failed.attempts_log] == [False, True]
    # what the robots got: their JSON message formats, the same text, DingTalk's signed URL
    bodies = {path.split("?")[0]: body for path, body in Robot.posts}
    assert bodies["/cgi-bin/webhook/send"]["msgtype"] == "markdown"
    assert "结算单待开具：N-1-202611" in bodies["/cgi-bin/webhook/send"]["markdown"]["content"]
    assert bodies["/robot/send"]["markdown"]["title"] == "结算单待开具：N-1-202611"
    signed = next(urllib.parse.urlsplit(p) for p, _ in Robot.posts if p.startswith("/robot/send"))
    query = urllib.parse.parse_qs(signed.query)
    stamp = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(b"SEC", f"{stamp}\nSEC".encode(), hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected] and query["access_token"] == ["t"]


def test_a_message_is_given_up_after_the_last_attempt_but_the_notification_stays(session: Session) -> None:
    _world(session)
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    settings = delivery.DeliverySettings(smtp_host="", wecom_webhook=dead, dingtalk_webhook="")
    sync.sync(session, TODAY, settings=settings)
    session.commit()
    now = utcnow()
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        delivery.deliver_due(session, now=now, settings=settings)
        now += delivery.backoff(attempt)
    session.commit()
    out = session.exec(select(NotificationDelivery)).one()
    assert out.status == "failed" and out.attempts == delivery.MAX_ATTEMPTS
    assert len(out.attempts_log) == delivery.MAX_ATTEMPTS and not any(a["ok"] for a in out.attempts_log)
    assert [delivery.backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=1), timedelta(minutes=2),
                                                        timedelta(minutes=4)]
    assert delivery.backoff(20) == delivery.MAX_DELAY
    assert session.exec(select(Notification)).one().resolved_at is None


def test_the_scheduled_job_syncs_and_sends_and_a_second_run_changes_nothing(session: Session, db_url: str,
                                                                            robot: str) -> None:
    """The job as the scheduler runs it (by import path, in a bare process with the environment's settings)."""
    import os
    import subprocess
    import sys

    _world(session)
    session.commit()
    env = {**os.environ, "EMC_DATABASE_URL": db_url, "EMC_WECOM_WEBHOOK": f"{robot}/send?key=k",
           "EMC_DINGTALK_WEBHOOK": "", "EMC_SMTP_HOST": ""}
    runs = []
    for _ in range(2):
        job = subprocess.run([sys.executable, "-c", "import json; from emc.notify import jobs; "
                              "print(json.dumps(jobs.run()))"], capture_output=True, text=True, env=env, timeout=120)
        assert job.returncode == 0, job.stderr
        runs.append(json.loads(job.stdout.splitlines()[-1]))
    assert runs[0] == {"opened": 1, "resolved": 0, "queued": 1, "expected": 1, "sent": 0, "retry": 1, "failed": 0}
    assert runs[1] == {"opened": 0, "resolved": 0, "queued": 0, "expected": 1, "sent": 0, "retry": 0, "failed": 0}
    session.expire_all()
    out = session.exec(select(NotificationDelivery)).one()
    assert out.channel == "wecom" and out.attempts == 1 and len(Robot.posts) == 1
