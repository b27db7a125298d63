"""The drafting of everything due (emc.settlement.drafting.run_due) over a pool of processes (issue 15).

A month's settlement of a province is one contract after another: each reads its data, computes and writes
in a transaction of its own, and nothing is shared between contracts (a settlement's number comes from its
contract's code; one settlement per (contract, kind, period, version) is the table's unique key). So the
contracts are dealt into ``workers`` disjoint shares, each drafted by its own process on its own connection,
and the reports merged; the run's one audit record of what waits is written once, by the caller's process.
A crash loses at most the contract each worker had in hand, as with one process: the next run drafts it.

PostgreSQL only: SQLite has one writer, so there (and for ``workers`` ≤ 1) it is the plain run.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import date

from sqlalchemy import Engine, select
from sqlmodel import col

from emc.contracts.models import Contract
from emc.db import session_scope
from emc.settlement.drafting import DueReport, record_waits, run_due


def run_due_pooled(engine: Engine, today: date, *, actor: str, workers: int) -> DueReport:
    """:func:`run_due` with the contracts shared among ``workers`` processes; the same drafts, the same report."""
    if workers <= 1 or engine.dialect.name != "postgresql":
        with session_scope(engine) as session:
            return run_due(session, today, actor=actor)
    with session_scope(engine) as session:
        ids = list(session.execute(select(col(Contract.id)).order_by(col(Contract.code))).scalars())
    shares = [ids[i::workers] for i in range(workers)]  # dealt in code order: big and small contracts alike
    url = engine.url.render_as_string(hide_password=False)
    # spawn, not fork: the parent holds database connections
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_share, [url] * workers, [today] * workers, [actor] * workers, shares))
    report = DueReport()
    for part in parts:  # in contract-code order, as one process reports them (numbers and reasons start with it)
        report.created += part.created
        report.waiting += part.waiting
        report.recomputed += part.recomputed
    report.created.sort()
    report.waiting.sort()
    report.recomputed.sort()
    with session_scope(engine) as session:
        record_waits(session, report, actor)
    return report


def scheduled_drafts() -> dict[str, list[str]]:
    """The scheduler's nightly job: draft every period that has ended, over ``EMC_DRAFTING_WORKERS`` processes
    on PostgreSQL, then flag approved settlements whose data changed. Safe to run any number of times from any
    number of processes: one settlement per (contract, kind, period, version)."""
    from emc import clock
    from emc.config import get_settings
    from emc.db import get_engine
    from emc.settlement.jobs import flag_and_trace

    report = run_due_pooled(get_engine(), clock.today(), actor="scheduler", workers=get_settings().drafting_workers)
    return {**report.as_dict(), "flagged": flag_and_trace()}


def _share(url: str, today: date, actor: str, contracts: list[int]) -> DueReport:
    """One worker: its share of the contracts, on a connection of its own."""
    import emc.wiring  # noqa: F401  (a spawned process starts bare: the answers from above, as every shell)
    from emc.db import make_engine

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return run_due(session, today, actor=actor, contracts=contracts, record_waiting=False)
    finally:
        engine.dispose()
