"""Drafting: compute a period (and its contract year's true-up) with the core and store one settlement per
(contract, kind, period, version); a draft is recomputable, anything past draft is returned as it is. The
scheduled run drafts every period that is due, in order, and records what waits for data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from emc.audit import service as audit
from emc.contracts.models import Contract
from emc.money import fen
from emc.org.models import User
from emc.settlement import draft_stamp, due_plan
from emc.settlement.core import engine
from emc.settlement.core.controls import SettlementError
from emc.settlement.core.inputs import TermsVersion
from emc.settlement.core.lines import ESCO, Line, totals
from emc.settlement.core.periods import Period, settlement_periods
from emc.settlement.core.state import SettlementState
from emc.settlement.models import (
    Settlement,
    SettlementLine,
    SettlementStatus,
    SettlementWait,
)
from emc.settlement.period_inputs import (
    Cache,
    IncompleteData,
    bill_utilities,
    bills,
    custody_bills_cover,
    period_data,
    periods_of,
    previous_state,
    pricing,
    savings_utilities,
    terms,
    uses_average_cost,
    uses_time_of_use,
)
from emc.settlement.records import actor_name, find, lines_of


def _number(contract: Contract, kind: str, start: date, version: int) -> str:
    tag = "Y" if kind == "year_end" else ""
    return f"{contract.code}-{start:%Y%m}{tag}" + (f"-A{version - 1}" if version > 1 else "")


def _fill(row: Settlement, result: engine.SettlementResult, lines: list[Line]) -> None:
    """The figures a settlement row carries, from the engine's result and the lines it stores."""
    sums = totals(lines)
    to_esco = sum((a for (_, payee), a in sums.items() if payee == ESCO), Decimal(0))
    from_esco = sum((a for (payer, _), a in sums.items() if payer == ESCO), Decimal(0))
    row.to_esco, row.from_esco, row.net_to_esco = fen(to_esco), fen(from_esco), fen(to_esco - from_esco)
    row.inputs = {**dict(result.inputs), "contract_versions": list(result.versions),
                  "esco_costs": str(result.esco_costs)}
    row.state_after = result.state.to_dict() if result.kind == "period" else {}
    row.warnings = [w.to_dict() for w in result.warnings]


def store(session: Session, contract: Contract, result: engine.SettlementResult, *, actor: User | str,
           version: int = 1, adjusts: Settlement | None = None, lines: list[Line] | None = None) -> Settlement:
    lines = list(result.lines if lines is None else lines)
    row = Settlement(number=_number(contract, result.kind, result.start, version), contract_id=contract.id,
                     period_start=result.start, period_end=result.end, contract_year=result.contract_year,
                     version=version, kind=result.kind, adjusts_id=adjusts.id if adjusts else None,
                     created_by=actor_name(actor), inputs_changed_by=actor_name(actor))
    _fill(row, result, lines)
    session.add(row)
    session.flush()
    _write_lines(session, row, lines)
    return row


def _write_lines(session: Session, row: Settlement, lines: list[Line]) -> None:
    """A settlement's lines in one executemany insert (SQLAlchemy's insertmanyvalues: one statement per
    batch), not one ORM object each."""
    if not lines:
        return
    session.execute(insert(SettlementLine), [
        {"settlement_id": row.id, "position": i, "component": line.component, "kind": line.code,
         "utility": line.utility, "payer": line.payer, "payee": line.payee, "quantity": line.quantity,
         "unit": line.unit, "unit_price": line.unit_price, "amount": line.amount, "formula": line.formula[:1000],
         "detail": line.to_dict()} for i, line in enumerate(lines)])


Events = list[dict[str, Any]]


def _audit(session: Session, events: Events | None, **what: Any) -> None:
    """Record an audit event now, or collect it for the caller to write with the others of its transaction
    (run_due writes a contract's events with one insert)."""
    if events is None:
        audit.record(session, **what)
    else:
        events.append(audit.event(**what))


