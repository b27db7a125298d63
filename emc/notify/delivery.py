"""Delivery of notifications outside the app: e-mail (SMTP) and the WeCom / DingTalk group robots.

All optional, configured in the environment (README, Operations): ``EMC_SMTP_HOST`` (with ``EMC_SMTP_PORT``,
``EMC_SMTP_USER``, ``EMC_SMTP_PASSWORD``, ``EMC_SMTP_FROM``, ``EMC_SMTP_TLS`` = starttls | ssl | none) sends each user
with an e-mail address their own notifications; ``EMC_WECOM_WEBHOOK`` and ``EMC_DINGTALK_WEBHOOK`` (with
``EMC_DINGTALK_SECRET`` when the robot signs) post the bureau's kinds (``rules.GROUP_KINDS``) to a group, once per
subject however many users it concerns.

Every message is a row of the outbox (:class:`~emc.notify.models.NotificationDelivery`), written in the same
transaction as the notification; :func:`deliver_due` (the scheduler) sends what is due and logs each attempt. A
failure is retried after 1, 2, 4 … minutes (at most ``MAX_DELAY``) until ``MAX_ATTEMPTS``; the notification stays
in the inbox whatever delivery does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Literal

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from emc.config import get_settings
from emc.dbtypes import utcnow
from emc.notify import messages, rules
from emc.notify.models import NotificationDelivery
from emc.org.models import User

MAX_ATTEMPTS = 8
MAX_DELAY = timedelta(hours=6)
BATCH = 100  # messages sent per run at most (the rest wait for the next run)
TIMEOUT_S = 10


class DeliverySettings(BaseSettings):
    """The delivery channels, from the environment (``EMC_…``); empty: the channel is off."""

    model_config = SettingsConfigDict(env_prefix="EMC_", extra="ignore")

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    wecom_webhook: str = ""
    dingtalk_webhook: str = ""
    dingtalk_secret: str = ""

    def channels(self) -> list[str]:
        return [name for name, on in (("email", self.smtp_host), ("wecom", self.wecom_webhook),
                                      ("dingtalk", self.dingtalk_webhook)) if on]


class DeliveryFailed(Exception):
    """The channel refused or could not be reached; the message is retried later."""


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _message(lang: str, kind: str, ref: str, link: str) -> tuple[str, str]:
    title = messages.text(lang, "notify.message_title", kind=messages.text(lang, f"notify.kind.{kind}"), ref=ref)
    url = get_settings().public_url.rstrip("/") + link
    return title, messages.text(lang, "notify.message_body", title=title, url=url)


def enqueue(session: Session, opened: Sequence[Any], users: dict[int, User], now: datetime,
            settings: DeliverySettings | None = None) -> int:
    """Queue a message per channel for each notification just opened (rows with id, user_id, kind, subject_type,
    subject_id, ref, link). One INSERT … ON CONFLICT DO NOTHING: queuing twice sends once."""
    settings = settings or DeliverySettings()
    channels = settings.channels()
    if not channels or not opened:
        return 0
    site_lang = get_settings().language
    rows: list[dict[str, Any]] = []
    for n in opened:
        user = users.get(n.user_id)
        if "email" in channels and user is not None and user.email:
            title, body = _message(user.language or site_lang, n.kind, n.ref, n.link)
            rows.append({"notification_id": n.id, "channel": "email", "recipient": user.email,
                         "dedupe": f"n{n.id}@{now.isoformat()}", "title": title, "body": body})
        if n.kind in rules.GROUP_KINDS:
            title, body = _message(site_lang, n.kind, n.ref, n.link)
            for channel in ("wecom", "dingtalk"):
                if channel in channels:
                    rows.append({"notification_id": n.id, "channel": channel, "recipient": "",
                                 "dedupe": f"{n.kind}:{n.subject_type}:{n.subject_id}@{now.isoformat()}",
                                 "title": title, "body": body})
    table = NotificationDelivery.__table__  # type: ignore[attr-defined]
    queued = 0
    for start in range(0, len(rows), 500):
        chunk = [{**r, "status": "pending", "attempts": 0, "next_attempt_at": now, "last_error": "",
                  "attempts_log": [], "created_at": now} for r in rows[start:start + 500]]
        stmt = _insert(session)(table).values(chunk).on_conflict_do_nothing(index_elements=["channel", "dedupe"])
        queued += session.execute(stmt.returning(table.c.id)).all().__len__()
    return queued


# -- the channels ----------------------------------------------------------------------------------
def send_email(settings: DeliverySettings, row: NotificationDelivery) -> str:
    message = EmailMessage()
    message["Subject"] = row.title
    message["From"] = settings.smtp_from or settings.smtp_user or "emc@localhost"
    message["To"] = row.recipient
    message.set_content(row.body)
    smtp_class = smtplib.SMTP_SSL if settings.smtp_tls == "ssl" else smtplib.SMTP
    try:
        with smtp_class(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
            if settings.smtp_tls == "starttls":
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"smtp: {exc}") from exc
    if refused:
        raise DeliveryFailed(f"smtp refused {', '.join(refused)}")
    return "250 accepted"


def _post_json(url: str, payload: dict[str, Any]) -> str:
    request = urllib.request.Request(url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                                     headers={"Content-Type": "application/json; charset=utf-8"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310  (configured https URL)
            status, text = response.status, response.read(2000).decode("utf-8", "replace")
    except OSError as exc:  # urllib.error.HTTPError (a 4xx/5xx) and URLError are OSErrors
        raise DeliveryFailed(f"http: {exc}") from exc
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise DeliveryFailed(f"http {status}: not JSON: {text[:200]}") from exc
    # both robots answer 200 with {"errcode": 0, "errmsg": "ok"}; another errcode is a refusal
    if not isinstance(answer, dict) or answer.get("errcode") != 0:
        raise DeliveryFailed(f"http {status}: {text[:200]}")
    return f"{status} {text[:200]}"


def wecom_payload(row: NotificationDelivery) -> dict[str, Any]:
    """A WeCom group robot message (企业微信群机器人, msgtype markdown)."""
    return {"msgtype": "markdown", "markdown": {"content": f"**{row.title}**\n{row.body}"}}


def dingtalk_payload(row: NotificationDelivery) -> dict[str, Any]:
    """A DingTalk custom robot message (钉钉自定义机器人, msgtype markdown)."""
    return {"msgtype": "markdown", "markdown": {"title": row.title, "text": f"### {row.title}\n\n{row.body}"}}


def dingtalk_url(webhook: str, secret: str, now_ms: int | None = None) -> str:
    """The webhook, signed when the robot has a secret: ``timestamp`` (ms) and ``sign`` = Base64(HMAC-SHA256 of
    "timestamp\\nsecret" keyed by the secret), URL-encoded, as DingTalk's 加签 requires."""
    if not secret:
        return webhook
    stamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode("utf-8"), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{webhook}{'&' if '?' in webhook else '?'}timestamp={stamp}&sign={sign}"


