"""What the drafting job reads for a chunk of contracts before drafting them one by one, one query per kind.

At province scale (4,000 contracts) the job's time went into statements, not into settling: each contract
read its terms, the stamp of its inputs (seven aggregates), its settlements so far, its approved baselines,
adjustments, meters, station, readings, weather and bills on its own — about twenty statements before the
first figure (README, Performance). Here a chunk's contracts are read together: their terms, stamps,
settlements, stored stamps, M&V data (emc.baselines.service.prepare_reporting_many) and bills. What each
contract then drafts, and how, is unchanged (emc.settlement.drafting): the plan only answers its reads.

A plan is read at the start of a chunk; each contract's drafts are still their own transaction. A read that
is older than a write made meanwhile by someone else is covered as before: the stamp read here is only ever
older than the data (the next run recomputes), and the settlements' unique key decides between two runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from emc.baselines import service as baselines
from emc.contracts.models import Contract
from emc.settlement import draft_stamp
from emc.settlement.core.periods import Period
from emc.settlement.models import DraftStamp, Settlement, SettlementStatus
from emc.settlement.period_inputs import Cache, load_bills, load_terms, periods_of, savings_utilities, terms

CHUNK = 100  # contracts read together: ~15 statements a chunk; a back-settlement of two years of daily data
#             for 100 contracts of 10 meters is 730,000 readings (~60 MB) in hand at once


@dataclass
class Plan:
    """One chunk's reads: per contract its inputs' stamp now, its period settlements so far (by span), the
    periods to draft now, and the M&V data of those periods."""

    stamps: dict[int, str] = field(default_factory=dict)
    done: dict[int, dict[tuple[date, date], Settlement]] = field(default_factory=dict)
    todo: dict[int, list[Period]] = field(default_factory=dict)
    cache: Cache = field(default_factory=dict)
    stored: dict[int, DraftStamp] = field(default_factory=dict)  # the stamps stored by the last run


def plan(session: Session, contracts: list[Contract], today: date) -> Plan:
    """Read what drafting ``contracts`` as of ``today`` needs. A contract whose terms do not load is left
    out (its drafting says why)."""
    usable = _with_terms(session, contracts)
    out = Plan(stamps=draft_stamp.inputs_stamps(session, usable))
    ids = [c.id for c in usable if c.id is not None]
    for row in session.execute(select(Settlement).where(
            col(Settlement.contract_id).in_(ids), col(Settlement.kind) == "period", col(Settlement.version) == 1)
            ).scalars():
        out.done.setdefault(row.contract_id, {})[(row.period_start, row.period_end)] = row
    out.stored = {row.contract_id: row for row in session.execute(  # held here, store() finds them in the session
        select(DraftStamp).where(col(DraftStamp.contract_id).in_(ids))).scalars()}
    wanted: list[tuple[Contract, str, baselines.Span]] = []
    for contract in usable:
        todo = out.todo[contract.id] = _todo(session, contract, today, out)  # type: ignore[index]
        span = reporting_span(session, contract, todo)
        if span is not None:
            wanted.extend((contract, u, span) for u in savings_utilities(terms(session, contract)))
    for key, prepared in baselines.prepare_reporting_many(session, wanted).items():
        if isinstance(prepared, baselines.Reporting):
            out.cache[key] = prepared  # otherwise the period itself will say what is missing
    load_bills(session, [c for c in usable if out.todo[c.id]])  # type: ignore[index]
    return out


def _with_terms(session: Session, contracts: list[Contract]) -> list[Contract]:
    """The contracts whose terms load (read together); a broken one is reported by its own drafting."""
    load_terms(session, contracts)
    usable = []
    for contract in contracts:
        try:
            terms(session, contract)
            usable.append(contract)
        except Exception:  # noqa: BLE001,S112  (a broken contract must not stop the others; drafting reports it)
            continue
    return usable


def _todo(session: Session, contract: Contract, today: date, planned: Plan) -> list[Period]:
    """The periods to draft now: those due without a settlement, and the still-draft ones when their
    inputs' stamp changed since they were computed (emc.settlement.draft_stamp)."""
    cid = contract.id
    assert cid is not None  # a stored contract
    done = planned.done.setdefault(cid, {})
    current = cid in planned.stored and planned.stored[cid].stamp == planned.stamps[cid]
    due = [p for p in periods_of(session, contract) if p.end <= today]
    return [p for p in due if (p.start, p.end) not in done
            or (done[(p.start, p.end)].status == SettlementStatus.draft and not current)]


def reporting_span(session: Session, contract: Contract, todo: list[Period]) -> baselines.Span | None:
    """The days whose M&V data the periods about to be drafted need: the periods, and the whole contract
    year of any that closes a year (its true-up reads the year)."""
    if not todo:
        return None
    first: dict[int, date] = {}
    end: dict[int, date] = {}
    for p in periods_of(session, contract):
        first.setdefault(p.contract_year, p.start)
        end[p.contract_year] = p.end
    closing = [first[p.contract_year] for p in todo if p.end == end[p.contract_year]]
    return min([todo[0].start, *closing]), todo[-1].end - timedelta(days=1)


def reporting_cache(session: Session, contract: Contract, todo: list[Period]) -> Cache:
    """The M&V data of one contract's periods about to be drafted, loaded once for all of them."""
    span = reporting_span(session, contract, todo)
    if span is None:
        return {}
    found = baselines.prepare_reporting_many(session, [(contract, u, span)
                                                       for u in savings_utilities(terms(session, contract))])
    return {key: prepared for key, prepared in found.items() if isinstance(prepared, baselines.Reporting)}
