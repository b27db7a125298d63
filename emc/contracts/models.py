"""Contracts, their versions (the original terms and each amendment) and settlement components.

The terms a settlement used must stay readable forever, so a contract is never rewritten: each
loaded change of terms is a new :class:`ContractVersion` with an effective date, and components
hang off the version, not the contract.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from emc.dbtypes import Money, UTCDateTime, utcnow


class Contract(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=60, unique=True)
    name: str = Field(max_length=300, index=True)
    name_en: str = Field(default="", max_length=300)
    type: str = Field(max_length=32, index=True)
    esco_id: int = Field(foreign_key="esco.id", index=True)
    start_date: date
    end_date: date  # inclusive: the last day of the term
    settlement_frequency: str = Field(max_length=16)
    contract_value: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))
    esco_investment: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))
    carbon_rights: str = Field(default="institution", max_length=16)
    current_version: int = 1
    source_file: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ContractInstitution(SQLModel, table=True):
    """The institutions a contract serves (a county custody package covers hundreds)."""

    __tablename__ = "contract_institution"
    contract_id: int = Field(foreign_key="contract.id", primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", primary_key=True, index=True)


class ContractVersion(SQLModel, table=True):
    """The full terms as loaded (canonical JSON of the contract file) from ``effective_from`` on."""

    __tablename__ = "contract_version"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    version: int
    effective_from: date
    reason: str = Field(default="", max_length=1000)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    spec_hash: str = Field(max_length=64)
    source_file: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=64)


class ContractComponent(SQLModel, table=True):
    """One settlement component of one contract version (shared savings, guarantee, custody…)."""

    __tablename__ = "contract_component"
    __table_args__ = (UniqueConstraint("version_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="contract_version.id", index=True)
    position: int
    key: str = Field(max_length=60)
    kind: str = Field(max_length=32)
    utilities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ContractMeter(SQLModel, table=True):
    __tablename__ = "contract_meter"
    contract_id: int = Field(foreign_key="contract.id", primary_key=True)
    meter_id: int = Field(foreign_key="meter.id", primary_key=True, index=True)
