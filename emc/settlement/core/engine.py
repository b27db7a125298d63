"""Settle a period, or true up a contract year: compose the contract's components into one statement.

A contract is a list of components (contracts/README.md), so hybrids settle each component by its own rule
(:mod:`.shared_savings`, :mod:`.guaranteed`, :mod:`.custody`, :mod:`.lease`, :mod:`.fixed_fee`) and itemise
them on one statement.

Amendments: every day is settled under the terms in force on it. A period that an amendment's effective date
cuts is split there (:func:`.periods.split_period`); each part settles under its version — time-based amounts
pro rata by days, savings from M&V for the part if given (``PeriodData.parts``) or else the period's savings
shared out by days (``prorated_by_days`` warning). Lease instalments follow their due dates.

Idempotence and storage are the service layer's: a settlement here is a value computed from its inputs, and
:class:`SettlementResult` carries everything needed to store it (lines, inputs, the state for the next period).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from emc.contracts.spec import ContractFile
from emc.tariffs.book import TariffBook

from .custody import settle_custody_period, settle_custody_year
from .fixed_fee import settle_fixed_fee
from .guaranteed import settle_guaranteed_period, settle_guaranteed_year
from .inputs import (
    CustodyChange,
    PeriodData,
    SettlementInputError,
    TermsVersion,
    as_versions,
    split_at,
    split_data,
    version_on,
)
from .lease import settle_lease_period
from .lines import ESCO, INSTITUTION, ZERO, Line, SettlementWarning, net, totals
from .periods import ContractYear, Period, contract_year, periods_per_year, settlement_periods
from .shared_savings import settle_shared
from .state import Context, Outcome, SettlementState

Terms = ContractFile | TermsVersion | Sequence[TermsVersion]

PERIOD_RULES: dict[str, Callable[..., Outcome]] = {
    "shared_savings": settle_shared,
    "guaranteed_savings": settle_guaranteed_period,
    "cost_custody": settle_custody_period,
    "lease": settle_lease_period,
    "fixed_fee": settle_fixed_fee,
}
YEAR_RULES: dict[str, Callable[..., Outcome]] = {
    "guaranteed_savings": settle_guaranteed_year,
    "cost_custody": settle_custody_year,
}


@dataclass(frozen=True)
class SettlementResult:
    """One statement: a period's settlement (``kind = "period"``) or a contract year's true-up
    (``"year_end"``). ``esco_costs`` are bills the ESCO paid directly (custody), outside the statement but
    part of its cash flow (:mod:`.economics`)."""

    contract: str
    kind: str
    start: date
    end: date
    contract_year: int
    lines: tuple[Line, ...]
    warnings: tuple[SettlementWarning, ...] = ()
    state: SettlementState = field(default_factory=SettlementState)
    versions: tuple[str, ...] = ()
    esco_costs: Decimal = ZERO
    inputs: Mapping[str, str] = field(default_factory=dict)

    def totals(self) -> dict[tuple[str, str], Decimal]:
        return totals(self.lines)

    def net(self, payer: str = INSTITUTION, payee: str = ESCO) -> Decimal:
        return net(self.lines, payer, payee)

    @property
    def key(self) -> str:
        return f"{self.contract}:{self.kind}:{self.start.isoformat()}/{self.end.isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract, "kind": self.kind, "start": self.start.isoformat(),
            "end": self.end.isoformat(), "contract_year": self.contract_year,
            "lines": [line.to_dict() for line in self.lines], "warnings": [w.to_dict() for w in self.warnings],
            "state": self.state.to_dict(), "versions": list(self.versions), "esco_costs": str(self.esco_costs),
            "inputs": dict(self.inputs),
            "totals": [{"payer": p, "payee": q, "amount": str(a)} for (p, q), a in sorted(self.totals().items())],
        }


def _pieces(versions: list[TermsVersion], period: Period,
            data: PeriodData) -> tuple[list[tuple[TermsVersion, Period, PeriodData]], list[SettlementWarning]]:
    cuts = [v.effective for v in versions if period.start < v.effective < period.end]
    if not cuts:
        return [(version_on(versions, period.start), period, data)], []
    parts = split_at(period, cuts)
    warnings = []
    if not data.parts and (data.savings or data.bills):
        warnings.append(SettlementWarning(
            "prorated_by_days", f"{period.label} is split by an amendment; its savings and bills were shared out by "
            "days (give PeriodData.parts for measured figures per part)", "", period.start))
    tz = versions[0].terms.institutions[0].timezone
    pieces = [(version_on(versions, p.start), p, d)
              for p, d in zip(parts, split_data(data, parts, tz), strict=True)]
    return pieces, warnings


def _context(version: TermsVersion, span: Period | ContractYear, tariffs: TariffBook | None,
             changes: Sequence[CustodyChange], bills_paid_by: str) -> Context:
    head = version.terms.contract
    year = contract_year(head, span.contract_year)
    return Context(version.terms, version.version, span, year, periods_per_year(head), tariffs, tuple(changes),
                   bills_paid_by)


def _data_inputs(data: PeriodData) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for s in data.savings:
        inputs.update({f"savings.{s.utility}.adjusted_baseline": str(s.adjusted_baseline),
                       f"savings.{s.utility}.actual": str(s.actual), f"savings.{s.utility}.savings": str(s.savings)})
        if s.uncertainty is not None:
            inputs[f"savings.{s.utility}.uncertainty"] = str(s.uncertainty)
            inputs[f"savings.{s.utility}.confidence"] = str(s.confidence)
        if s.source:
            inputs[f"savings.{s.utility}.source"] = s.source
    for b in data.bills:
        prefix = f"bill.{b.utility}.{b.ref or 'bill'}"
        inputs.update({f"{prefix}.quantity": str(b.quantity), f"{prefix}.cost": str(b.cost)})
        if b.tariff_version:
            inputs[f"{prefix}.tariff_version"] = b.tariff_version
    return inputs


def settle_period(
    terms: Terms,
    period: Period,
    data: PeriodData | None = None,
    state: SettlementState | None = None,
    *,
    tariffs: TariffBook | None = None,
    changes: Sequence[CustodyChange] = (),
    bills_paid_by: str = "esco",
) -> SettlementResult:
    """Settle one period of a contract: every component's lines, the inputs used and the state after it."""
    versions = as_versions(terms)
    data = data if data is not None else PeriodData(period)
    if (data.period.start, data.period.end) != (period.start, period.end):
        raise SettlementInputError(f"data for {data.period.label} given to settle {period.label}")
    if bills_paid_by not in ("esco", "institution"):
        raise SettlementInputError(f"bills_paid_by must be 'esco' or 'institution', not {bills_paid_by!r}")
    state = state or SettlementState()
    pieces, warnings = _pieces(versions, period, data)
    lines: list[Line] = []
    esco_costs = ZERO
    inputs = {"contract": versions[0].terms.contract.code, "period": period.key, **_data_inputs(data)}
    for version, part, part_data in pieces:
        ctx = _context(version, part, tariffs, changes, bills_paid_by)
        for comp in version.terms.components:
            out = PERIOD_RULES[comp.kind](comp, ctx, part_data, state.get(comp.key))
            lines.extend(out.lines)
            warnings.extend(out.warnings)
            esco_costs += out.esco_costs
            inputs.update(out.inputs)
            if out.state is not None:
                state = state.with_component(comp.key, out.state)
    used = sorted({line.tariff_version for line in lines if line.tariff_version})
    if used:
        inputs["tariff_versions"] = ",".join(used)
    return SettlementResult(
        contract=versions[0].terms.contract.code, kind="period", start=period.start, end=period.end,
        contract_year=period.contract_year, lines=tuple(lines), warnings=tuple(warnings), state=state,
        versions=tuple(dict.fromkeys(v.version for v, _, _ in pieces)), esco_costs=esco_costs, inputs=inputs)


