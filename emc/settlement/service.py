"""Settlements in the database: draft from measured data, the approval workflow, the money ledger.

The pure core (engine.py and the component rules) computes; this module gathers its inputs (contract
versions, M&V savings of approved baselines), keeps one settlement per (contract, kind, period, version),
freezes and hashes approved ones, posts balanced ledger entries, and turns data corrected after approval
into an adjustment settlement that references the original — never an edit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from emc.audit import service as audit
from emc.baselines import service as baselines
from emc.baselines.series import SeriesError, group_meters
from emc.config import get_settings
from emc.contracts.models import Contract, ContractMeter, ContractVersion
from emc.contracts.spec import CANONICAL_UNITS, ContractFile
from emc.dbtypes import UTCDateTime, plus_days, utcnow
from emc.metering.models import Reading, ReadingRevision
from emc.money import fen
from emc.org.models import Role, User
from emc.settlement import controls, engine
from emc.settlement.adjustments import adjustment_lines
from emc.settlement.controls import SettlementError
from emc.settlement.custody import tariff_price_changes
from emc.settlement.inputs import Bill, CustodyChange, PeriodData, TermsVersion, UtilitySavings
from emc.settlement.lines import ESCO, Line, totals
from emc.settlement.models import (
    LedgerEntry, Settlement, SettlementLine, SettlementPayment, SettlementStatus, SettlementWait,
)
from emc.settlement.periods import Period, settlement_periods
from emc.settlement.state import SettlementState
from emc.tariffs import service as tariffs
from emc.tariffs.book import TariffBook, TariffError
from emc.units import factor as unit_factor

SAVINGS_KINDS = {"shared_savings", "guaranteed_savings"}
PENALTY_CODES = {"shortfall", "penalty", "guarantee_penalty", "rate_penalty"}



class IncompleteData(SettlementError):
    """The period cannot be settled yet; nothing is written (never a half-settlement). ``reason`` is what the
    settlements page says it waits for: no_baseline | coverage | bills | tariff | earlier_period | other."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


def _actor(actor: User | str) -> str:
    return actor.username if isinstance(actor, User) else actor


def _role(actor: User | str, *roles: Role) -> None:
    if isinstance(actor, User) and Role(actor.role) not in roles:
        raise SettlementError(f"a {actor.role} user cannot do this")


# -- inputs ------------------------------------------------------------------------------------------------
def terms(session: Session, contract: Contract) -> list[TermsVersion]:
    """The contract's versions as the engine reads them. Validated once per session and version count
    (validating the stored terms again for every period of a back-settlement costs more than settling)."""
    memo = session.info.setdefault("emc.settlement.terms", {})
    key = (contract.id, contract.current_version)
    if key not in memo:
        rows = session.execute(select(ContractVersion).where(ContractVersion.contract_id == contract.id)
                               .order_by(ContractVersion.version)).scalars()
        memo[key] = [TermsVersion(f"v{v.version}", v.effective_from, ContractFile.model_validate(v.spec))
                     for v in rows]
    return memo[key]


def pricing(session: Session, versions: list[TermsVersion]) -> tuple[TariffBook | None, list[CustodyChange]]:
    """The tariff book (when the contract prices with tariffs) and the custody price changes its
    ``price_tariffs`` imply. A missing tariff makes the period wait (IncompleteData), never a guess."""
    uses_book = _tou(versions)
    custody = [c for c in versions[-1].terms.components if c.kind == "cost_custody" and c.price_tariffs]
    if not (uses_book or custody):
        return None, []
    book = tariffs.book(session)
    changes = []
    for comp in custody:
        try:
            changes.extend(tariff_price_changes(comp, versions[-1].terms.baseline, book))
        except TariffError as exc:
            raise IncompleteData(f"{versions[-1].terms.contract.code}: {exc} (load it: emc tariffs load)",
                                 "tariff") from exc
    return book, changes


def _average_cost(versions: list[TermsVersion]) -> bool:
    return any(v.terms.valuation is not None and str(v.terms.valuation.policy) == "average_cost" for v in versions)


def bill_utilities(versions: list[TermsVersion]) -> list[str]:
    """Utilities whose bills a settlement reads: measured ones valued at average cost, and custody ones (the
    ESCO pays those bills: its actual costs, and a reimbursement line when the institution pays them)."""
    found = savings_utilities(versions) if _average_cost(versions) else []
    for comp in versions[-1].terms.components:
        if comp.kind == "cost_custody":
            found += [str(u) for u in comp.utilities if str(u) not in found]
    return found


def bills(session: Session, contract: Contract, period: Period, utilities: list[str]) -> tuple[Bill, ...]:
    """The period's bills per utility: imported readings with an amount (``reading.cost``) of the contract's
    main meters whose billing period ends within the period (a bill belongs to the month it is issued in), in
    canonical units. All of a contract's bills are read once per session."""
    tz = ZoneInfo(get_settings().timezone)
    memo = session.info.setdefault("emc.settlement.bills", {})
    out = []
    for utility in utilities:
        key = (contract.id, utility)
        if key not in memo:
            meters = group_meters(session, contract, utility)
            scale = {m.id: unit_factor(m.unit, CANONICAL_UNITS.get(utility, m.unit)) for m in meters}
            rows = session.execute(select(Reading.meter_id, Reading.period_end, Reading.value, Reading.cost,
                                          Reading.batch_id).where(Reading.meter_id.in_(list(scale)),
                                                                  Reading.cost.is_not(None))).all()
            memo[key] = [((end.astimezone(tz) - timedelta(microseconds=1)).date(), value * scale[m], cost, batch, m)
                         for m, end, value, cost, batch in rows]
        chosen = [r for r in memo[key] if period.start <= r[0] < period.end]
        if chosen:
            batches = sorted({str(r[3]) for r in chosen if r[3] is not None})
            out.append(Bill(utility, quantity=Decimal(str(round(sum(r[1] for r in chosen), 3))),
                            cost=sum((r[2] for r in chosen), Decimal(0)),
                            ref=f"{len(chosen)} bills, import {','.join(batches)}"[:120]))
    return tuple(out)


