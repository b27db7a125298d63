"""Fit every contract's baselines in one run: each (contract, utility) loaded and fitted in a process pool,
stored here.

One `emc baseline fit` per contract spends most of its 1.5 s starting Python; a province refits thousands.
Loading a utility's baseline year (a year of a county's daily readings, grouped per day with its weather)
costs as much as fitting it, so both run in ``workers`` processes, each on a connection of its own; only
the fitted model crosses back (not the frames). This process stores each result with its audit event in its
own transaction as it comes back — a failed fit is reported by contract and utility and does not stop the
others, and an interrupted run leaves only whole versions. A utility whose newest version was fitted on the
same data (same data fingerprint) is skipped unless ``force``: running it twice fits nothing twice."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import pandas as pd
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


Pair = tuple[int, str, str, bool]  # contract id, code, utility, force


@dataclass(frozen=True)
class Outcome:
    """What a worker returns for one pair: the fit (with its data's description, not the data), or why not."""

    pair: Pair
    job: service.FitInput | None = None
    fitted: service.Fitted | None = None
    failed: str | None = None  # None and no fit: unchanged


def _pairs(engine: Engine, codes: list[str] | None, force: bool) -> list[Pair]:
    with session_scope(engine) as session:
        query = select(Contract).order_by(col(Contract.code))
        if codes:
            query = query.where(col(Contract.code).in_(codes))
        return [(c.id, c.code, u, force) for c in session.execute(query).scalars()  # type: ignore[misc]
                for u in service.utilities(session, c)]


def load_and_fit(engine: Engine, pair: Pair) -> Outcome:
    """One pair's baseline period loaded, checked against the newest version's fingerprint and fitted."""
    contract_id, code, utility, force = pair
    with session_scope(engine) as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None  # listed by _pairs; contracts are never deleted
        try:
            job = service.prepare_fit(session, contract, utility)
        except (SeriesError, service.BaselineError) as exc:
            return Outcome(pair, failed=str(exc))
        if not force and service.latest_data_hash(session, contract, utility) == job.data.data_hash:
            return Outcome(pair)
    try:
        fitted = service.run_fit(job)
    except service.BaselineError as exc:
        return Outcome(pair, failed=str(exc))
    # the frames stay here: storing needs the data's description (meters, granularity, hash, notes) only
    empty = replace(job.data, frame=job.data.frame.iloc[:0], temperature=pd.Series(dtype=float))
    return Outcome(pair, replace(job, data=empty), fitted)


_ENGINE: Engine | None = None  # a pool worker's own engine (one connection per process)


def _open(url: str) -> None:
    global _ENGINE
    from emc.db import make_engine  # a worker only reads and fits: it needs none of the answers from above

    _ENGINE = make_engine(url)


def _pooled(pair: Pair) -> Outcome:
    assert _ENGINE is not None, "the pool's initializer opens the engine"
    return load_and_fit(_ENGINE, pair)


def fit_all(engine: Engine, *, actor: str, workers: int | None = None, force: bool = False,
            codes: list[str] | None = None) -> BulkFit:
    """Fit the baselines of every contract (or of ``codes``); ``workers`` processes (default: the cores)."""
    report = BulkFit()
    pairs = _pairs(engine, codes, force)
    workers = max(1, min(workers or os.cpu_count() or 1, len(pairs)))
    if workers == 1:
        _store_all(engine, (load_and_fit(engine, p) for p in pairs), actor, report)
        return report
    # spawn, not fork: the parent holds database connections and possibly threads
    url = engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_open,
                             initargs=(url,)) as pool:
        # in order, a few pairs per task: the report lists them as one process would
        _store_all(engine, pool.map(_pooled, pairs, chunksize=4), actor, report)
    return report


def _store_all(engine: Engine, outcomes: Iterable[Outcome], actor: str, report: BulkFit) -> None:
    for out in outcomes:
        contract_id, code, utility, _ = out.pair
        if out.failed is not None:
            report.failed.append((code, utility, out.failed))
        elif out.job is None or out.fitted is None:
            report.unchanged.append((code, utility))
        else:
            with session_scope(engine) as session:
                contract = session.get(Contract, contract_id)
                assert contract is not None
                b = service.store_fit(session, contract, out.job, out.fitted, actor=actor)
                report.fitted.append((code, utility, b.version, b.passes_gates))
