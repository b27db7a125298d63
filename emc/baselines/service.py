"""Fit, approve and use baselines; propose and approve non-routine adjustments; compute savings.

The engine is emc.mv (pure). This module loads the data, stores versions and decides who may do what:
a baseline is proposed by a fit, approved by a bureau manager (one failing the ASHRAE G14 gates only with
a written reason), and superseded — never deleted — by the next approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session, col

from emc import mv
from emc.audit import service as audit
from emc.audit.service import actor_name as _actor
from emc.baselines import series
from emc.baselines.models import AdjustmentStatus, Baseline, BaselineStatus, NonRoutineAdjustment
from emc.config import get_settings
from emc.contracts.models import Contract
from emc.contracts.service import current_version
from emc.dbtypes import utcnow
from emc.errors import DomainError
from emc.mv.apportion import calendar_periods, period_savings
from emc.org.models import Role, User


class BaselineError(DomainError, ValueError):
    pass


def _require_manager(actor: User | str) -> None:
    if isinstance(actor, User) and actor.role not in (Role.admin, Role.manager):
        raise BaselineError("only a bureau manager or an administrator decides on baselines and adjustments")


def baseline_period(session: Session, contract: Contract) -> tuple[date, date]:
    spec = current_version(session, contract).spec
    if "baseline" not in spec:
        raise BaselineError(f"{contract.code} has no [baseline] period in its contract file")
    return date.fromisoformat(spec["baseline"]["start"]), date.fromisoformat(spec["baseline"]["end"])


def utilities(session: Session, contract: Contract) -> list[str]:
    spec = current_version(session, contract).spec
    found = []
    for comp in spec.get("components", []):
        for u in comp.get("utilities", []):
            if u not in found and u != "pv":
                found.append(u)
    return found or sorted({m["utility"] for m in spec.get("meters", []) if m.get("utility") != "pv"})


@dataclass(frozen=True)
class FitInput:
    """One (contract, utility) baseline period's data, loaded and ready for the pure fit (picklable)."""

    contract_code: str
    utility: str
    data: series.Series
    period: tuple[date, date]

    def arguments(self) -> tuple[pd.DataFrame, dict[str, Any]]:
        kwargs: dict[str, Any] = {"granularity": self.data.granularity}
        if self.data.granularity == "billing":
            kwargs["temperature"] = self.data.temperature
            return self.data.frame, kwargs
        return self.data.frame.copy(), kwargs


@dataclass(frozen=True)
class Fitted:
    """What the pure fit returns, as plain data (crosses a process boundary)."""

    model: dict[str, Any]
    passes_gates: bool
    disqualified: bool


def prepare_fit(session: Session, contract: Contract, utility: str, granularity: str | None = None) -> FitInput:
    """Load the baseline period's data of one utility (database work only)."""
    start, end = baseline_period(session, contract)
    data = series.load(session, contract, utility, start, end, tz=get_settings().timezone, granularity=granularity)
    return FitInput(contract.code, utility, data, (start, end))


def run_fit(job: FitInput) -> Fitted:
    """The pure fit (no database): safe to run in a worker process."""
    frame, kwargs = job.arguments()
    try:
        model = mv.fit_baseline(frame, **kwargs)
    except mv.MVInputError as exc:
        raise BaselineError(f"{job.contract_code} {job.utility}: {exc}") from exc
    return Fitted(model.to_dict(), bool(model.gates.get("passed", False)), bool(model.disqualified))


def store_fit(session: Session, contract: Contract, job: FitInput, fitted: Fitted, *,
              actor: User | str) -> Baseline:
    """Store a fit as the next proposed version of the contract's baseline for that utility."""
    stored, data = fitted.model, job.data
    version = (session.execute(select(func.max(Baseline.version)).where(
        Baseline.contract_id == contract.id, Baseline.utility == job.utility)).scalar_one() or 0) + 1
    baseline = Baseline(contract_id=contract.id, utility=job.utility, meters=data.meters, version=version,
                        status=BaselineStatus.proposed, granularity=data.granularity, period_start=job.period[0],
                        period_end=job.period[1], model=stored, metrics=_plain(stored.get("metrics", {})),
                        passes_gates=fitted.passes_gates, disqualified=fitted.disqualified,
                        data_hash=data.data_hash, weather_station=data.station, created_by=_actor(actor))
    session.add(baseline)
    session.flush()
    audit.record(session, actor=actor, action="baseline.fit", object_type="baseline",
                 object_id=f"{contract.code}/{job.utility}/v{version}",
                 after={"granularity": data.granularity, "model_type": stored.get("model_type"),
                        "metrics": baseline.metrics, "passes_gates": baseline.passes_gates, "notes": data.notes})
    return baseline