def settle_contract_year(
    terms: Terms,
    number: int,
    data: Sequence[PeriodData] = (),
    settled: Sequence[Line] = (),
    *,
    tariffs: TariffBook | None = None,
    changes: Sequence[CustodyChange] = (),
) -> SettlementResult:
    """The true-up of contract year ``number``: guarantees (shortfall, surplus, fee instalments, per-unit
    payments) and custody reconciliation and savings-rate penalties.

    ``data`` are the year's period figures (periods without data count as missing); ``settled`` are the lines
    already settled for the year (period statements and their adjustments), whose fee and per-unit payments
    the true-up reconciles."""
    versions = as_versions(terms)
    end_head = versions[-1].terms.contract
    year = contract_year(end_head, number)
    end_version = version_on(versions, year.last_day)
    year_ctx = _context(end_version, year, tariffs, changes, "esco")
    by_period = {(d.period.start, d.period.end): d for d in data}
    pieces: dict[str, list[tuple[Context, Any, PeriodData]]] = {}
    kinds: dict[str, str] = {}
    warnings: list[SettlementWarning] = []
    inputs: dict[str, str] = {"contract": end_head.code, "contract_year": str(number)}
    for period in settlement_periods(end_version.terms.contract):
        if period.contract_year != number:
            continue
        period_data = by_period.pop((period.start, period.end), PeriodData(period))
        split, split_warnings = _pieces(versions, period, period_data)
        warnings.extend(split_warnings)
        for version, part, part_data in split:
            ctx = _context(version, part, tariffs, changes, "esco")
            for comp in version.terms.components:
                if comp.kind in YEAR_RULES:
                    pieces.setdefault(comp.key, []).append((ctx, comp, part_data))
                    kinds[comp.key] = comp.kind
    if by_period:
        raise SettlementInputError(f"data for periods outside contract year {number}: {sorted(by_period)}")
    lines: list[Line] = []
    for key, key_pieces in pieces.items():
        out = YEAR_RULES[kinds[key]](key, year_ctx, key_pieces, settled)
        lines.extend(out.lines)
        warnings.extend(out.warnings)
        inputs.update(out.inputs)
    return SettlementResult(
        contract=end_head.code, kind="year_end", start=year.start, end=year.end, contract_year=number,
        lines=tuple(lines), warnings=tuple(warnings), versions=tuple(dict.fromkeys(
            ctx.version for key_pieces in pieces.values() for ctx, _, _ in key_pieces)) or (end_version.version,),
        inputs=inputs)


