"""Approved baselines and non-routine adjustments, per contract, utility and meter group."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from emc.dbtypes import UTCDateTime, utcnow


class BaselineStatus(StrEnum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"
    superseded = "superseded"


class Baseline(SQLModel, table=True):
    """One fitted baseline model. Approved ones are frozen: ``model`` (BaselineModel.to_dict()) reproduces
    the same predictions years later, and ``data_hash`` names the readings it was fitted on."""

    __table_args__ = (UniqueConstraint("contract_id", "utility", "meter_group", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    utility: str = Field(max_length=16)
    meter_group: str = Field(default="total", max_length=60)
    meters: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int
    status: str = Field(max_length=16, index=True)
    granularity: str = Field(max_length=16)
    period_start: date
    period_end: date  # inclusive
    model: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    passes_gates: bool = False
    disqualified: bool = False
    data_hash: str = Field(max_length=64)
    weather_station: str = Field(default="", max_length=40)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_by: str = Field(default="", max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str = Field(default="", max_length=2000)  # why approved despite failed gates, or why rejected


class AdjustmentStatus(StrEnum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"


class NonRoutineAdjustment(SQLModel, table=True):
    """A static factor that changed once (IPMVP non-routine adjustment): dated, explained, approved.

    ``amount`` is use per day in the utility's unit (one-time: over [start, end) in total); ``multiplier``
    scales the baseline from ``start`` (continuous, e.g. added floor area 1.25×)."""

    __tablename__ = "nonroutine_adjustment"
    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    utility: str = Field(max_length=16)
    kind: str = Field(max_length=16)  # one-time | recurring | continuous
    start: date
    end: date | None = None  # exclusive
    amount: float | None = None
    multiplier: float | None = None
    reason: str = Field(max_length=2000)
    status: str = Field(default="proposed", max_length=16)
    proposed_by: str = Field(max_length=64)
    proposed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_by: str = Field(default="", max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_note: str = Field(default="", max_length=1000)


class MVResult(SQLModel, table=True):
    """What the M&V page of one (contract, utility) computed — the baseline chart's series and the savings per
    month with their uncertainty — stored under the fingerprint of everything it was computed from
    (emc.baselines.fingerprint): a new baseline decision, an approved adjustment, or readings or weather
    committed, corrected or reverted give a new fingerprint, so a stored result is never stale, only unused.
    One row per fingerprint (the unique key): concurrent first views store it once."""

    __tablename__ = "mv_result"
    __table_args__ = (UniqueConstraint("contract_id", "utility", "fingerprint"),)
    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    utility: str = Field(max_length=16)
    baseline_id: int = Field(foreign_key="baseline.id", index=True)  # the model the charts show
    fingerprint: str = Field(max_length=64)
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