def bills_through(session: Session, contract: Contract, period: Period, utility: str) -> date | None:
    """The last day every billed main meter of ``utility`` has bills for (None: no bills at all). Read from
    the same per-session memo as :func:`bills`."""
    bills(session, contract, period, [utility])
    rows = session.info["emc.settlement.bills"][(contract.id, utility)]
    last: dict[int, date] = {}
    for day, *_, meter in rows:
        last[meter] = max(last.get(meter, day), day)
    return min(last.values()) if last else None


def _custody_bills_cover(session: Session, contract: Contract, versions: list[TermsVersion], period: Period) -> None:
    """A custody period waits until the bills of each utility whose bills the ESCO pays reach its last day:
    the ESCO's actual costs (and the reimbursement) are never settled from part of a period's bills. A
    utility that has no bills at all stays a ``no_bills`` warning on the settlement (its costs are unknown)."""
    last = period.end - timedelta(days=1)
    for comp in versions[-1].terms.components:
        if comp.kind != "cost_custody":
            continue
        for utility in comp.utilities:
            through = bills_through(session, contract, period, str(utility))
            if through is not None and through < last:
                raise IncompleteData(f"{contract.code} {period.label} {utility}: the bills reach {through}; the "
                                     f"period ends {last}", "bills")


def _tou(versions: list[TermsVersion]) -> bool:
    return any(v.terms.valuation is not None and str(v.terms.valuation.policy) == "time_of_use" for v in versions)


def savings_utilities(versions: list[TermsVersion]) -> list[str]:
    found: list[str] = []
    for v in versions:
        for comp in v.terms.components:
            measured = comp.kind in SAVINGS_KINDS or getattr(comp, "savings_rate_guarantee", None) is not None
            for u in comp.utilities if measured else []:
                if str(u) not in found:
                    found.append(str(u))
    return found


Cache = dict[tuple[int, str], "baselines.Reporting"]


def period_data(session: Session, contract: Contract, period: Period, utilities: list[str],
                cache: Cache | None = None, *, intervals: bool = False) -> PeriodData:
    """Savings of each measured utility over the period from its approved baseline (IncompleteData if not).
    ``cache`` holds data loaded once for a span of periods (run_due); periods outside it read afresh.
    ``intervals``: also hand over each interval's savings of an hourly baseline (time-of-use valuation)."""
    figures = []
    last = period.end - timedelta(days=1)
    for utility in utilities:
        hourly: tuple[tuple[Any, Any], ...] = ()
        try:
            prepared = (cache or {}).get((contract.id, utility))
            if intervals:
                hourly = _interval_savings(session, contract, utility, period, prepared)
            month = prepared.month(period.start, last) if prepared and prepared.covers(period.start, last) else None
            if month is not None:  # one computation for the whole span, sliced by month
                rows, total, version = [month], month, prepared.baseline.version
            else:
                report = (baselines.savings_from(prepared, period.start, last) if prepared and
                          prepared.covers(period.start, last) else
                          baselines.compute_savings(session, contract, utility, period.start, last, period="M"))
                rows = report.result.periods.to_dict(orient="records")
                total, version = report.result.total, report.baseline.version
        except baselines.BaselineError as exc:
            raise IncompleteData(f"{contract.code} {period.label} {utility}: {exc}", "no_baseline") from exc
        except SeriesError as exc:
            raise IncompleteData(f"{contract.code} {period.label} {utility}: {exc}", "coverage") from exc
        if not rows or not all(bool(r["settled"]) for r in rows):
            cover = min((float(r["coverage"]) for r in rows), default=0.0)
            raise IncompleteData(f"{contract.code} {period.label} {utility}: data cover {cover:.0%} of the period; "
                                 "a period is settled only when at least 90 % of its days have data", "coverage")
        figures.append(UtilitySavings(utility, adjusted_baseline=total["adjusted_baseline"], actual=total["actual"],
                                      uncertainty=total.get("uncertainty_68"), confidence=0.68,
                                      source=f"baseline {utility} v{version}", intervals=hourly))
    return PeriodData(period, savings=tuple(figures))


def _interval_savings(session: Session, contract: Contract, utility: str, period: Period,
                      prepared: baselines.Reporting | None) -> tuple[tuple[Any, Any], ...]:
    """(local start, adjusted baseline − actual) per hour, for pricing savings by time-of-use band. Only an
    hourly baseline has them; daily or billing baselines leave the valuation to say it needs interval data."""
    last = period.end - timedelta(days=1)
    if prepared is None or not prepared.covers(period.start, last):
        prepared = baselines.prepare_reporting(session, contract, utility, period.start, last)
    if prepared.baseline.granularity != "hourly":
        return ()
    rows = baselines.savings_from(prepared, period.start, last, period="row").result.periods
    rows = rows[rows["settled"].astype(bool)]
    return tuple((start.to_pydatetime(), Decimal(str(round(float(adj - act), 6))))
                 for start, adj, act in zip(rows["period_start"], rows["adjusted_baseline"], rows["actual"],
                                            strict=True))


def periods_of(session: Session, contract: Contract) -> list[Period]:
    """The contract's settlement periods under its current terms (computed once per session and version)."""
    memo = session.info.setdefault("emc.settlement.periods", {})
    key = (contract.id, contract.current_version)
    if key not in memo:
        memo[key] = settlement_periods(terms(session, contract)[-1].terms.contract)
    return memo[key]


def _previous_state(session: Session, contract: Contract, period: Period) -> SettlementState:
    prior = session.execute(select(Settlement.period_end, Settlement.state_after).where(
        Settlement.contract_id == contract.id, Settlement.kind == "period", Settlement.version == 1,
        Settlement.period_end <= period.start).order_by(Settlement.period_end.desc()).limit(1)).first()
    if prior is None:
        if period.start != periods_of(session, contract)[0].start:
            raise IncompleteData(f"{contract.code}: settle the periods before {period.label} first", "earlier_period")
        return SettlementState()
    end, state_after = prior
    if end != period.start:
        raise IncompleteData(f"{contract.code}: the period before {period.label} is not settled yet", "earlier_period")
    return SettlementState.from_dict(state_after) if state_after else SettlementState()


