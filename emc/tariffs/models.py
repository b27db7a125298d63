"""Tariff versions as loaded from price notices, files or the manager's form (table)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from emc.dbtypes import UTCDateTime, utcnow


class Tariff(SQLModel, table=True):
    """One version of a tariff: its canonical spec (see emc/tariffs/files.py) and where it came from.

    A version some approved settlement priced with is never changed; a new price is a new version."""

    __tablename__ = "tariff_version"
    __table_args__ = (UniqueConstraint("code", "utility", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=60, index=True)
    # the region whose price notice it is (GB/T 2260): who may change it; None: installation-wide (admin)
    region_id: int | None = Field(default=None, foreign_key="region.id", index=True)
    utility: str = Field(max_length=16)
    version: str = Field(max_length=60)
    name: str = Field(default="", max_length=200)
    kind: str = Field(max_length=16)  # flat | water | tiered | tou
    unit: str = Field(max_length=16)
    effective_from: date
    effective_to: date | None = None  # exclusive, as written; None: until the next version
    source: str = Field(max_length=300)
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    spec_hash: str = Field(max_length=64)
    source_file: str = Field(default="", max_length=300)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def key(self) -> str:
        """The id every settlement line priced with it carries (``TariffVersion.id``)."""
        return f"{self.code}/{self.utility}@{self.version}"
