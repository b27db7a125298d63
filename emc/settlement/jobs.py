"""Scheduled settlement work, by stable import path (a renamed function would orphan its stored job)."""

from __future__ import annotations

from datetime import date

from emc.db import get_engine, session_scope
from emc.settlement import service


def create_due_drafts() -> dict[str, list[str]]:
    """Draft every period that has ended; flag approved ones whose data changed. Safe to run any number of
    times from any number of processes: one settlement per (contract, kind, period, version)."""
    with session_scope(get_engine()) as session:
        report = service.run_due(session, date.today())
        flagged = service.flag_changed(session)
    return {**report.as_dict(), "flagged": flagged}