# -- drafting ----------------------------------------------------------------------------------------------
def _number(contract: Contract, kind: str, start: date, version: int) -> str:
    tag = "Y" if kind == "year_end" else ""
    return f"{contract.code}-{start:%Y%m}{tag}" + (f"-A{version - 1}" if version > 1 else "")


def _fill(row: Settlement, result: engine.Settlement, lines: list[Line]) -> None:
    """The figures a settlement row carries, from the engine's result and the lines it stores."""
    sums = totals(lines)
    to_esco = sum((a for (_, payee), a in sums.items() if payee == ESCO), Decimal(0))
    from_esco = sum((a for (payer, _), a in sums.items() if payer == ESCO), Decimal(0))
    row.to_esco, row.from_esco, row.net_to_esco = fen(to_esco), fen(from_esco), fen(to_esco - from_esco)
    row.inputs = {**dict(result.inputs), "contract_versions": list(result.versions),
                  "esco_costs": str(result.esco_costs)}
    row.state_after = result.state.to_dict() if result.kind == "period" else {}
    row.warnings = [w.to_dict() for w in result.warnings]


def _store(session: Session, contract: Contract, result: engine.Settlement, *, actor: User | str,
           version: int = 1, adjusts: Settlement | None = None, lines: list[Line] | None = None) -> Settlement:
    lines = list(result.lines if lines is None else lines)
    row = Settlement(number=_number(contract, result.kind, result.start, version), contract_id=contract.id,
                     period_start=result.start, period_end=result.end, contract_year=result.contract_year,
                     version=version, kind=result.kind, adjusts_id=adjusts.id if adjusts else None,
                     created_by=_actor(actor), inputs_changed_by=_actor(actor))
    _fill(row, result, lines)
    session.add(row)
    session.flush()
    _write_lines(session, row, lines)
    return row


def _write_lines(session: Session, row: Settlement, lines: list[Line]) -> None:
    for i, line in enumerate(lines):
        session.add(SettlementLine(settlement_id=row.id, position=i, component=line.component, kind=line.code,
                                   utility=line.utility, payer=line.payer, payee=line.payee, quantity=line.quantity,
                                   unit=line.unit, unit_price=line.unit_price, amount=line.amount,
                                   formula=line.formula[:1000], detail=line.to_dict()))


def find(session: Session, contract: Contract, kind: str, start: date, end: date, version: int = 1) -> Settlement | None:
    return session.execute(select(Settlement).where(
        Settlement.contract_id == contract.id, Settlement.kind == kind, Settlement.period_start == start,
        Settlement.period_end == end, Settlement.version == version)).scalars().first()


def draft_period(session: Session, contract: Contract, period: Period, *, actor: User | str,
                 cache: Cache | None = None, unsettled: bool = False,
                 state: SettlementState | None = None) -> list[Settlement]:
    """Draft (or recompute a draft of) the period, and the contract year's true-up after its last period.

    Idempotent: a settlement past draft is returned as it is; two concurrent runs create one row (the
    unique key decides, the loser reads the winner's)."""
    versions = terms(session, contract)
    # ``unsettled``: the caller has just seen that the period has no settlement (run_due); the unique key
    # still decides if another process drafts it meanwhile
    existing = None if unsettled else find(session, contract, "period", period.start, period.end)
    if existing is not None and existing.status != SettlementStatus.draft:
        return [existing]
    state = state if state is not None else _previous_state(session, contract, period)
    result = _settle(session, contract, versions, period, state, cache)
    out = [_upsert(session, contract, result, existing, actor)]
    periods = [p for p in periods_of(session, contract) if p.contract_year == period.contract_year]
    if period.end == periods[-1].end:
        out.extend(_draft_year_end(session, contract, versions, periods, actor, cache))
    return out


def _settle(session: Session, contract: Contract, versions: list[TermsVersion], period: Period,
            state: SettlementState, cache: Cache | None = None) -> engine.Settlement:
    """One period computed from today's data (a draft, or the recomputation an adjustment compares with)."""
    book, changes = pricing(session, versions)
    _custody_bills_cover(session, contract, versions, period)
    data = period_data(session, contract, period, savings_utilities(versions), cache, intervals=_tou(versions))
    data = replace(data, bills=bills(session, contract, period, bill_utilities(versions)))
    if _average_cost(versions):
        missing = [u for u in savings_utilities(versions) if not data.bills_for(u)]
        if missing:
            raise IncompleteData(f"{contract.code} {period.label}: average-cost valuation needs a bill with an amount "
                                 f"for {', '.join(missing)} ending in the period (import the bills with their 金额)",
                                 "bills")
    return engine.settle_period(versions, period, data, state, tariffs=book, changes=changes)


def _upsert(session: Session, contract: Contract, result: engine.Settlement, existing: Settlement | None,
            actor: User | str) -> Settlement:
    if existing is not None:  # a draft is recomputable: replace its lines and figures
        # … only while it is a draft: claimed by compare-and-set, so a recompute racing a submit loses cleanly
        if session.execute(update(Settlement).where(Settlement.id == existing.id,
                                                    Settlement.status == SettlementStatus.draft)
                           .values(inputs_changed_by=_actor(actor))
                           .execution_options(synchronize_session=False)).rowcount != 1:
            session.refresh(existing)
            return existing
        set_committed_value(existing, "inputs_changed_by", _actor(actor))
        for line in session.execute(select(SettlementLine).where(SettlementLine.settlement_id == existing.id)).scalars():
            session.delete(line)
        session.flush()
        _fill(existing, result, list(result.lines))
        _write_lines(session, existing, list(result.lines))
        audit.record(session, actor=actor, action="settlement.recompute", object_type="settlement",
                     object_id=existing.number, after={"net_to_esco": str(existing.net_to_esco)})
        return existing
    savepoint = session.begin_nested()
    try:
        row = _store(session, contract, result, actor=actor)
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        row = find(session, contract, result.kind, result.start, result.end)
        if row is None:
            raise
        return row
    audit.record(session, actor=actor, action="settlement.draft", object_type="settlement", object_id=row.number,
                 after={"period": f"{row.period_start}/{row.period_end}", "net_to_esco": str(row.net_to_esco)})
    return row