def draft_period(session: Session, contract: Contract, period: Period, *, actor: User | str,
                 cache: Cache | None = None, unsettled: bool = False,
                 state: SettlementState | None = None, events: Events | None = None) -> list[Settlement]:
    """Draft (or recompute a draft of) the period, and the contract year's true-up after its last period.

    Idempotent: a settlement past draft is returned as it is; two concurrent runs create one row (the
    unique key decides, the loser reads the winner's). ``events``: collect the audit events there instead of
    recording them one by one."""
    versions = terms(session, contract)
    # ``unsettled``: the caller has just seen that the period has no settlement (run_due); the unique key
    # still decides if another process drafts it meanwhile
    existing = None if unsettled else find(session, contract, "period", period.start, period.end)
    if existing is not None and existing.status != SettlementStatus.draft:
        return [existing]
    state = state if state is not None else previous_state(session, contract, period)
    result = compute_period(session, contract, versions, period, state, cache)
    out = [_upsert(session, contract, result, existing, actor, events)]
    periods = [p for p in periods_of(session, contract) if p.contract_year == period.contract_year]
    if period.end == periods[-1].end:
        out.extend(_draft_year_end(session, contract, versions, periods, actor, cache, events))
    return out


def compute_period(session: Session, contract: Contract, versions: list[TermsVersion], period: Period,
            state: SettlementState, cache: Cache | None = None) -> engine.SettlementResult:
    """One period computed from today's data (a draft, or the recomputation an adjustment compares with)."""
    book, changes = pricing(session, versions)
    custody_bills_cover(session, contract, versions, period)
    data = period_data(session, contract, period, savings_utilities(versions), cache,
                       intervals=uses_time_of_use(versions))
    data = replace(data, bills=bills(session, contract, period, bill_utilities(versions)))
    if uses_average_cost(versions):
        missing = [u for u in savings_utilities(versions) if not data.bills_for(u)]
        if missing:
            raise IncompleteData(f"{contract.code} {period.label}: average-cost valuation needs a bill with an amount "
                                 f"for {', '.join(missing)} ending in the period (import the bills with their 金额)",
                                 "bills")
    return engine.settle_period(versions, period, data, state, tariffs=book, changes=changes)


def _upsert(session: Session, contract: Contract, result: engine.SettlementResult, existing: Settlement | None,
            actor: User | str, events: Events | None = None) -> Settlement:
    if existing is not None:  # a draft is recomputable: replace its lines and figures
        # … only while it is a draft: claimed by compare-and-set, so a recompute racing a submit loses cleanly
        if session.execute(update(Settlement).where(Settlement.id == existing.id,
                                                    Settlement.status == SettlementStatus.draft)
                           .values(inputs_changed_by=actor_name(actor))
                           .execution_options(synchronize_session=False)).rowcount != 1:
            session.refresh(existing)
            return existing
        set_committed_value(existing, "inputs_changed_by", actor_name(actor))
        session.execute(delete(SettlementLine).where(col(SettlementLine.settlement_id) == existing.id))
        _fill(existing, result, list(result.lines))
        _write_lines(session, existing, list(result.lines))
        _audit(session, events, actor=actor, action="settlement.recompute", object_type="settlement",
               object_id=existing.number, after={"net_to_esco": str(existing.net_to_esco)})
        return existing
    savepoint = session.begin_nested()
    try:
        row = store(session, contract, result, actor=actor)
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        row = find(session, contract, result.kind, result.start, result.end)
        if row is None:
            raise
        return row
    _audit(session, events, actor=actor, action="settlement.draft", object_type="settlement", object_id=row.number,
           after={"period": f"{row.period_start}/{row.period_end}", "net_to_esco": str(row.net_to_esco)})
    return row


def _draft_year_end(session: Session, contract: Contract, versions: list[TermsVersion], periods: list[Period],
                    actor: User | str, cache: Cache | None = None, events: Events | None = None) -> list[Settlement]:
    year_start, year_end = periods[0].start, periods[-1].end
    existing = find(session, contract, "year_end", year_start, year_end)
    if existing is not None and existing.status != SettlementStatus.draft:
        return [existing]
    if not any(c.kind in engine.YEAR_RULES for v in versions for c in v.terms.components):
        return []
    result = compute_year(session, contract, versions, periods, cache)
    return [_upsert(session, contract, result, existing, actor, events)]


