"""A period's inputs read from the database for the core: the contract's terms versions, the tariff book and custody
price changes, bills (by the month they are issued in), M&V savings of approved baselines (IPMVP Option C /
ASHRAE Guideline 14 via :mod:`emc.baselines`), the settlement periods and the state carried from the period before.

Nothing is guessed: missing data raise :class:`IncompleteData` with the reason the settlements page shows."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from emc.baselines import service as baselines
from emc.baselines.series import SeriesError, group_meters
from emc.config import get_settings
from emc.contracts.models import Contract, ContractVersion
from emc.contracts.spec import CANONICAL_UNITS, ContractFile
from emc.metering.models import Reading
from emc.settlement.core.controls import SettlementError
from emc.settlement.core.custody import tariff_price_changes
from emc.settlement.core.inputs import Bill, CustodyChange, PeriodData, TermsVersion, UtilitySavings
from emc.settlement.core.periods import Period, settlement_periods
from emc.settlement.core.state import SettlementState
from emc.settlement.models import Settlement
from emc.tariffs import service as tariffs
from emc.tariffs.book import TariffBook, TariffError
from emc.units import factor as unit_factor

SAVINGS_KINDS = {"shared_savings", "guaranteed_savings"}


class IncompleteData(SettlementError):
    """The period cannot be settled yet; nothing is written (never a half-settlement). ``reason`` is what the
    settlements page says it waits for: no_baseline | coverage | bills | tariff | earlier_period | other."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


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


def load_terms(session: Session, contracts: list[Contract]) -> None:
    """:func:`terms` of many contracts read with one query (a contract whose terms do not validate is left
    for :func:`terms` to raise)."""
    memo = session.info.setdefault("emc.settlement.terms", {})
    wanted = {c.id: c for c in contracts if (c.id, c.current_version) not in memo}
    rows: dict[int, list[ContractVersion]] = {}
    for v in session.execute(select(ContractVersion).where(col(ContractVersion.contract_id).in_(list(wanted)))
                             .order_by(col(ContractVersion.contract_id), col(ContractVersion.version))).scalars():
        rows.setdefault(v.contract_id, []).append(v)
    for cid, versions in rows.items():
        try:
            memo[(cid, wanted[cid].current_version)] = [
                TermsVersion(f"v{v.version}", v.effective_from, ContractFile.model_validate(v.spec)) for v in versions]
        except Exception:  # noqa: BLE001,S112  (terms() raises it again for the contract's own report)
            continue


def pricing(session: Session, versions: list[TermsVersion]) -> tuple[TariffBook | None, list[CustodyChange]]:
    """The tariff book (when the contract prices with tariffs) and the custody price changes its
    ``price_tariffs`` imply. A missing tariff makes the period wait (IncompleteData), never a guess."""
    uses_book = uses_time_of_use(versions)
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


def uses_average_cost(versions: list[TermsVersion]) -> bool:
    return any(v.terms.valuation is not None and str(v.terms.valuation.policy) == "average_cost" for v in versions)


def bill_utilities(versions: list[TermsVersion]) -> list[str]:
    """Utilities whose bills a settlement reads: measured ones valued at average cost, and custody ones (the
    ESCO pays those bills: its actual costs, and a reimbursement line when the institution pays them)."""
    found = savings_utilities(versions) if uses_average_cost(versions) else []
    for comp in versions[-1].terms.components:
        if comp.kind == "cost_custody":
            found += [str(u) for u in comp.utilities if str(u) not in found]
    return found