def _draft_year_end(session: Session, contract: Contract, versions: list[TermsVersion], periods: list[Period],
                    actor: User | str, cache: Cache | None = None) -> list[Settlement]:
    year_start, year_end = periods[0].start, periods[-1].end
    existing = find(session, contract, "year_end", year_start, year_end)
    if existing is not None and existing.status != SettlementStatus.draft:
        return [existing]
    if not any(c.kind in engine.YEAR_RULES for v in versions for c in v.terms.components):
        return []
    result = _settle_year(session, contract, versions, periods, cache)
    return [_upsert(session, contract, result, existing, actor)]


def _settle_year(session: Session, contract: Contract, versions: list[TermsVersion], periods: list[Period],
                 cache: Cache | None = None) -> engine.Settlement:
    """A contract year's true-up from today's data and the period settlements of the year."""
    number = periods[0].contract_year
    utilities, billed = savings_utilities(versions), bill_utilities(versions)
    data = [replace(period_data(session, contract, p, utilities, cache), bills=bills(session, contract, p, billed))
            for p in periods]
    settled = [Line.from_dict(line.detail) for row in session.execute(select(Settlement).where(
        Settlement.contract_id == contract.id, Settlement.kind == "period", Settlement.contract_year == number))
        .scalars() for line in session.execute(select(SettlementLine).where(
            SettlementLine.settlement_id == row.id).order_by(SettlementLine.position)).scalars()]
    book, changes = pricing(session, versions)
    return engine.settle_contract_year(versions, number, data, settled, tariffs=book, changes=changes)


def draft(session: Session, contract: Contract, month: date, *, actor: User | str) -> list[Settlement]:
    """Draft the contract period that contains ``month``."""
    versions = terms(session, contract)
    for period in settlement_periods(versions[-1].terms.contract):
        if period.start <= month < period.end:
            return draft_period(session, contract, period, actor=actor)
    raise SettlementError(f"{month} is outside the term of {contract.code}")


# -- the scheduled job ------------------------------------------------------------------------------------
@dataclass
class DueReport:
    created: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # incomplete data: retried on the next run
    recomputed: list[str] = field(default_factory=list)  # drafts whose inputs changed since they were drafted

    def as_dict(self) -> dict[str, list[str]]:
        return {"created": self.created, "waiting": self.waiting}


def run_due(session: Session, today: date, *, actor: User | str = "scheduler") -> DueReport:
    """Draft every contract period that has ended by ``today`` and has no settlement, in order, stopping at a
    contract's first period whose data is incomplete (recorded as a warning to retry, never half-settled).

    Each contract's drafts are one transaction, committed before the next contract: a run over a large
    portfolio never holds the database (SQLite's single writer) for longer than one contract, and a crash
    loses only the contract in hand, which the next run drafts again (one settlement per period, by key)."""
    report = DueReport()
    for contract in session.execute(select(Contract).order_by(Contract.code)).scalars().all():
        try:
            versions = terms(session, contract)
        except Exception as exc:  # noqa: BLE001  (a broken contract must not stop the others)
            report.waiting.append(f"{contract.code}: {exc}")
            continue
        due = [p for p in periods_of(session, contract) if p.end <= today]
        done = {(r.period_start, r.period_end): r for r in session.execute(select(Settlement).where(
            Settlement.contract_id == contract.id, Settlement.kind == "period", Settlement.version == 1)).scalars()}
        # still-draft settlements are recomputed from today's data: a draft written before a correction, a late
        # bill or a fix in the engine would otherwise stay wrong until someone opens it
        todo = [p for p in due
                if (p.start, p.end) not in done or done[(p.start, p.end)].status == SettlementStatus.draft]
        cache = _reporting_cache(session, contract, versions, todo)
        carried: tuple[date, SettlementState] | None = None  # the state after the period just drafted
        waits: list[SettlementWait] = []
        for i, period in enumerate(todo):
            try:
                savepoint = session.begin_nested()
                state = carried[1] if carried and carried[0] == period.start else None
                rows = _due_period(session, contract, versions, period, done.get((period.start, period.end)),
                                   report, actor=actor, cache=cache, state=state)
                savepoint.commit()
                carried = (period.end, SettlementState.from_dict(rows[0].state_after) if rows[0].state_after
                           else SettlementState())
            except IncompleteData as exc:
                savepoint.rollback()
                report.waiting.append(str(exc))
                waits = [SettlementWait(contract_id=contract.id, period_start=p.start, period_end=p.end,
                                        reason=exc.reason if p is period else "earlier_period",
                                        detail=(str(exc) if p is period else period.label)[:500])
                         for p in todo[i:]]
                break
        _record_waits(session, contract, waits)
        session.commit()
    if report.waiting:
        audit.record(session, actor=actor, action="settlement.waiting", object_type="job", object_id="settle-due",
                     after={"waiting": report.waiting[:50], "created": len(report.created)})
    return report


def _due_period(session: Session, contract: Contract, versions: list[TermsVersion], period: Period,
                existing: Settlement | None, report: DueReport, *, actor: User | str, cache: Cache,
                state: SettlementState | None) -> list[Settlement]:
    """Draft a period without a settlement; recompute a still-draft one whose inputs changed."""
    if existing is None:
        rows = draft_period(session, contract, period, actor=actor, cache=cache, unsettled=True, state=state)
        report.created.extend(r.number for r in rows)
        return rows
    rows = _recompute_changed(session, contract, versions, period, existing, actor=actor, cache=cache, state=state)
    report.recomputed.extend(r.number for r in rows if r.status == SettlementStatus.draft)
    return rows or [existing]


def _recompute_changed(session: Session, contract: Contract, versions: list[TermsVersion], period: Period,
                       existing: Settlement, *, actor: User | str, cache: Cache,
                       state: SettlementState | None) -> list[Settlement]:
    """A still-draft period settlement recomputed from today's data and redrafted (with its year's true-up)
    only where a figure, input, line or warning differs; an unchanged draft is left as it is (no audit
    noise, and who last changed its inputs stays who did)."""
    result = _settle(session, contract, versions, period,
                     state if state is not None else _previous_state(session, contract, period), cache)
    fresh = Settlement(number=existing.number, contract_id=contract.id, period_start=period.start,
                       period_end=period.end, contract_year=existing.contract_year, created_by="")
    _fill(fresh, result, list(result.lines))

    def figures(row: Settlement, lines: list[dict[str, Any]]) -> Any:
        return json.loads(json.dumps([str(row.net_to_esco), row.inputs, row.state_after, row.warnings, lines],
                                     sort_keys=True, default=str))

    if figures(existing, [line.detail for line in lines_of(session, existing)]) == \
            figures(fresh, [line.to_dict() for line in result.lines]):
        return []
    return draft_period(session, contract, period, actor=actor, cache=cache, state=state)