def fit(session: Session, contract: Contract, utility: str, *, actor: User | str,
        granularity: str | None = None) -> Baseline:
    """Fit the baseline period's data and store it as a new proposed version."""
    job = prepare_fit(session, contract, utility, granularity)
    return store_fit(session, contract, job, run_fit(job), actor=actor)


def latest_data_hash(session: Session, contract: Contract, utility: str) -> str | None:
    """The data fingerprint of the newest stored version (None: never fitted)."""
    return session.execute(select(col(Baseline.data_hash)).where(
        col(Baseline.contract_id) == contract.id, col(Baseline.utility) == utility)
        .order_by(col(Baseline.version).desc()).limit(1)).scalar_one_or_none()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


def approve(session: Session, baseline: Baseline, *, actor: User | str, reason: str = "") -> Baseline:
    _require_manager(actor)
    if baseline.status != BaselineStatus.proposed:
        raise BaselineError(f"baseline v{baseline.version} is {baseline.status}; only a proposed one can be approved")
    if baseline.disqualified:
        raise BaselineError("the data did not qualify (see its warnings); fix the data and fit again")
    if not baseline.passes_gates and len(reason.strip()) < 10:
        raise BaselineError("this model fails the ASHRAE Guideline 14 gates; approving it needs a written reason "
                            "(at least 10 characters)")
    for old in session.execute(select(Baseline).where(
            Baseline.contract_id == baseline.contract_id, Baseline.utility == baseline.utility,
            Baseline.meter_group == baseline.meter_group, Baseline.status == BaselineStatus.approved)).scalars():
        old.status = BaselineStatus.superseded
    baseline.status, baseline.decided_by, baseline.decided_at = BaselineStatus.approved, _actor(actor), utcnow()
    baseline.reason = reason.strip()
    audit.record(session, actor=actor, action="baseline.approve", object_type="baseline", object_id=baseline.id,
                 before={"status": "proposed"}, after={"status": "approved", "passes_gates": baseline.passes_gates},
                 reason=reason)
    return baseline


def reject(session: Session, baseline: Baseline, *, actor: User | str, reason: str) -> Baseline:
    _require_manager(actor)
    if baseline.status != BaselineStatus.proposed:
        raise BaselineError(f"baseline v{baseline.version} is {baseline.status}; only a proposed one can be rejected")
    if len(reason.strip()) < 5:
        raise BaselineError("say why the baseline is rejected")
    baseline.status, baseline.decided_by, baseline.decided_at = BaselineStatus.rejected, _actor(actor), utcnow()
    baseline.reason = reason.strip()
    audit.record(session, actor=actor, action="baseline.reject", object_type="baseline", object_id=baseline.id,
                 before={"status": "proposed"}, after={"status": "rejected"}, reason=reason)
    return baseline


def approved(session: Session, contract: Contract, utility: str) -> Baseline | None:
    return session.execute(select(Baseline).where(
        Baseline.contract_id == contract.id, Baseline.utility == utility,
        Baseline.status == BaselineStatus.approved)).scalars().first()


def versions(session: Session, contract: Contract, utility: str) -> list[Baseline]:
    return list(session.execute(select(Baseline).where(Baseline.contract_id == contract.id,
                                                       Baseline.utility == utility)
                                .order_by(Baseline.version.desc())).scalars())


def propose_adjustment(session: Session, contract: Contract, utility: str, *, kind: str, start: date,
                       reason: str, actor: User | str, end: date | None = None, amount: float | None = None,
                       multiplier: float | None = None) -> NonRoutineAdjustment:
    mv.Adjustment(start=start, end=end, kind=kind, reason=reason, amount=amount, multiplier=multiplier)  # validates
    row = NonRoutineAdjustment(contract_id=contract.id, utility=utility, kind=kind, start=start, end=end,
                               amount=amount, multiplier=multiplier, reason=reason.strip(),
                               proposed_by=_actor(actor))
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="adjustment.propose", object_type="adjustment", object_id=row.id,
                 after={"contract": contract.code, "utility": utility, "kind": kind, "start": start.isoformat(),
                        "amount": amount, "multiplier": multiplier}, reason=reason)
    return row