def settle_sequence(
    terms: Terms,
    data: Sequence[PeriodData],
    state: SettlementState | None = None,
    *,
    tariffs: TariffBook | None = None,
    changes: Sequence[CustodyChange] = (),
    bills_paid_by: str = "esco",
) -> list[SettlementResult]:
    """Settle consecutive periods, threading the state, and true up each contract year whose last period is
    among them (the year-end statement follows that period's)."""
    versions = as_versions(terms)
    all_periods = settlement_periods(versions[-1].terms.contract)
    last_of_year = {p.contract_year: p for p in all_periods}
    results: list[SettlementResult] = []
    year_lines: dict[int, list[Line]] = {}
    year_data: dict[int, list[PeriodData]] = {}
    for item in sorted(data, key=lambda d: d.period.start):
        settlement = settle_period(versions, item.period, item, state, tariffs=tariffs, changes=changes,
                                   bills_paid_by=bills_paid_by)
        state = settlement.state
        results.append(settlement)
        n = item.period.contract_year
        year_lines.setdefault(n, []).extend(settlement.lines)
        year_data.setdefault(n, []).append(item)
        if item.period.end == last_of_year[n].end:
            results.append(settle_contract_year(versions, n, year_data[n], year_lines[n], tariffs=tariffs,
                                                changes=changes))
    return results
