"""Scheduled notification work, by stable import path (a renamed function would orphan its stored job)."""

from __future__ import annotations

from typing import Any

from emc import clock
from emc.db import get_engine, session_scope
from emc.notify import delivery, sync


def run() -> dict[str, Any]:
    """Sync every notification with the data (time makes statements overdue and import news old; the nightly
    drafts and quota warnings appear), then send the outbox's due messages. Idempotent: a second run opens,
    resolves and sends nothing more."""
    with session_scope(get_engine()) as session:
        report = sync.sync(session, clock.today())
    with session_scope(get_engine()) as session:
        sent = delivery.deliver_due(session)
    return {**report.as_dict(), **sent}