def compute_year(session: Session, contract: Contract, versions: list[TermsVersion], periods: list[Period],
                 cache: Cache | None = None) -> engine.SettlementResult:
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


@dataclass
class DueReport:
    created: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # incomplete data: retried on the next run
    recomputed: list[str] = field(default_factory=list)  # drafts whose inputs changed since they were drafted

    def as_dict(self) -> dict[str, list[str]]:
        return {"created": self.created, "waiting": self.waiting}


def run_due(session: Session, today: date, *, actor: User | str = "scheduler",
            contracts: list[int] | None = None, record_waiting: bool = True) -> DueReport:
    """Draft every contract period that has ended by ``today`` and has no settlement, in order, stopping at a
    contract's first period whose data is incomplete (recorded as a warning to retry, never half-settled).

    Each contract's drafts are one transaction, committed before the next contract: a run over a large
    portfolio never holds the database (SQLite's single writer) for longer than one contract, and a crash
    loses only the contract in hand, which the next run drafts again (one settlement per period, by key).
    Within the contract's transaction its audit events are collected and written with one insert, and its
    waiting periods are only replaced where it had or has any (no statement per contract for nothing).

    ``contracts``: only these (a share of the portfolio, emc.jobs.drafting_pool); ``record_waiting``: write the
    run's one audit record of what waits (the pool writes it once for all its shares)."""
    report = DueReport()
    had_waits = set(session.execute(select(col(SettlementWait.contract_id)).distinct()).scalars())
    chosen = select(Contract).order_by(Contract.code)
    if contracts is not None:
        chosen = chosen.where(col(Contract.id).in_(contracts))
    found = list(session.execute(chosen).scalars().all())
    for i in range(0, len(found), due_plan.CHUNK):  # a chunk's reads together, then each contract's drafts
        chunk = found[i:i + due_plan.CHUNK]
        planned = due_plan.plan(session, chunk, today)
        for contract in chunk:
            _draft_contract(session, contract, report, had_waits, actor, planned)
    if record_waiting:
        record_waits(session, report, actor)
    return report


def _draft_contract(session: Session, contract: Contract, report: DueReport, had_waits: set[int],
                    actor: User | str, planned: due_plan.Plan) -> None:
    """One contract's due periods, in order, in one transaction (committed here); stops at the first period
    whose data is incomplete and records it and the periods behind it as waiting."""
    assert contract.id is not None  # a stored contract
    try:
        versions = terms(session, contract)
    except Exception as exc:  # noqa: BLE001  (a broken contract must not stop the others)
        report.waiting.append(f"{contract.code}: {exc}")
        return
    stamp, done, todo = planned.stamps[contract.id], planned.done[contract.id], planned.todo[contract.id]
    # the state after the period just drafted: to start with, after the settled period the first one follows
    before = next((r for r in done.values() if todo and r.period_end == todo[0].start), None)
    carried: tuple[date, SettlementState] | None = None if before is None else (
        before.period_end, SettlementState.from_dict(before.state_after) if before.state_after else SettlementState())
    waits: list[SettlementWait] = []
    events: Events = []
    for i, period in enumerate(todo):
        kept = len(events)
        try:
            savepoint = session.begin_nested()
            state = carried[1] if carried and carried[0] == period.start else None
            rows = _due_period(session, contract, versions, period, done.get((period.start, period.end)),
                               report, actor=actor, cache=planned.cache, state=state, events=events)
            savepoint.commit()
            carried = (period.end, SettlementState.from_dict(rows[0].state_after) if rows[0].state_after
                       else SettlementState())
        except IncompleteData as exc:
            savepoint.rollback()
            del events[kept:]  # what the rolled-back period drafted is not in the trail either
            report.waiting.append(str(exc))
            waits = [SettlementWait(contract_id=contract.id, period_start=p.start, period_end=p.end,
                                    reason=exc.reason if p is period else "earlier_period",
                                    detail=(str(exc) if p is period else period.label)[:500])
                     for p in todo[i:]]
            break
    if waits or contract.id in had_waits:
        _record_waits(session, contract, waits)
    if done or todo:  # its drafts (those kept, and those drafted now) are computed from the inputs stamped
        draft_stamp.store(session, contract, stamp)
    audit.write(session, events)
    session.commit()


