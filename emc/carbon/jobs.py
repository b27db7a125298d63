"""Scheduled carbon work, by stable import path (a renamed function would orphan its stored job)."""

from __future__ import annotations

from datetime import date
from typing import Any

from emc import clock
from emc.db import get_engine, session_scope


def rebuild_ledger() -> dict[str, Any]:
    """Regenerate the ledger for every year with data: picks up new readings and settlements, and restates
    provisional entries once their year's final factor is loaded. Idempotent (unchanged entries are not
    written again)."""
    from emc.carbon import ledger

    with session_scope(get_engine()) as session:
        report = ledger.rebuild(session, actor="scheduler")
    return {**report.as_dict(), "prepared": prepare_figures()}


def refresh_ledger() -> dict[str, Any]:
    """Every quarter hour: rebuild the years whose readings or settlements changed since the last rebuild,
    so the ledger follows imports and approvals within minutes (nothing to do: no work)."""
    from emc.carbon import ledger

    with session_scope(get_engine()) as session:
        report = ledger.refresh(session, actor="scheduler")
    return {**report.as_dict(), "prepared": prepare_figures()}


def prepare_figures() -> dict[str, int]:
    """The carbon pages' prepared figures whose inputs changed computed again, and the province's default views
    (emc.carbon.prepared): after each ledger job, and every ten minutes for changes made elsewhere."""
    from emc.carbon import prepared

    return prepared.refresh_job()


def raise_quota_warnings() -> list[dict[str, Any]]:
    """Rebuild the current year's ledger, then store the over-quota warnings due (each tier once a year)."""
    from emc.carbon import alerts, ledger

    today = clock.today()
    last_month = today.replace(day=1).toordinal() - 1
    year = date.fromordinal(last_month).year
    with session_scope(get_engine()) as session:
        ledger.rebuild(session, years=[year], actor="scheduler")
        report = alerts.raise_quota_warnings(session, today=today)
    return report.raised