def _record_waits(session: Session, contract: Contract, waits: list[SettlementWait]) -> None:
    """Replace the contract's waiting periods with this run's (none once everything due is drafted)."""
    session.execute(delete(SettlementWait).where(SettlementWait.contract_id == contract.id))
    session.add_all(waits)
    session.flush()


def waiting(session: Session, scope: Any, limit: int = 200) -> list[tuple[SettlementWait, Contract, int]]:
    """Per contract in scope: the first period that has ended but waits for data (with its reason), and how
    many later ended periods wait behind it (what the settlements page lists)."""
    behind = dict(session.execute(select(SettlementWait.contract_id, func.count()).where(
        SettlementWait.reason == "earlier_period").group_by(SettlementWait.contract_id)).all())
    rows = session.execute(select(SettlementWait, Contract).join(Contract, Contract.id == SettlementWait.contract_id)
                           .where(scope.contracts(), SettlementWait.reason != "earlier_period")
                           .order_by(Contract.code, SettlementWait.period_start).limit(limit)).all()
    return [(wait, contract, int(behind.get(contract.id, 0))) for wait, contract in rows]


def _reporting_cache(session: Session, contract: Contract, versions: list[TermsVersion], todo: list[Period]) -> Cache:
    """Load each measured utility's data once for all the periods about to be drafted (and their contract
    years, for the true-ups)."""
    if not todo:
        return {}
    first: dict[int, date] = {}
    end: dict[int, date] = {}
    for p in periods_of(session, contract):
        first.setdefault(p.contract_year, p.start)
        end[p.contract_year] = p.end
    # a contract year's true-up reads the whole year; other periods need only themselves
    closing = [first[p.contract_year] for p in todo if p.end == end[p.contract_year]]
    start, last = min([todo[0].start, *closing]), todo[-1].end - timedelta(days=1)
    cache: Cache = {}
    for utility in savings_utilities(versions):
        try:
            cache[(contract.id, utility)] = baselines.prepare_reporting(session, contract, utility, start, last)
        except (baselines.BaselineError, SeriesError):
            continue  # the period itself will say what is missing
    return cache


# -- workflow ---------------------------------------------------------------------------------------------
TRANSITIONS = {
    "submit": ({SettlementStatus.draft}, SettlementStatus.submitted, (Role.admin, Role.manager)),
    "approve": ({SettlementStatus.submitted}, SettlementStatus.approved, (Role.admin, Role.manager)),
    "reject": ({SettlementStatus.submitted}, SettlementStatus.draft, (Role.admin, Role.manager)),
    "issue": ({SettlementStatus.approved}, SettlementStatus.issued, (Role.admin, Role.manager)),
    "pay": ({SettlementStatus.issued}, SettlementStatus.paid, (Role.admin, Role.finance)),
    # a wrong payment is never edited: it is reversed (with a reason) and recorded again
    "reverse_payment": ({SettlementStatus.paid}, SettlementStatus.issued, (Role.admin, Role.finance)),
}


def lines_of(session: Session, row: Settlement) -> list[SettlementLine]:
    return list(session.execute(select(SettlementLine).where(SettlementLine.settlement_id == row.id)
                                .order_by(SettlementLine.position)).scalars())


