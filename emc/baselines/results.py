"""The M&V page's computation of one (contract, utility), computed once per state of its data and stored.

What the page shows beyond the stored rows — the baseline model's predictions over the baseline period
beside the actual use, and the savings per month with their 90 % intervals and the total (IPMVP: adjusted
baseline − actual, emc.baselines.service.compute_savings) — costs a read of every reading of the meters and
a prediction per view (1.3 s for a 601-meter county contract). It is stored in ``mv_result`` under the
fingerprint of everything it depends on (emc.baselines.fingerprint): a view reads the stored result of the
current fingerprint, and on a miss computes it once and stores it (the unique key + ON CONFLICT DO NOTHING:
two first views at once store one row). The scheduled job :func:`refresh` computes the results whose data
changed (imports committed or reverted, baselines or adjustments decided), a bounded number per run, so the
first view after an import reads a stored result too.

The result is plain JSON: timestamps as ISO text, numbers as they were computed, a NaN or infinity (a month
without data, a savings fraction of nothing) as the text "NaN"/"Infinity" so that reading it back gives the
page exactly what a fresh computation gives it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from emc import clock
from emc.baselines import service
from emc.baselines.fingerprint import Pair, result_fingerprint, result_fingerprints
from emc.baselines.models import Baseline, BaselineStatus, MVResult, NonRoutineAdjustment
from emc.baselines.series import SeriesError
from emc.contracts.models import Contract
from emc.db import session_scope
from emc.dbtypes import utcnow
from emc.memo import Memo

log = logging.getLogger(__name__)
FORMAT = 1  # the stored result's layout: a result of another layout is computed again
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
PROBLEMS = (SeriesError, service.BaselineError, ValueError)  # data not there yet: shown on the page, stored


def _plain(value: Any) -> Any:
    """A value of the computation as JSON (see the module docstring)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Timestamp | date):
        return value.isoformat()
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        return x if math.isfinite(x) else ("NaN" if x != x else ("Infinity" if x > 0 else "-Infinity"))
    return value


def _numbers(value: Any) -> Any:
    """Back from :func:`_plain` for numbers: "NaN" and the infinities are floats again."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    return value


@dataclass
class PageResult:
    """What the M&V page draws: the baseline chart's points, the savings months with data and the total."""

    baseline_id: int
    actual: list[tuple[date, float | None]]  # the baseline period, for the chart (None: no data that day)
    predicted: list[tuple[date, float | None]]
    savings_rows: list[dict[str, Any]]  # months with data: adjusted_baseline, actual, savings, uncertainty_*…
    total: dict[str, Any]
    problems: list[str]
    end: date | None  # the savings were computed through this day (None: no approved baseline)
    last_data: date | None  # the last day with data of the meters
    computed_at: Any = None
    stored: int | None = None  # the mv_result row it was read from (None: computed by this view)

    def as_json(self) -> dict[str, Any]:
        return _plain({"format": FORMAT, "baseline_id": self.baseline_id, "actual": self.actual,
                       "predicted": self.predicted, "savings_rows": self.savings_rows, "total": self.total,
                       "problems": self.problems, "end": self.end, "last_data": self.last_data})

    @classmethod
    def from_json(cls, data: dict[str, Any], computed_at: Any = None, stored: int | None = None) -> PageResult:
        data = _numbers(data)

        def points(rows: list[list[Any]]) -> list[tuple[date, float | None]]:
            return [(date.fromisoformat(d), v) for d, v in rows]

        return cls(data["baseline_id"], points(data["actual"]), points(data["predicted"]), data["savings_rows"],
                   data["total"], data["problems"], date.fromisoformat(data["end"]) if data["end"] else None,
                   date.fromisoformat(data["last_data"]) if data["last_data"] else None, computed_at, stored)


def _points(values: pd.Series) -> list[tuple[date, float | None]]:
    return [(ts.date(), None if pd.isna(v) else float(v)) for ts, v in values.items()]


def savings_end(contract: Contract, last_data: date | None) -> date:
    """The savings run from the contract's start through its end, today, or the last day with data."""
    return min(contract.end_date, clock.today(), last_data or contract.start_date)