def record_waits(session: Session, report: DueReport, actor: User | str) -> None:
    """The run's one audit record of the periods waiting for data (none when nothing waits)."""
    if report.waiting:
        audit.record(session, actor=actor, action="settlement.waiting", object_type="job", object_id="settle-due",
                     after={"waiting": report.waiting[:50], "created": len(report.created)})


def _due_period(session: Session, contract: Contract, versions: list[TermsVersion], period: Period,
                existing: Settlement | None, report: DueReport, *, actor: User | str, cache: Cache,
                state: SettlementState | None, events: Events) -> list[Settlement]:
    """Draft a period without a settlement; recompute a still-draft one whose inputs changed."""
    if existing is None:
        rows = draft_period(session, contract, period, actor=actor, cache=cache, unsettled=True, state=state,
                            events=events)
        report.created.extend(r.number for r in rows)
        return rows
    rows = _recompute_changed(session, contract, versions, period, existing, actor=actor, cache=cache, state=state,
                              events=events)
    report.recomputed.extend(r.number for r in rows if r.status == SettlementStatus.draft)
    return rows or [existing]


def _recompute_changed(session: Session, contract: Contract, versions: list[TermsVersion], period: Period,
                       existing: Settlement, *, actor: User | str, cache: Cache,
                       state: SettlementState | None, events: Events) -> list[Settlement]:
    """A still-draft period settlement recomputed from today's data and redrafted (with its year's true-up)
    only where a figure, input, line or warning differs; an unchanged draft is left as it is (no audit
    noise, and who last changed its inputs stays who did)."""
    result = compute_period(session, contract, versions, period,
                            state if state is not None else previous_state(session, contract, period), cache)
    fresh = Settlement(number=existing.number, contract_id=contract.id, period_start=period.start,
                       period_end=period.end, contract_year=existing.contract_year, created_by="")
    _fill(fresh, result, list(result.lines))

    def figures(row: Settlement, lines: list[dict[str, Any]]) -> Any:
        return json.loads(json.dumps([str(row.net_to_esco), row.inputs, row.state_after, row.warnings, lines],
                                     sort_keys=True, default=str))

    if figures(existing, [line.detail for line in lines_of(session, existing)]) == \
            figures(fresh, [line.to_dict() for line in result.lines]):
        return []
    return draft_period(session, contract, period, actor=actor, cache=cache, state=state, events=events)


def _record_waits(session: Session, contract: Contract, waits: list[SettlementWait]) -> None:
    """Replace the contract's waiting periods with this run's (none once everything due is drafted)."""
    session.execute(delete(SettlementWait).where(SettlementWait.contract_id == contract.id))
    session.add_all(waits)
    session.flush()


WAITING_SHOWN = 20  # the settlements page lists the first ones and counts the rest


@dataclass
class Waiting:
    """The periods waiting for data in a scope: the first ``shown`` contracts' first waiting period (with its
    reason and how many later periods wait behind it) and how many contracts wait in all."""

    rows: list[tuple[SettlementWait, Contract, int]]
    contracts: int


def waiting(session: Session, scope: Any, limit: int = WAITING_SHOWN) -> Waiting:
    """Three bounded queries whatever the portfolio's size: the count, one page of first waiting periods, and
    the periods behind those contracts only."""
    first = (col(SettlementWait.reason) != "earlier_period", scope.contracts())
    of_contract = col(Contract.id) == col(SettlementWait.contract_id)
    total = session.execute(select(func.count()).select_from(SettlementWait).join(Contract, of_contract)
                            .where(*first)).scalar_one()
    rows = session.execute(select(SettlementWait, Contract).join(Contract, of_contract)
                           .where(*first).order_by(Contract.code, SettlementWait.period_start).limit(limit)).all()
    ids = [contract.id for _, contract in rows]
    behind = dict(session.execute(select(col(SettlementWait.contract_id), func.count()).where(
        col(SettlementWait.reason) == "earlier_period", col(SettlementWait.contract_id).in_(ids))
        .group_by(col(SettlementWait.contract_id))).all()) if ids else {}
    return Waiting([(wait, contract, int(behind.get(contract.id, 0))) for wait, contract in rows], int(total))
