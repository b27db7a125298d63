"""The money ledger: balanced double entries per settlement line at approval, payment and reversal, balances per
party and account, and the ledger's invariants checked as data (:func:`ledger_problems`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlmodel import Session

from emc.contracts.models import Contract
from emc.dbtypes import utcnow
from emc.settlement.models import LedgerEntry, Settlement, SettlementLine, SettlementStatus
from emc.settlement.records import lines_of

PENALTY_CODES = {"shortfall", "penalty", "guarantee_penalty", "rate_penalty"}


def post(session: Session, row: Settlement, day: date, posting: str, sign: Decimal) -> None:
    """Double entry per line: the payer's payable and the payee's receivable (``sign`` 1 opens them at
    approval or a payment's reversal, −1 settles them at payment: penalties and a lease's lessor included, so
    each party's balances for the settlement return to zero). Keyed by (settlement, posting, line, party,
    account): the same posting twice is refused by the database. The posting's entries are written with one
    executemany insert."""
    event = posting.split(":")[0]
    now = utcnow()
    entries = []
    for line in lines_of(session, row):
        account = "penalty" if line.kind in PENALTY_CODES else "settlement"
        text = f"{row.number} " + {"approve": line.kind, "payment": "paid"}.get(event, "payment reversed")
        common = {"settlement_id": row.id, "contract_id": row.contract_id, "posted_on": day, "memo": text,
                  "posting": posting, "line_position": line.position, "created_at": now}
        entries.append({**common, "party": line.payer, "account": f"{account}_payable", "amount": -line.amount * sign})
        entries.append({**common, "party": line.payee, "account": f"{account}_receivable",
                        "amount": line.amount * sign})
    if entries:
        session.execute(insert(LedgerEntry), entries)


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
    lines: dict[int, int] = dict(session.execute(select(SettlementLine.settlement_id, func.count())
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