def send(settings: DeliverySettings, row: NotificationDelivery) -> str:
    if row.channel == "email":
        if not settings.smtp_host:
            raise DeliveryFailed("EMC_SMTP_HOST is not set")
        return send_email(settings, row)
    if row.channel == "wecom":
        if not settings.wecom_webhook:
            raise DeliveryFailed("EMC_WECOM_WEBHOOK is not set")
        return _post_json(settings.wecom_webhook, wecom_payload(row))
    if row.channel == "dingtalk":
        if not settings.dingtalk_webhook:
            raise DeliveryFailed("EMC_DINGTALK_WEBHOOK is not set")
        return _post_json(dingtalk_url(settings.dingtalk_webhook, settings.dingtalk_secret), dingtalk_payload(row))
    raise DeliveryFailed(f"unknown channel {row.channel}")


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: 1, 2, 4 … minutes, at most MAX_DELAY."""
    return min(timedelta(minutes=2 ** (attempts - 1)), MAX_DELAY)


def deliver_due(session: Session, now: datetime | None = None,
                settings: DeliverySettings | None = None) -> dict[str, int]:
    """Send the messages whose time has come, logging each attempt on its row. Never commits (the job does).
    On PostgreSQL the rows are locked (SKIP LOCKED), so two processes never send the same message."""
    now = now or utcnow()
    settings = settings or DeliverySettings()
    d = NotificationDelivery
    query = (select(d).where(col(d.status) == "pending", col(d.next_attempt_at) <= now)
             .order_by(col(d.next_attempt_at), col(d.id)).limit(BATCH))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for row in session.execute(query).scalars().all():
        row.attempts += 1
        try:
            answer = send(settings, row)
        except DeliveryFailed as exc:
            error = str(exc)[:500]
            row.last_error = error
            row.attempts_log = [*row.attempts_log, {"at": now.isoformat(), "ok": False, "detail": error}]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
                counts["failed"] += 1
            else:
                row.next_attempt_at = now + backoff(row.attempts)
                counts["retry"] += 1
            continue
        row.status, row.sent_at, row.last_error = "sent", now, ""
        row.attempts_log = [*row.attempts_log, {"at": now.isoformat(), "ok": True, "detail": answer[:300]}]
        counts["sent"] += 1
    session.flush()
    return counts