def decide_adjustment(session: Session, row: NonRoutineAdjustment, *, approve_it: bool, actor: User | str,
                      note: str = "") -> NonRoutineAdjustment:
    _require_manager(actor)
    if row.status != AdjustmentStatus.proposed:
        raise BaselineError(f"adjustment {row.id} is {row.status} already")
    if not approve_it and len(note.strip()) < 5:
        raise BaselineError("say why the adjustment is rejected")
    row.status = AdjustmentStatus.approved if approve_it else AdjustmentStatus.rejected
    row.decided_by, row.decided_at, row.decision_note = _actor(actor), utcnow(), note.strip()
    audit.record(session, actor=actor, action=f"adjustment.{'approve' if approve_it else 'reject'}",
                 object_type="adjustment", object_id=row.id, before={"status": "proposed"},
                 after={"status": row.status}, reason=note)
    return row


def adjustments(session: Session, contract: Contract, utility: str | None = None) -> list[NonRoutineAdjustment]:
    query = select(NonRoutineAdjustment).where(NonRoutineAdjustment.contract_id == contract.id)
    if utility:
        query = query.where(NonRoutineAdjustment.utility == utility)
    return list(session.execute(query.order_by(col(NonRoutineAdjustment.start), col(NonRoutineAdjustment.id)))
                .scalars())


@dataclass
class SavingsReport:
    baseline: Baseline
    result: mv.SavingsResult
    granularity: str
    notes: list[str]


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict(orient="records")``, the same Python values, at a quarter of pandas' cost per call (a
    month's settlement asks for one savings row per contract)."""
    columns = list(frame.columns)
    return [dict(zip(columns, values, strict=True))
            for values in zip(*(frame[c].tolist() for c in columns), strict=True)]


@dataclass
class Reporting:
    """Everything a savings computation needs over a span, loaded once (a back-settlement of years of
    periods slices it instead of reading the database again for every period)."""

    baseline: Baseline
    model: mv.BaselineModel
    data: series.Series
    adjustments: list[mv.Adjustment]
    start: date
    end: date  # inclusive
    _months: dict[tuple[date, date], dict[str, Any]] | None = None

    def covers(self, start: date, end: date) -> bool:
        return self.start <= start and end <= self.end

    def month(self, start: date, end: date) -> dict[str, Any] | None:
        """The savings row of calendar month [start, end] from one computation over the whole span (each
        month's figures and uncertainty depend on that month's data only: G14 Annex B per period; bills are
        apportioned bill by bill, so a month's share does not depend on the span either)."""
        if start.day != 1 or (end + timedelta(days=1)).day != 1:
            return None
        if self._months is None:
            rows = records(savings_from(self, self.start, self.end).result.periods)
            self._months = {(pd.Timestamp(r["period_start"]).date(),
                             (pd.Timestamp(r["period_end"]) - pd.Timedelta(days=1)).date()): r for r in rows}
        return self._months.get((start, end))


def prepare_reporting(session: Session, contract: Contract, utility: str, start: date, end: date) -> Reporting:
    baseline = approved(session, contract, utility)
    if baseline is None:
        raise BaselineError(f"{contract.code} has no approved {utility} baseline yet")
    data = series.load(session, contract, utility, start, end, tz=get_settings().timezone,
                       granularity=baseline.granularity, overlapping=True)
    return _reporting(baseline, data, adjustments(session, contract, utility), start, end)


def _reporting(baseline: Baseline, data: series.Series, found: list[NonRoutineAdjustment], start: date,
               end: date) -> Reporting:
    adjusts = [mv.Adjustment(start=a.start, end=a.end, kind=a.kind, reason=a.reason, amount=a.amount,
                             multiplier=a.multiplier, approved_by=a.decided_by, id=str(a.id))
               for a in found if a.status == AdjustmentStatus.approved]
    return Reporting(baseline, mv.BaselineModel.from_dict(baseline.model), data, adjusts, start, end)


Span = tuple[date, date]


