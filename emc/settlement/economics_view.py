"""The contract economics panel: the ESCO's known cash (approved settlements less the bills it paid) and the rest
of the term projected from measured settlements (IPMVP: savings reported, not assumed), handed to
:mod:`emc.settlement.core.economics` for NPV / IRR / payback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from emc.contracts.models import Contract
from emc.money import fen
from emc.settlement.core.economics import CashFlow, Economics, contract_economics
from emc.settlement.core.periods import contract_years
from emc.settlement.models import Settlement, SettlementStatus
from emc.settlement.period_inputs import terms

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
    economics: Economics | None = None


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
