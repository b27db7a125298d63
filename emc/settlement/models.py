"""Settlements, their lines and the money ledger (tables). Append-only once approved."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from emc.dbtypes import ExactDecimal, Money, UTCDateTime, utcnow


class SettlementStatus(StrEnum):
    draft = "draft"  # recomputable
    submitted = "submitted"
    approved = "approved"  # frozen; inputs hashed; ledger posted
    issued = "issued"
    paid = "paid"


class Settlement(SQLModel, table=True):
    """One contract period's settlement. Unique per (contract, period, version): version 1 is the period's
    settlement, a later version an adjustment settling a difference found after approval."""

    # ix_settlement_period_start: the settlements list (newest period first) reads the newest periods by index
    # and stops at its page, instead of sorting every settlement in scope
    __table_args__ = (UniqueConstraint("contract_id", "kind", "period_start", "period_end", "version"),
                      Index("ix_settlement_period_start", "period_start"))
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=80, unique=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    period_start: date
    period_end: date  # exclusive: the period is [period_start, period_end)
    contract_year: int
    version: int = 1  # 1: the settlement; 2, 3 …: adjustments of it after data changed
    kind: str = Field(default="period", max_length=16)  # period | year_end
    adjusts_id: int | None = Field(default=None, foreign_key="settlement.id")
    status: str = Field(default=SettlementStatus.draft, max_length=16, index=True)
    to_esco: Decimal = Field(default=Decimal("0.00"), sa_column=Column(Money(), nullable=False))
    from_esco: Decimal = Field(default=Decimal("0.00"), sa_column=Column(Money(), nullable=False))
    net_to_esco: Decimal = Field(default=Decimal("0.00"), sa_column=Column(Money(), nullable=False))
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state_after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    warnings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    inputs_hash: str = Field(default="", max_length=64)
    flagged: str = Field(default="", max_length=500)  # data behind an approved settlement changed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    submitted_by: str = Field(default="", max_length=64)
    # who last drafted or recomputed the figures (four eyes: never the approver)
    inputs_changed_by: str = Field(default="", max_length=64)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_by: str = Field(default="", max_length=64)
    issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the issue record: the statement (frozen at approval) never carries these, so every copy verifies
    issued_by: str = Field(default="", max_length=64)
    due_on: date | None = None
    countersigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    countersigned_by: str = Field(default="", max_length=64)
    paid_on: date | None = None  # the payment in force (settlement_payment holds every one, reversals too)
    paid_reference: str = Field(default="", max_length=100)
    reject_reason: str = Field(default="", max_length=1000)

    @property
    def last_day(self) -> date:
        """The period's last day (``period_end`` is exclusive)."""
        return self.period_end - timedelta(days=1)


