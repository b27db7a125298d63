"""Meters and readings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from emc.dbtypes import ExactDecimal, UTCDateTime, utcnow


class Utility(StrEnum):
    electricity = "electricity"
    water = "water"
    gas = "gas"
    heat = "heat"
    pv = "pv"  # on-site PV generation: avoided grid electricity


class RegisterType(StrEnum):
    interval = "interval"  # each row is the consumption of its period
    cumulative = "cumulative"  # each row is a register reading; consumption is the difference × multiplier


class SubItem(StrEnum):
    """分项计量 sub-items (electricity after JGJ/T 154: lighting/sockets, HVAC, power, special; water by
    use). ``total`` marks a main (billing) meter; every other value is a sub-meter whose use is already
    inside a main meter, so totals never add sub-meters to mains."""

    total = "total"
    lighting = "lighting"
    hvac = "hvac"
    power = "power"
    special = "special"
    hot_water = "hot_water"
    domestic = "domestic"  # 生活用水
    canteen = "canteen"  # 食堂
    dormitory = "dormitory"  # 宿舍
    landscape = "landscape"  # 绿化
    other = "other"


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
    money never is. The source value, unit and conversion factor are kept for audit.
    """

    __table_args__ = (UniqueConstraint("meter_id", "period_start", "period_end"),)
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(
        Integer(), "sqlite"), primary_key=True))
    meter_id: int = Field(foreign_key="meter.id")
    period_start: datetime = Field(sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    value: float
    source_value: float | None = None
    source_unit: str = Field(default="", max_length=16)
    factor: float = 1.0
    estimated: bool = False
    batch_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