def bills(session: Session, contract: Contract, period: Period, utilities: list[str]) -> tuple[Bill, ...]:
    """The period's bills per utility: imported readings with an amount (``reading.cost``) of the contract's
    main meters whose billing period ends within the period (a bill belongs to the month it is issued in), in
    canonical units. All of a contract's bills are read once per session (many contracts': :func:`load_bills`)."""
    memo = session.info.setdefault("emc.settlement.bills", {})
    out = []
    for utility in utilities:
        key = (contract.id, utility)
        if key not in memo:
            _read_bills(session, {key: group_meters(session, contract, utility)}, memo)
        chosen = [r for r in memo[key] if period.start <= r[0] < period.end]
        if chosen:
            batches = sorted({str(r[3]) for r in chosen if r[3] is not None})
            out.append(Bill(utility, quantity=Decimal(str(round(sum(r[1] for r in chosen), 3))),
                            cost=sum((r[2] for r in chosen), Decimal(0)),
                            ref=f"{len(chosen)} bills, import {','.join(batches)}"[:120]))
    return tuple(out)


def load_bills(session: Session, contracts: list[Contract]) -> None:
    """:func:`bills`' reads for many contracts (each utility whose bills it reads) with two queries."""
    from emc.baselines.series_bulk import meters_of

    memo = session.info.setdefault("emc.settlement.bills", {})
    wanted = {(c.id, u) for c in contracts for u in bill_utilities(terms(session, c)) if (c.id, u) not in memo}
    if wanted:
        groups = meters_of(session, sorted({cid for cid, _ in wanted if cid is not None}),
                           sorted({u for _, u in wanted}))
        _read_bills(session, {key: groups.get(key, []) for key in wanted if key[0] is not None}, memo)


def _read_bills(session: Session, groups: dict[Any, list[Any]], memo: dict[Any, Any]) -> None:
    """The bills of each (contract, utility)'s meters into ``memo``: (local day of issue, quantity in canonical
    units, amount, batch, meter) in the order of (meter, start)."""
    tz = ZoneInfo(get_settings().timezone)
    ids = sorted({m.id for meters in groups.values() for m in meters})
    rows: dict[int, list[Any]] = {}
    for row in session.execute(select(Reading.meter_id, Reading.period_end, Reading.value, Reading.cost,
                                      Reading.batch_id).where(Reading.meter_id.in_(ids), Reading.cost.is_not(None))
                               # one order whatever the physical layout (monthly partitions): the period's
                               # quantity, a float sum, comes out the same on every run
                               .order_by(col(Reading.meter_id), col(Reading.period_start))).all() if ids else []:
        rows.setdefault(row[0], []).append(row)
    for (cid, utility), meters in groups.items():
        scale = {m.id: unit_factor(m.unit, CANONICAL_UNITS.get(utility, m.unit)) for m in meters}
        memo[(cid, utility)] = [((end.astimezone(tz) - timedelta(microseconds=1)).date(), value * scale[m], cost,
                                 batch, m) for mid in sorted(scale) for m, end, value, cost, batch in rows.get(mid, [])]


def bills_through(session: Session, contract: Contract, period: Period, utility: str) -> date | None:
    """The last day every billed main meter of ``utility`` has bills for (None: no bills at all). Read from
    the same per-session memo as :func:`bills`."""
    bills(session, contract, period, [utility])
    rows = session.info["emc.settlement.bills"][(contract.id, utility)]
    last: dict[int, date] = {}
    for day, *_, meter in rows:
        last[meter] = max(last.get(meter, day), day)
    return min(last.values()) if last else None


def custody_bills_cover(session: Session, contract: Contract, versions: list[TermsVersion], period: Period) -> None:
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


def uses_time_of_use(versions: list[TermsVersion]) -> bool:
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
            prepared = (cache or {}).get((contract.id, utility))  # type: ignore[arg-type]
            if intervals:
                hourly = _interval_savings(session, contract, utility, period, prepared)
            month = prepared.month(period.start, last) if prepared and prepared.covers(period.start, last) else None
            if month is not None:  # one computation for the whole span, sliced by month
                rows, total, version = [month], month, prepared.baseline.version
            else:
                report = (baselines.savings_from(prepared, period.start, last) if prepared and
                          prepared.covers(period.start, last) else
                          baselines.compute_savings(session, contract, utility, period.start, last, period="M"))
                rows = baselines.records(report.result.periods)
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


def previous_state(session: Session, contract: Contract, period: Period) -> SettlementState:
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