class SettlementLine(SQLModel, table=True):
    __tablename__ = "settlement_line"
    id: int | None = Field(default=None, primary_key=True)
    settlement_id: int = Field(foreign_key="settlement.id", index=True)
    position: int
    component: str = Field(max_length=60)
    kind: str = Field(max_length=40)
    utility: str = Field(default="", max_length=16)
    payer: str = Field(max_length=16)
    payee: str = Field(max_length=16)
    quantity: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    unit: str = Field(default="", max_length=16)
    unit_price: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    amount: Decimal = Field(sa_column=Column(Money(), nullable=False))
    formula: str = Field(max_length=1000)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LedgerEntry(SQLModel, table=True):
    """An append-only money movement. Each approved settlement posts entries whose amounts sum to zero
    (double entry): the payer's payable against the payee's receivable.

    ``posting`` names the event (``approve``, ``payment:1``, ``reversal:1``, ``payment:2`` …) and
    ``line_position`` the settlement line: one entry per (settlement, posting, line, party, account), so a
    second posting of the same event is impossible by schema, whatever races above it."""

    __tablename__ = "ledger_entry"
    __table_args__ = (UniqueConstraint("settlement_id", "posting", "line_position", "party", "account"),)
    id: int | None = Field(default=None, primary_key=True)
    posting: str = Field(default="approve", max_length=20)
    line_position: int = 0
    settlement_id: int = Field(foreign_key="settlement.id", index=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    posted_on: date
    party: str = Field(max_length=16)  # institution | esco | lessor
    account: str = Field(max_length=30)  # payable | receivable | penalty_payable | penalty_receivable | paid
    amount: Decimal = Field(sa_column=Column(Money(), nullable=False))  # + debit, − credit
    memo: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DraftStamp(SQLModel, table=True):
    """What a contract's drafts were last computed from (emc.settlement.draft_stamp): the drafting job
    recomputes its still-draft periods only when the stamp of their inputs now differs."""

    __tablename__ = "draft_stamp"
    contract_id: int = Field(foreign_key="contract.id", primary_key=True)
    stamp: str = Field(max_length=64)
    stamped_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SettlementWait(SQLModel, table=True):
    """A contract period that has ended but is not drafted because its data are not there yet (no approved
    baseline, data covering < 90 % of its days, bills not through its last day, a missing tariff, or an
    earlier period still waiting). Rewritten by every run of the drafting job; what the settlements page
    lists as waiting, per contract and period."""

    __tablename__ = "settlement_wait"
    __table_args__ = (UniqueConstraint("contract_id", "kind", "period_start"),)
    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    kind: str = Field(default="period", max_length=16)  # period | year_end
    period_start: date
    period_end: date  # exclusive
    reason: str = Field(max_length=32)  # no_baseline | coverage | bills | tariff | earlier_period | other
    detail: str = Field(default="", max_length=500)
    checked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StatementDigest(SQLModel, table=True):
    """The SHA-256 of every statement PDF this system handed out (recorded when it is rendered for a user
    with the settlement in scope), so /verify can tell a presented PDF is genuine without rendering one for
    an anonymous caller."""

    __tablename__ = "statement_digest"
    settlement_id: int = Field(foreign_key="settlement.id", primary_key=True)
    sha256: str = Field(max_length=64, primary_key=True)
    first_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SettlementPayment(SQLModel, table=True):
    """A payment recorded by finance, or the reversal of one (append-only: a wrong payment is reversed with a
    reason, then recorded again). ``seq`` counts the settlement's payments; a reversal carries the seq of the
    payment it reverses."""

    __tablename__ = "settlement_payment"
    __table_args__ = (UniqueConstraint("settlement_id", "kind", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    settlement_id: int = Field(foreign_key="settlement.id", index=True)
    kind: str = Field(max_length=10)  # payment | reversal
    seq: int
    paid_on: date
    reference: str = Field(default="", max_length=100)
    amount: Decimal = Field(sa_column=Column(Money(), nullable=False))  # net to the ESCO, as paid
    reason: str = Field(default="", max_length=1000)
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SettlementSource(SQLModel, table=True):
    """What an approved settlement used, recorded at approval (its provenance): readings by import batch and
    span, weather by batch, bills, the baseline versions, approved non-routine adjustments, tariff versions
    and contract versions. Reverting or replacing any of it is refused without a reason, and with one the
    settlement is flagged and its difference drafted as an adjusting settlement."""

    __tablename__ = "settlement_source"
    __table_args__ = (UniqueConstraint("settlement_id", "kind", "ref"),
                      Index("ix_settlement_source_kind_ref", "kind", "ref"))
    id: int | None = Field(default=None, primary_key=True)
    settlement_id: int = Field(foreign_key="settlement.id", index=True)
    # reading_batch | weather_batch | baseline | adjustment | tariff | contract_version
    kind: str = Field(max_length=20)
    ref: str = Field(max_length=120)  # batch id, baseline id, adjustment id, tariff key, contract version id
    first_start: datetime | None = Field(default=None, sa_type=UTCDateTime)  # readings: the span used
    last_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rows: int = 0
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class StatementSnapshot(SQLModel, table=True):
    """The statement as approved: contract, parties and figures taken at approval, so its PDF renders the same
    bytes for ever whatever changes later (an amended English name, the day it is issued)."""

    __tablename__ = "statement_snapshot"
    settlement_id: int = Field(foreign_key="settlement.id", primary_key=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    taken_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