def compute(session: Session, contract: Contract, utility: str, shown: Baseline,
            approved: Baseline | None) -> PageResult:
    """The page's computation from the stored data (the fresh result a stored one must equal)."""
    actual: list[tuple[date, float | None]] = []
    predicted: list[tuple[date, float | None]] = []
    rows: list[dict[str, Any]] = []
    total: dict[str, Any] = {}
    problems: list[str] = []
    end = last = None
    try:
        used, model = service.baseline_fit_frame(session, shown)
        actual, predicted = _points(used), _points(model)
    except PROBLEMS as exc:
        problems.append(str(exc))
    if approved is not None:
        last = service.last_data_day(session, contract, utility)
        end = savings_end(contract, last)
        try:
            report = service.compute_savings(session, contract, utility, contract.start_date, end)
            rows = [r for r in report.result.periods.to_dict(orient="records") if r.get("days_with_data")]
            total = report.result.total
        except PROBLEMS as exc:
            problems.append(str(exc))
    # through JSON and back, as a stored result is read: a fresh view and a cached one see the same values
    return PageResult.from_json(PageResult(int(shown.id or 0), actual, predicted, rows, total, problems, end,
                                           last).as_json(), utcnow())


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def store(session: Session, contract: Contract, utility: str, fingerprint: str, result: PageResult) -> None:
    """Store ``result`` under its fingerprint, once: a row stored meanwhile by another view stays (the same data
    gives the same result). Results of older fingerprints of the pair are deleted: never read again."""
    values = {"contract_id": contract.id, "utility": utility, "baseline_id": result.baseline_id,
              "fingerprint": fingerprint, "computed_at": result.computed_at or utcnow(), "result": result.as_json()}
    session.execute(_insert(session)(MVResult).values(values).on_conflict_do_nothing(
        index_elements=["contract_id", "utility", "fingerprint"]))
    session.execute(delete(MVResult).where(col(MVResult.contract_id) == contract.id,
                                           col(MVResult.utility) == utility,
                                           col(MVResult.fingerprint) != fingerprint))


def _stored(session: Session, contract: Contract, utility: str, fingerprint: str) -> MVResult | None:
    return session.execute(select(MVResult).where(
        col(MVResult.contract_id) == contract.id, col(MVResult.utility) == utility,
        col(MVResult.fingerprint) == fingerprint)).scalars().first()


def _valid(row: MVResult, contract: Contract) -> bool:
    """A stored result of the current fingerprint, unless its savings stopped at a today that has moved on
    (data dated after today: the only way the day of the view changes the result)."""
    data = row.result
    return _still_valid(data.get("format"), data.get("end"), data.get("last_data"), contract)


def _still_valid(fmt: Any, end: str | None, last_data: str | None, contract: Contract) -> bool:
    if fmt != FORMAT:
        return False
    if end is None:
        return True
    last = date.fromisoformat(last_data) if last_data else None
    return bool(end == savings_end(contract, last).isoformat())


# stored results decoded, by row, fingerprint and computation: a page view reads the row (its fingerprint must be
# current) but does not decode the same JSON again; a row is never updated, only replaced by a new one
DECODED: Memo[PageResult] = Memo(64)


def page_result(session: Session, contract: Contract, utility: str, versions: list[Baseline],
                adjustments: list[NonRoutineAdjustment], *, writer: Engine) -> PageResult | None:
    """The M&V page's result for (``contract``, ``utility``) given its baseline ``versions`` (newest first) and
    ``adjustments`` (as the page has read them): the stored one, else computed and stored. None: no baseline.

    ``session`` only reads (a page's GET may run on the read replica and never writes); a result computed
    here is stored in a transaction of its own on ``writer`` (the primary), so a view that loses the race to
    store it, or finds the database busy, still shows what it computed."""
    approved = next((b for b in versions if b.status == BaselineStatus.approved), None)
    shown = approved or (versions[0] if versions else None)
    if shown is None:
        return None
    fingerprint = result_fingerprint(session, contract, utility, shown, approved, adjustments)
    row = _stored(session, contract, utility, fingerprint)
    if row is not None and _valid(row, contract):
        stored = row
        return DECODED.get((row.id, fingerprint, row.computed_at),
                           lambda: PageResult.from_json(stored.result, stored.computed_at, stored=stored.id))
    result = compute(session, contract, utility, shown, approved)
    try:
        with session_scope(writer) as write:
            if row is not None:  # a result computed before today moved on: replaced
                write.execute(delete(MVResult).where(col(MVResult.id) == row.id))
            store(write, contract, utility, fingerprint, result)
    except OperationalError as exc:  # SQLite busy behind a long writer: the next view stores it
        log.warning("M&V result of %s %s not stored: %s", contract.code, utility, exc)
    return result