def prepare_reporting_many(session: Session, wanted: list[tuple[Contract, str, Span]]
                           ) -> dict[tuple[int, str], Reporting | BaselineError | series.SeriesError]:
    """:func:`prepare_reporting` of many (contract, utility) pairs, each over its span, with one query per kind
    (approved baselines, adjustments, then emc.baselines.series_bulk per distinct span): what each would
    return, or the error it would raise."""
    from emc.baselines.series_bulk import load_many

    ids = sorted({c.id for c, _, _ in wanted if c.id is not None})
    chosen = {(b.contract_id, b.utility): b for b in session.execute(select(Baseline).where(
        col(Baseline.contract_id).in_(ids), col(Baseline.status) == BaselineStatus.approved)
        .order_by(col(Baseline.id))).scalars()}
    found: dict[tuple[int, str], list[NonRoutineAdjustment]] = {}
    for a in session.execute(select(NonRoutineAdjustment).where(col(NonRoutineAdjustment.contract_id).in_(ids))
                             .order_by(col(NonRoutineAdjustment.start), col(NonRoutineAdjustment.id))).scalars():
        found.setdefault((a.contract_id, a.utility), []).append(a)
    out: dict[tuple[int, str], Reporting | BaselineError | series.SeriesError] = {}
    spans: dict[Span, list[tuple[Contract, str, str]]] = {}
    for contract, utility, span in wanted:
        assert contract.id is not None  # a stored contract
        key = (contract.id, utility)
        baseline = chosen.get(key)
        if baseline is None:
            out[key] = BaselineError(f"{contract.code} has no approved {utility} baseline yet")
        else:
            spans.setdefault(span, []).append((contract, utility, baseline.granularity))
    tz = get_settings().timezone
    for (start, end), pairs in spans.items():
        for key, data in load_many(session, pairs, start, end, tz=tz).items():
            if isinstance(data, series.SeriesError):
                out[key] = data
            else:
                out[key] = _reporting(chosen[key], data, found.get(key, []), start, end)
    return out


def savings_from(reporting: Reporting, start: date, end: date, *, period: str = "M") -> SavingsReport:
    """Savings over [start, end] (inclusive) from prepared data, per ``period`` ("M" calendar months cut at
    [start, end]; "row"/"bill" each reading). THE savings of a span: settlements and ``emc savings`` read it.
    Bills are apportioned to the months by the baseline's predicted use per day (emc.mv.apportion), so a
    bill straddling an edge counts once, split, and the months add up to the span."""
    frame = reporting.data.frame
    kwargs: dict[str, Any] = {"adjustments": reporting.adjustments}
    if reporting.baseline.granularity == "billing":
        kwargs["temperature"] = reporting.data.temperature
        if period not in ("row", "bill"):
            cuts = calendar_periods(pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1), period)
            result = period_savings(reporting.model, frame, cuts, **kwargs)
            return SavingsReport(reporting.baseline, result, reporting.baseline.granularity, reporting.data.notes)
    elif (start, end) != (reporting.start, reporting.end):
        frame = frame[(frame.index >= pd.Timestamp(start)) & (frame.index < pd.Timestamp(end) + pd.Timedelta(days=1))]
    result = mv.savings(reporting.model, frame, period=period, **kwargs)
    return SavingsReport(reporting.baseline, result, reporting.baseline.granularity, reporting.data.notes)


def compute_savings(session: Session, contract: Contract, utility: str, start: date, end: date, *,
                    period: str = "M") -> SavingsReport:
    """Savings of [start, end] against the approved baseline and the approved adjustments."""
    return savings_from(prepare_reporting(session, contract, utility, start, end), start, end, period=period)


def baseline_fit_frame(session: Session, baseline: Baseline) -> tuple[Any, Any]:
    """Actual and predicted use over the baseline period (for the chart)."""
    contract = session.get(Contract, baseline.contract_id)
    assert contract is not None
    data = series.load(session, contract, baseline.utility, baseline.period_start, baseline.period_end,
                       tz=get_settings().timezone, granularity=baseline.granularity)
    model = mv.BaselineModel.from_dict(baseline.model)
    kwargs = {"temperature": data.temperature} if baseline.granularity == "billing" else {}
    predicted = model.predict(data.frame, **kwargs)
    return data.frame["usage"], predicted


def last_data_day(session: Session, contract: Contract, utility: str) -> date | None:
    """The last local day with data in the contract's main meters of ``utility``."""
    from emc.metering.models import Reading

    meters = series.group_meters(session, contract, utility)
    if not meters:
        return None
    last = session.execute(select(func.max(Reading.period_end)).where(
        Reading.meter_id.in_([m.id for m in meters]))).scalar_one()
    if last is None:
        return None
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    return (last.astimezone(ZoneInfo(get_settings().timezone)) - timedelta(microseconds=1)).date()
