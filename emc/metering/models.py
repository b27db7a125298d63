"""Meters and readings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from emc.dbtypes import ExactDecimal, Money, UTCDateTime, utcnow


class Meter(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=60, unique=True)
    name: str = Field(default="", max_length=200)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    utility: str = Field(max_length=16)
    unit: str = Field(max_length=16)
    multiplier: Decimal = Field(default=Decimal(1), sa_column=Column(ExactDecimal(), nullable=False))
    register_type: str = Field(default="interval", max_length=16)
    register_digits: int | None = None  # rollover happens at 10**digits
    sub_item: str = Field(default="total", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Reading(SQLModel, table=True):
    """Consumption of one meter over [period_start, period_end), in the meter's unit.

    Physical quantities are floats (a register has a few decimals; float64 carries 15 digits);
    money never is. ``source_value`` is what the file said (the interval value before unit
    conversion, or the register reading at period end for cumulative meters), ``factor`` what it was
    multiplied by (unit factor × CT multiplier), ``batch_id`` the import that wrote it.
    """

    # On PostgreSQL the table is partitioned by month on period_start (migration 0013, emc.metering.partitions)
    # and its primary key constraint is (id, meter_id, period_start): every unique key must hold the partition
    # key and the Citus distribution column (docs/scale.md). ids come from one sequence, so id alone stays the
    # ORM identity declared here; SQLite keeps id as its rowid key. The partial index serves bill lookups.
    __table_args__ = (UniqueConstraint("meter_id", "period_start", "period_end"),
                      Index("ix_reading_bills", "meter_id", "period_start", postgresql_where=text("cost IS NOT NULL"),
                            sqlite_where=text("cost IS NOT NULL")))
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"),
                                                          primary_key=True))
    meter_id: int = Field(foreign_key="meter.id")
    period_start: datetime = Field(sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    value: float
    source_value: float | None = None
    factor: float = 1.0
    from_register: bool = False  # source_value is the register reading at period_end
    estimated: bool = False
    batch_id: int | None = Field(default=None, foreign_key="import_batch.id", index=True)
    cost: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))  # the bill's amount, CNY


class MeterMonthTotal(SQLModel, table=True):
    """One meter's readings in one local calendar month, kept with the readings (emc/metering/totals.py recomputes
    the touched months in the transaction that writes them). ``month`` is the first day of the month of each
    reading's start in its institution's time zone, as the carbon ledger books it; ``cost`` is the sum of the
    bills' amounts and stays None (unknown, never zero) when no reading of the month carries one."""

    __tablename__ = "meter_month"
    meter_id: int = Field(foreign_key="meter.id", primary_key=True)
    month: date = Field(primary_key=True)
    quantity: float  # the sum of Reading.value (the meter's unit), summed as the readings are stored
    readings: int
    estimated: int
    cost: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))
    first_start: datetime = Field(sa_type=UTCDateTime)
    last_end: datetime = Field(sa_type=UTCDateTime)


class ReadingRevision(SQLModel, table=True):
    """A reading replaced by a correction (import mode "replace"). The old value is kept here for
    ever; settlements and ledgers that used the period find it here and are flagged for re-run."""

    __tablename__ = "reading_revision"
    id: int | None = Field(default=None, primary_key=True)
    meter_id: int = Field(foreign_key="meter.id", index=True)
    period_start: datetime = Field(sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    old_value: float
    old_source_value: float | None = None  # what the file said, and its factor: a revert restores them too
    old_factor: float | None = None
    old_estimated: bool | None = None
    old_batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    new_value: float | None  # None: the reading was removed (a batch revert)
    new_batch_id: int | None = Field(default=None, foreign_key="import_batch.id", index=True)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BatchStatus(StrEnum):
    previewed = "previewed"  # checked, not written; the file waits for commit
    committed = "committed"
    reverted = "reverted"
    rejected = "rejected"  # had errors at commit time; nothing written
    discarded = "discarded"  # a preview (or a rejected batch) its uploader set aside; nothing written


class ImportBatch(SQLModel, table=True):
    """One uploaded file. Its hash makes re-uploading the same file a no-op."""

    __tablename__ = "import_batch"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="meter", max_length=16)  # meter | weather
    file_name: str = Field(max_length=300)
    file_hash: str = Field(max_length=64, index=True)
    sheet: str = Field(default="", max_length=100)  # XLSX: each sheet is its own import
    file_size: int
    stored_path: str = Field(default="", max_length=500)
    esco_id: int | None = Field(default=None, foreign_key="esco.id", index=True)
    uploaded_by: str = Field(max_length=64)
    uploaded_by_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    mode: str = Field(default="only-new", max_length=16)  # only-new | replace
    status: str = Field(max_length=16, index=True)
    encoding: str = Field(default="", max_length=20)
    layout: str = Field(default="", max_length=20)
    rows_total: int = 0
    rows_new: int = 0
    rows_same: int = 0  # already stored with the same value: skipped
    rows_conflict: int = 0  # stored with another value: skipped (only-new) or replaced (replace)
    errors: int = 0
    warnings: int = 0
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    findings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    committed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reverted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ImportBatchMeter(SQLModel, table=True):
    """The meters a batch's rows name (known and in the uploader's scope at preview): the path by which a
    batch is scoped to regions. A district manager sees a batch only when every meter it touches is theirs."""

    __tablename__ = "import_batch_meter"
    batch_id: int = Field(foreign_key="import_batch.id", primary_key=True)
    meter_id: int = Field(foreign_key="meter.id", primary_key=True, index=True)


class ImportProfile(SQLModel, table=True):
    """How one ESCO's platform writes its exports: extra header aliases, timestamp meaning, zone, units.
    Saved per ESCO so its next upload needs no questions."""

    __tablename__ = "import_profile"
    __table_args__ = (UniqueConstraint("esco_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    esco_id: int | None = Field(default=None, foreign_key="esco.id")
    name: str = Field(default="default", max_length=60)
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WeatherStation(SQLModel, table=True):
    __tablename__ = "weather_station"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)  # e.g. the WMO index 58354 (Wuxi)
    name: str = Field(default="", max_length=100)


class WeatherObservation(SQLModel, table=True):
    """Mean air temperature (°C) over [period_start, period_end)."""

    __tablename__ = "weather_observation"
    __table_args__ = (UniqueConstraint("station_id", "period_start", "period_end"),)
    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="weather_station.id")
    period_start: datetime = Field(sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    temperature_c: float
    batch_id: int | None = Field(default=None, foreign_key="import_batch.id", index=True)


class WeatherRevision(SQLModel, table=True):
    """A weather observation replaced by a correction: the old temperature is kept, and reverting the
    correcting batch puts it back (never deletes the original observation)."""

    __tablename__ = "weather_revision"
    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="weather_station.id", index=True)
    period_start: datetime = Field(sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    old_value: float
    old_batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    new_value: float | None
    new_batch_id: int | None = Field(default=None, foreign_key="import_batch.id", index=True)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