@dataclass
class RefreshReport:
    checked: int
    computed: int
    left: int  # pairs with a changed fingerprint left for the next run (the bound was reached)

    def as_dict(self) -> dict[str, int]:
        return {"checked": self.checked, "computed": self.computed, "left": self.left}


REFRESH_CHUNK = 500  # pairs whose fingerprints are read together


def refresh(session: Session, *, writer: Engine, limit: int = 200) -> RefreshReport:
    """Compute and store the results whose fingerprint changed since they were stored (at most ``limit`` per
    run; the rest wait for the next run), so the first view after an import or a decision reads a stored
    result. A pair is refreshed once it has been viewed (it has a stored result) or when its baseline was
    approved: a portfolio's never-viewed contracts cost nothing. The check reads the pairs in chunks, a few
    queries per chunk (fingerprints, versions, adjustments, and whether a valid result is stored), so it does
    not cost eight statements per pair every ten minutes at province scale."""
    known = select(col(MVResult.contract_id), col(MVResult.utility)).distinct()
    approved = select(col(Baseline.contract_id), col(Baseline.utility)).where(
        col(Baseline.status) == BaselineStatus.approved)
    pairs = sorted(set(session.execute(known).all()) | set(session.execute(approved).all()))
    report = RefreshReport(0, 0, 0)
    for i in range(0, len(pairs), REFRESH_CHUNK):
        _refresh_chunk(session, pairs[i:i + REFRESH_CHUNK], writer, limit, report)
    return report


def _refresh_chunk(session: Session, pairs: list[Any], writer: Engine, limit: int, report: RefreshReport) -> None:
    ids = sorted({cid for cid, _ in pairs})
    contracts = {c.id: c for c in session.execute(select(Contract).where(col(Contract.id).in_(ids))).scalars()}
    versions: dict[tuple[int, str], list[Baseline]] = {}
    for b in session.execute(select(Baseline).where(col(Baseline.contract_id).in_(ids))
                             .order_by(col(Baseline.version).desc())).scalars():
        versions.setdefault((b.contract_id, b.utility), []).append(b)
    adjustments: dict[tuple[int, str], list[NonRoutineAdjustment]] = {}
    for a in session.execute(select(NonRoutineAdjustment).where(col(NonRoutineAdjustment.contract_id).in_(ids))
                             .order_by(col(NonRoutineAdjustment.start), col(NonRoutineAdjustment.id))).scalars():
        adjustments.setdefault((a.contract_id, a.utility), []).append(a)
    shown: list[Pair] = []
    for cid, utility in pairs:
        found = versions.get((cid, utility), [])
        approved_b = next((b for b in found if b.status == BaselineStatus.approved), None)
        if approved_b or found:
            shown.append((contracts[cid], utility, approved_b or found[0], approved_b,
                          adjustments.get((cid, utility), [])))
    fingerprints = result_fingerprints(session, shown)
    stored = {(cid, utility, fp) for cid, utility, fp, fmt, end, last in session.execute(
        select(col(MVResult.contract_id), col(MVResult.utility), col(MVResult.fingerprint),
               col(MVResult.result)["format"].as_string(), col(MVResult.result)["end"].as_string(),
               col(MVResult.result)["last_data"].as_string())
        .where(col(MVResult.contract_id).in_(ids), col(MVResult.fingerprint).in_(list(fingerprints.values()))))
        if _still_valid(int(fmt) if str(fmt).isdigit() else fmt, end, last, contracts[cid])}  # JSON text or number
    for contract, utility, *_ in shown:
        report.checked += 1
        if (contract.id, utility, fingerprints[(contract.id, utility)]) in stored:  # type: ignore[index]
            continue
        if report.computed >= limit:
            report.left += 1
            continue
        page_result(session, contract, utility, versions[(contract.id, utility)],  # type: ignore[index]
                    adjustments.get((contract.id, utility), []), writer=writer)  # type: ignore[arg-type]
        report.computed += 1


def refresh_job() -> dict[str, int]:
    """The scheduled job (emc.jobs.scheduler): refresh the changed results, a bounded number per run."""
    from emc.db import get_engine

    engine = get_engine()
    with Session(engine) as session:
        return refresh(session, writer=engine).as_dict()