def inputs_hash(session: Session, row: Settlement) -> str:
    """SHA-256 over the frozen inputs and every line: what a statement's verification code is made of."""
    blob = json.dumps({"number": row.number, "inputs": row.inputs, "net": str(row.net_to_esco),
                       "lines": [line.detail for line in lines_of(session, row)]}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def local_day(instant: datetime | None) -> date | None:
    return instant.astimezone(ZoneInfo(get_settings().timezone)).date() if instant is not None else None


def _locked(session: Session, row: Settlement) -> Settlement:
    """The settlement re-read under a row lock (PostgreSQL: SELECT … FOR UPDATE; SQLite ignores it and relies
    on the compare-and-set in _claim), so the state checks below see what another session committed."""
    return session.execute(select(Settlement).where(Settlement.id == row.id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()


def _claim(session: Session, row: Settlement, before: str, target: str) -> None:
    """Compare-and-set on the status: exactly one of two concurrent sessions moves the settlement on; the
    other finds no row in the state it read and is refused before it writes anything else."""
    done = session.execute(update(Settlement).where(Settlement.id == row.id, Settlement.status == before)
                           .values(status=target).execution_options(synchronize_session=False)).rowcount
    if done != 1:
        raise SettlementError(f"{row.number} was changed by someone else meanwhile; reload it and try again")
    set_committed_value(row, "status", target)


def transition(session: Session, row: Settlement, action: str, *, actor: User | str, reason: str = "",
               paid_on: date | None = None, reference: str = "", at: datetime | None = None) -> Settlement:
    """Move a settlement through the workflow, exactly once: the state is re-checked under a row lock and
    claimed by compare-and-set before anything is posted, and each posting is unique by schema.

    ``at`` back-dates the action (the demo's history); the web and the API never pass it."""
    if action not in TRANSITIONS:
        raise SettlementError(f"unknown action {action!r}")
    sources, target, roles = TRANSITIONS[action]
    _role(actor, *roles)
    row = _locked(session, row)
    if row.status not in sources:
        raise SettlementError(f"{row.number} is {row.status}; '{action}' needs {' or '.join(sorted(sources))}")
    before = row.status
    now = at or utcnow()
    today = local_day(utcnow())
    assert today is not None
    waived = ""
    if action in ("reject", "reverse_payment") and len(reason.strip()) < 5:
        raise SettlementError("say why the settlement is rejected" if action == "reject" else
                              f"{row.number}: say why the payment is reversed (at least 5 characters)")
    if action == "approve":
        waived = controls.four_eyes_conflict(_actor(actor), row.submitted_by, row.inputs_changed_by or row.created_by)
        if waived and get_settings().four_eyes:
            raise SettlementError(f"{row.number}: four eyes — {waived}; another manager approves it")
    if action == "pay":
        reference = controls.check_payment(row.number, paid_on, reference, local_day(row.issued_at), today)
    _claim(session, row, before, target)
    if action == "reject":
        row.reject_reason = reason.strip()
    if action == "submit":
        row.submitted_at, row.submitted_by = now, _actor(actor)
    if action == "approve":
        row.approved_at, row.approved_by = now, _actor(actor)
        row.inputs_hash = inputs_hash(session, row)
        _post(session, row, local_day(now) or today, "approve", Decimal(1))
        from emc.settlement import provenance, statements

        provenance.record(session, row)
        statements.freeze(session, row)
        if waived:
            audit.record(session, actor=actor, action="settlement.four_eyes_waived", object_type="settlement",
                         object_id=row.number, after={"four_eyes": "off", "why": waived})
    if action == "issue":
        days = int(current_version_spec(session, contract_of(session, row)).get("contract", {}).get("payment_days", 30))
        row.issued_at, row.issued_by = now, _actor(actor)
        row.due_on = (local_day(now) or today) + timedelta(days=days)
    if action == "pay":
        assert paid_on is not None
        seq = _payment_count(session, row, "payment") + 1
        session.add(SettlementPayment(settlement_id=row.id, kind="payment", seq=seq, paid_on=paid_on,
                                      reference=reference[:100], amount=row.net_to_esco, recorded_by=_actor(actor),
                                      recorded_at=now))
        row.paid_on, row.paid_reference = paid_on, reference[:100]
        _post(session, row, paid_on, f"payment:{seq}", Decimal(-1))
    if action == "reverse_payment":
        seq = _payment_count(session, row, "payment")
        session.add(SettlementPayment(settlement_id=row.id, kind="reversal", seq=seq, paid_on=local_day(now) or today,
                                      reference=row.paid_reference, amount=-row.net_to_esco,
                                      reason=reason.strip()[:1000],
                                      recorded_by=_actor(actor), recorded_at=now))
        _post(session, row, local_day(now) or today, f"reversal:{seq}", Decimal(1))
        reference = f"{row.paid_reference} ({row.paid_on})"
        row.paid_on, row.paid_reference = None, ""
    session.flush()
    audit.record(session, actor=actor, action=f"settlement.{action}", object_type="settlement", object_id=row.number,
                 before={"status": before}, after={"status": target, "hash": row.inputs_hash[:16] or None,
                                                   "net_to_esco": str(row.net_to_esco)},
                 reason=reason or reference)
    return row


def _payment_count(session: Session, row: Settlement, kind: str) -> int:
    return int(session.execute(select(func.count()).select_from(SettlementPayment).where(
        SettlementPayment.settlement_id == row.id, SettlementPayment.kind == kind)).scalar_one())


def payments(session: Session, row: Settlement) -> list[SettlementPayment]:
    return list(session.execute(select(SettlementPayment).where(SettlementPayment.settlement_id == row.id)
                                .order_by(SettlementPayment.recorded_at, SettlementPayment.id)).scalars())


def countersign(session: Session, row: Settlement, *, actor: User | str) -> Settlement:
    """The ESCO confirms its statement (countersignature); only once it is issued, and only once."""
    _role(actor, Role.esco, Role.admin)
    row = _locked(session, row)
    if row.status not in (SettlementStatus.issued, SettlementStatus.paid):
        raise SettlementError(f"{row.number} is {row.status}; an ESCO countersigns an issued statement")
    if row.countersigned_at is not None:
        raise SettlementError(f"{row.number} was countersigned on {row.countersigned_at:%Y-%m-%d}")
    now = utcnow()
    done = session.execute(update(Settlement).where(Settlement.id == row.id, Settlement.countersigned_at.is_(None))
                           .values(countersigned_at=now, countersigned_by=_actor(actor))
                           .execution_options(synchronize_session=False)).rowcount
    if done != 1:
        raise SettlementError(f"{row.number} was countersigned meanwhile")
    set_committed_value(row, "countersigned_at", now)
    set_committed_value(row, "countersigned_by", _actor(actor))
    audit.record(session, actor=actor, action="settlement.countersign", object_type="settlement",
                 object_id=row.number)
    return row


def _post(session: Session, row: Settlement, day: date, posting: str, sign: Decimal) -> None:
    """Double entry per line: the payer's payable and the payee's receivable (``sign`` 1 opens them at
    approval or a payment's reversal, −1 settles them at payment: penalties and a lease's lessor included, so
    each party's balances for the settlement return to zero). Keyed by (settlement, posting, line, party,
    account): the same posting twice is refused by the database."""
    event = posting.split(":")[0]
    for line in lines_of(session, row):
        account = "penalty" if line.kind in PENALTY_CODES else "settlement"
        text = f"{row.number} " + {"approve": line.kind, "payment": "paid"}.get(event, "payment reversed")
        session.add(LedgerEntry(settlement_id=row.id, contract_id=row.contract_id, posted_on=day, party=line.payer,
                                account=f"{account}_payable", amount=-line.amount * sign, memo=text,
                                posting=posting, line_position=line.position))
        session.add(LedgerEntry(settlement_id=row.id, contract_id=row.contract_id, posted_on=day, party=line.payee,
                                account=f"{account}_receivable", amount=line.amount * sign, memo=text,
                                posting=posting, line_position=line.position))
    session.flush()


def balances(session: Session, contract: Contract, on: date) -> dict[tuple[str, str], Decimal]:
    """Ledger balances per (party, account) at the end of ``on``."""
    rows = session.execute(select(LedgerEntry.party, LedgerEntry.account, func.sum(LedgerEntry.amount))
                           .where(LedgerEntry.contract_id == contract.id, LedgerEntry.posted_on <= on)
                           .group_by(LedgerEntry.party, LedgerEntry.account)).all()
    return {(p, a): Decimal(v) for p, a, v in rows}


def ledger_problems(session: Session) -> list[str]:
    """Invariants as data, over the whole ledger: every settlement's entries sum to zero; each posting (the
    approval, each payment, each reversal) holds exactly two entries per line — so a duplicated posting is
    caught even though it balances; payments less reversals are one for a paid settlement and zero otherwise;
    a paid settlement leaves no balance on any account."""
    problems = []
    for sid, total in session.execute(select(LedgerEntry.settlement_id, func.sum(LedgerEntry.amount))
                                      .group_by(LedgerEntry.settlement_id)).all():
        if Decimal(total) != 0:
            problems.append(f"settlement {sid}: ledger entries sum to {total}, not 0")
    lines = dict(session.execute(select(SettlementLine.settlement_id, func.count())
                                 .group_by(SettlementLine.settlement_id)).all())
    postings: dict[int, dict[str, int]] = {}
    for sid, posting, n in session.execute(select(LedgerEntry.settlement_id, LedgerEntry.posting, func.count())
                                           .group_by(LedgerEntry.settlement_id, LedgerEntry.posting)).all():
        postings.setdefault(sid, {})[posting] = n
    status = {sid: (number, st) for sid, number, st in session.execute(
        select(Settlement.id, Settlement.number, Settlement.status)).all()}
    posted_states = (SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid)
    for sid, (number, st) in status.items():
        mine = postings.get(sid, {})
        if st not in posted_states:
            if mine:
                problems.append(f"{number}: {st} but has ledger postings {sorted(mine)}")
            continue
        expected = 2 * lines.get(sid, 0)
        if mine.get("approve", 0) != expected:
            problems.append(f"{number}: the approval posted {mine.get('approve', 0)} entries, not {expected} "
                            "(posted twice?)")
        for posting, n in sorted(mine.items()):
            if posting != "approve" and n != expected:
                problems.append(f"{number}: {posting} posted {n} entries, not {expected} (posted twice?)")
        paid = sum(1 for p in mine if p.startswith("payment:")) - sum(1 for p in mine if p.startswith("reversal:"))
        if paid != (1 if st == SettlementStatus.paid else 0):
            problems.append(f"{number}: {st} with {paid} payment(s) in force in the ledger")
    for sid, party, account, total in session.execute(
            select(LedgerEntry.settlement_id, LedgerEntry.party, LedgerEntry.account, func.sum(LedgerEntry.amount))
            .join(Settlement, Settlement.id == LedgerEntry.settlement_id)
            .where(Settlement.status == SettlementStatus.paid)
            .group_by(LedgerEntry.settlement_id, LedgerEntry.party, LedgerEntry.account)).all():
        if Decimal(total) != 0:
            problems.append(f"{status[sid][0]}: paid, yet {party} {account} stands at {total}")
    return problems


# -- data changed after approval ---------------------------------------------------------------------------
def flag_changed(session: Session) -> list[str]:
    """Flag approved settlements whose readings were corrected after approval (reading_revision)."""
    flagged = []
    for row in session.execute(select(Settlement).where(Settlement.status.in_(
            [SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid]),
            Settlement.flagged == "")).scalars():
        meters = select(ContractMeter.meter_id).where(ContractMeter.contract_id == row.contract_id)
        changed = session.execute(select(func.count()).select_from(ReadingRevision).where(
            ReadingRevision.meter_id.in_(meters), ReadingRevision.changed_at > row.approved_at,
            ReadingRevision.period_end > _start_of(row.period_start),
            ReadingRevision.period_start < _start_of(row.period_end))).scalar_one()
        if changed:
            row.flagged = f"{changed} reading(s) corrected after approval; settle the difference as an adjustment"
            audit.record(session, actor="system", action="settlement.flag", object_type="settlement",
                         object_id=row.number, after={"flag": row.flagged})
            flagged.append(row.number)
    return flagged


def _start_of(day: date):  # type: ignore[no-untyped-def]
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from emc.config import get_settings

    return datetime.combine(day, time(), ZoneInfo(get_settings().timezone))


def adjust(session: Session, row: Settlement, *, actor: User | str, on_data_change: bool = False) -> Settlement:
    """Recompute a flagged approved settlement with today's data; the difference becomes a new settlement
    (version n + 1) that references the original. The original is never edited. ``on_data_change``: drafted
    because whoever reverted or replaced the data (with a reason) changed it, whatever their role."""
    if not on_data_change:
        _role(actor, Role.admin, Role.manager)
    if row.status not in (SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid):
        raise SettlementError(f"{row.number} is {row.status}; a draft is simply recomputed")
    contract = session.get(Contract, row.contract_id)
    assert contract is not None
    versions = terms(session, contract)
    periods = settlement_periods(versions[-1].terms.contract)
    if row.kind == "year_end":
        corrected = _settle_year(session, contract, versions,
                                 [p for p in periods if p.contract_year == row.contract_year])
    else:
        period = next(p for p in periods if (p.start, p.end) == (row.period_start, row.period_end))
        corrected = _settle(session, contract, versions, period, _previous_state(session, contract, period))
    original = [Line.from_dict(line.detail) for line in lines_of(session, row)]
    diff = adjustment_lines(original, list(corrected.lines), reference=row.number)
    if not diff:
        row.flagged = ""
        raise SettlementError(f"{row.number}: the corrected data give the same amounts; nothing to adjust")
    version = (session.execute(select(func.max(Settlement.version)).where(
        Settlement.contract_id == row.contract_id, Settlement.kind == row.kind,
        Settlement.period_start == row.period_start, Settlement.period_end == row.period_end)).scalar_one() or 1) + 1
    new = _store(session, contract, corrected, actor=actor, version=version, adjusts=row, lines=diff)
    new.state_after = {}
    row.flagged = f"adjusted by {new.number}"
    audit.record(session, actor=actor, action="settlement.adjust", object_type="settlement", object_id=new.number,
                 after={"adjusts": row.number, "net_to_esco": str(new.net_to_esco)})
    return new


def contract_of(session: Session, row: Settlement) -> Contract:
    contract = session.get(Contract, row.contract_id)
    assert contract is not None
    return contract


def as_json(session: Session, row: Settlement) -> dict[str, Any]:
    return {"number": row.number, "contract": contract_of(session, row).code, "kind": row.kind,
            "period": [row.period_start.isoformat(), row.period_end.isoformat()], "contract_year": row.contract_year,
            "version": row.version, "status": row.status, "to_esco": str(row.to_esco), "from_esco": str(row.from_esco),
            "net_to_esco": str(row.net_to_esco), "inputs_hash": row.inputs_hash, "flagged": row.flagged,
            "warnings": row.warnings, "lines": [line.detail for line in lines_of(session, row)]}


# -- contract economics ------------------------------------------------------------------------------------
DEFAULT_DISCOUNT_RATE = Decimal("0.06")  # shown on the page; the bureau may try another in the URL (?rate=)


@dataclass
class EconomicsView:
    """The economics panel: which flows are known, how the rest is projected, and the metrics only where the
    ESCO's cash is known (``economics`` is None when its costs are not)."""

    investment: Decimal
    known_through: date | None  # last day of the approved settlements (the ESCO's known cash)
    measured_through: date | None  # last day of any settlement (drafts: measured, not yet approved)
    unknown_costs: list[str]  # custody utilities whose bills (the ESCO's costs) are missing
    projected_per_year: Decimal | None  # the rate the rest of the term is projected at
    economics: Any = None  # emc.settlement.economics.Economics


def _missing_bills(inputs: dict[str, Any]) -> set[str]:
    """Custody utilities without a bill in a settlement (inputs ``<component>.<utility>.bills`` empty)."""
    return {key.split(".")[1] for key, value in inputs.items()
            if key.endswith(".bills") and key.count(".") == 2 and not value}


def economics(session: Session, contract: Contract, as_of: date, rate: Decimal = DEFAULT_DISCOUNT_RATE
              ) -> EconomicsView | None:
    """The ESCO's investment against its cash. Known: the approved settlements' net cash less the bills the
    ESCO paid. Projected (the rest of the term): settlements drafted from measured savings under the
    contract's terms, then their net cash per day carried to the term's end (IPMVP: savings reported,
    not assumed). Where a custody utility's bills are missing the ESCO's costs are unknown and no metric is
    computed (an IRR on the fee alone would be a number that cannot be true). None without an investment."""
    from emc.settlement.economics import CashFlow, contract_economics
    from emc.settlement.periods import contract_years

    head = terms(session, contract)[-1].terms.contract
    if head.esco_investment is None:
        return None
    rows = session.execute(select(Settlement).where(Settlement.contract_id == contract.id)
                           .order_by(Settlement.period_end)).scalars().all()
    signed = {SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid}
    missing: set[str] = set()
    flows, measured_cash, measured_days = [], Decimal(0), 0
    known_through = measured_through = None
    for r in rows:
        cash = r.net_to_esco - Decimal(r.inputs.get("esco_costs", "0"))
        missing |= _missing_bills(r.inputs)
        measured_cash += cash
        if r.kind == "period" and r.version == 1:
            measured_days += (r.period_end - r.period_start).days
            measured_through = max(measured_through or r.last_day, r.last_day)
        if r.status in signed and r.last_day <= as_of:
            flows.append(CashFlow(r.last_day, cash, r.number))
            known_through = max(known_through or r.last_day, r.last_day)
        else:
            flows.append(CashFlow(r.last_day, cash, r.number, projected=True))
    per_day = measured_cash / measured_days if measured_days else None
    if per_day is not None and measured_through is not None:
        for year in contract_years(head):
            days = (year.end - max(year.start, measured_through + timedelta(days=1))).days
            if days > 0:
                flows.append(CashFlow(year.last_day, fen(per_day * days), f"projection year {year.number}",
                                      projected=True))
    view = EconomicsView(head.esco_investment, known_through, measured_through, sorted(missing),
                         fen(per_day * 365) if per_day is not None else None)
    if not missing and rows:
        view.economics = contract_economics(head, flows, rate=rate, as_of=as_of,
                                            projected_from=known_through or head.start - timedelta(days=1))
    return view


# -- reminders ---------------------------------------------------------------------------------------------
APPROVAL_DAYS = 5  # a submitted settlement waiting longer than this is overdue for approval


@dataclass
class Reminder:
    number: str
    waiting_for: str  # approval | payment
    since: date
    days: int


REMINDERS_SHOWN = 20  # the settlements page lists the most overdue; the morning job records them all


def reminders(session: Session, scope: Any, today: date, limit: int | None = REMINDERS_SHOWN) -> list[Reminder]:
    """Settlements waiting for approval beyond APPROVAL_DAYS, or for payment beyond the contract's payment
    days after issue, most overdue first.

    One query whatever the portfolio's size: the deadline (waiting since + allowed days, the payment days
    read from the contract's current terms) is compared in the database, so only overdue rows come back.
    Waiting since a day means its UTC date, as stored; overdue means more than the allowed days have passed."""
    version = ContractVersion.__table__.c
    payment_days = func.coalesce(version.spec[("contract", "payment_days")].as_integer(), 30)
    allowed = case((Settlement.status == SettlementStatus.submitted, APPROVAL_DAYS), else_=payment_days)
    since = case((Settlement.status == SettlementStatus.submitted, Settlement.submitted_at), else_=Settlement.issued_at)
    deadline = plus_days(since, allowed)
    midnight = datetime.combine(today, time(), UTC)
    query = (select(Settlement.number, Settlement.status, since.label("since"), allowed.label("allowed"))
             .join(Contract, Contract.id == Settlement.contract_id)
             .join(ContractVersion, (ContractVersion.contract_id == Contract.id)
                   & (ContractVersion.version == Contract.current_version))
             .where(scope.contracts(), Settlement.status.in_([SettlementStatus.submitted, SettlementStatus.issued]),
                    since.is_not(None), deadline < literal(midnight, UTCDateTime()))
             .order_by(deadline, Settlement.number))
    if limit is not None:
        query = query.limit(limit)
    out = []
    for number, status, at, days in session.execute(query).all():
        waited = (today - at.date()).days
        out.append(Reminder(number, "approval" if status == SettlementStatus.submitted else "payment", at.date(),
                            waited if status == SettlementStatus.submitted else waited - int(days)))
    return out



def current_version_spec(session: Session, contract: Contract) -> dict[str, Any]:
    from emc.contracts.service import current_version

    return current_version(session, contract).spec
