"""Fit every contract's baselines in one run: database work here, the pure fits in a process pool.

One `emc baseline fit` per contract spends most of its 1.5 s starting Python; a province refits thousands.
Here the data of each (contract, utility) is loaded in this process, the fits (emc.mv, no database) run in
``workers`` processes, and each result is stored with its audit event in its own transaction as it comes
back — a failed fit is reported by contract and utility and does not stop the others, and an interrupted
run leaves only whole versions. A utility whose newest version was fitted on the same data (same data
fingerprint) is skipped unless ``force``: running it twice fits nothing twice."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlmodel import col

from emc.baselines import service
from emc.baselines.series import SeriesError
from emc.contracts.models import Contract
from emc.db import session_scope


@dataclass
class BulkFit:
    fitted: list[tuple[str, str, int, bool]] = field(default_factory=list)  # code, utility, version, passes gates
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # code, utility, why


def _jobs(engine: Engine, codes: list[str] | None, force: bool, report: BulkFit) -> Iterator[service.FitInput]:
    with session_scope(engine) as session:
        query = select(Contract).order_by(col(Contract.code))
        if codes:
            query = query.where(col(Contract.code).in_(codes))
        for contract in session.execute(query).scalars():
            for utility in service.utilities(session, contract):
                try:
                    job = service.prepare_fit(session, contract, utility)
                except (SeriesError, service.BaselineError) as exc:
                    report.failed.append((contract.code, utility, str(exc)))
                    continue
                if not force and service.latest_data_hash(session, contract, utility) == job.data.data_hash:
                    report.unchanged.append((contract.code, utility))
                    continue
                yield job


def _store(engine: Engine, job: service.FitInput, fitted: service.Fitted, actor: str, report: BulkFit) -> None:
    with session_scope(engine) as session:
        contract = session.execute(select(Contract).where(col(Contract.code) == job.contract_code)).scalar_one()
        b = service.store_fit(session, contract, job, fitted, actor=actor)
        report.fitted.append((job.contract_code, job.utility, b.version, b.passes_gates))


def fit_all(engine: Engine, *, actor: str, workers: int | None = None, force: bool = False,
            codes: list[str] | None = None) -> BulkFit:
    """Fit the baselines of every contract (or of ``codes``); ``workers`` processes (default: the cores)."""
    report = BulkFit()
    workers = max(1, workers or os.cpu_count() or 1)
    if workers == 1:
        for job in _jobs(engine, codes, force, report):
            _finish(engine, job, lambda j=job: service.run_fit(j), actor, report)
        return report
    # spawn, not fork: the parent holds database connections and possibly threads
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        running: dict[Future[service.Fitted], service.FitInput] = {}
        for job in _jobs(engine, codes, force, report):
            running[pool.submit(service.run_fit, job)] = job
            if len(running) >= 2 * workers:  # bounded: memory holds a few series, not the province
                _drain(engine, running, actor, report, wait(running, return_when=FIRST_COMPLETED).done)
        _drain(engine, running, actor, report, wait(running).done)
    return report


def _drain(engine: Engine, running: dict[Future[service.Fitted], service.FitInput], actor: str,
           report: BulkFit, done: set[Future[service.Fitted]]) -> None:
    for future in done:
        job = running.pop(future)
        _finish(engine, job, future.result, actor, report)


def _finish(engine: Engine, job: service.FitInput, result, actor: str, report: BulkFit) -> None:  # type: ignore[no-untyped-def]
    try:
        fitted = result()
    except service.BaselineError as exc:
        report.failed.append((job.contract_code, job.utility, str(exc)))
        return
    _store(engine, job, fitted, actor, report)
