"""Drafting everything due in a pool of processes (`emc settle --due --workers N`, emc.jobs.drafting_pool) on
PostgreSQL: the same settlements, lines and waiting periods as one process on an identical copy of the demo,
each period drafted exactly once, one audit record of what waits, and a second run drafts nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import PostgresServer, _admin, build_demo_db, unavailable
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlmodel import Session, col

from emc import clock
from emc.audit.models import AuditEvent
from emc.baselines import service as baselines
from emc.baselines.bulk import fit_all
from emc.baselines.models import Baseline, BaselineStatus
from emc.db import make_engine, session_scope
from emc.settlement import drafting
from emc.settlement.models import Settlement, SettlementLine, SettlementWait


@pytest.fixture(scope="module")
def twins(postgres: PostgresServer | None) -> Iterator[tuple[str, str, str]]:
    """Three identical demos with every baseline fitted and approved and nothing drafted yet."""
    if postgres is None:
        unavailable("EMC_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    assert postgres is not None
    first = postgres.fresh()
    build_demo_db(first)
    engine = make_engine(first)
    fit_all(engine, actor="test", workers=1)
    with session_scope(engine) as session:
        for b in session.execute(select(Baseline).where(col(Baseline.status) == BaselineStatus.proposed)).scalars():
            baselines.approve(session, b, actor="test", reason="test: approved as fitted")
    engine.dispose()
    copies = []
    for _ in range(2):
        name = f"emc_t_{uuid.uuid4().hex[:12]}"
        _admin(first, f'CREATE DATABASE "{name}" TEMPLATE "{make_url(first).database}"')
        postgres.created.append(name)
        copies.append(postgres.url_for(name))
    yield first, copies[0], copies[1]


def _drafted(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    with Session(engine) as s:
        settlements = {r.number: (r.status, r.net_to_esco, r.inputs_hash, r.period_start, r.period_end)
                       for r in s.execute(select(Settlement)).scalars()}
        lines = sorted((number, line.position, line.component, line.amount, line.quantity) for line, number in
                       s.execute(select(SettlementLine, Settlement.number).join(
                           Settlement, col(Settlement.id) == col(SettlementLine.settlement_id))).all())
        waits = sorted((w.contract_id, w.period_start, w.reason) for w in s.execute(select(SettlementWait)).scalars())
        records = s.execute(select(func.count()).select_from(AuditEvent).where(
            col(AuditEvent.action) == "settlement.waiting")).scalar_one()
    engine.dispose()
    return {"settlements": settlements, "lines": lines, "waits": waits, "waiting_records": records}


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EMC_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "emc.cli", "settle", "--due", *args], capture_output=True,
                          text=True, env=env, timeout=900)


def test_a_pool_drafts_what_one_process_drafts_exactly_once(twins: tuple[str, str, str]) -> None:
    serial, pooled, _ = twins
    engine = make_engine(serial)
    with session_scope(engine) as session:
        report = drafting.run_due(session, clock.today(), actor="cli")
    engine.dispose()
    assert len(report.created) > 20  # the demo has periods to draft: the comparison means something
    done = _cli(pooled, "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert f"drafted {len(report.created)}:" in done.stdout
    one, many = _drafted(serial), _drafted(pooled)
    assert many["settlements"] == one["settlements"] and many["lines"] == one["lines"]
    assert many["waits"] == one["waits"]
    assert many["waiting_records"] == one["waiting_records"] == (1 if report.waiting else 0)
    again = _cli(pooled, "--workers", "2")  # everything due is drafted: a second run drafts nothing
    assert again.returncode == 0 and "drafted 0:" in again.stdout
    assert _drafted(pooled)["settlements"] == one["settlements"]


def test_the_scheduler_drafts_in_the_pool_it_is_configured_with(twins: tuple[str, str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The nightly job (as the scheduler runs it, by its stored import path) with EMC_DRAFTING_WORKERS=2 drafts
    what one process drafted on the twin, and flags nothing new."""
    from emc.config import get_settings
    from emc.jobs.scheduler import JOBS, run_job

    serial, _, scheduled = twins
    spec = next(j for j in JOBS if j.id == "settlement-drafts")
    monkeypatch.setenv("EMC_DATABASE_URL", scheduled)
    monkeypatch.setenv("EMC_DRAFTING_WORKERS", "2")
    get_settings.cache_clear()
    try:
        assert get_settings().drafting_workers == 2
        outcome = run_job(spec.id, spec.func)
    finally:
        get_settings.cache_clear()
    assert len(outcome["created"]) > 20 and outcome["flagged"] == []
    if not _drafted(serial)["settlements"]:  # run alone: the serial twin is drafted here, by one process
        engine = make_engine(serial)
        with session_scope(engine) as session:
            drafting.run_due(session, clock.today(), actor="cli")
        engine.dispose()
    one, pooled = _drafted(serial), _drafted(scheduled)
    assert pooled["settlements"] == one["settlements"] and pooled["lines"] == one["lines"]
    assert pooled["waits"] == one["waits"]
