"""Carbon tables: factors, the ledger's settings, the ledger itself, targets, quotas and warnings.

The ledger (:class:`CarbonEntry`) is derived: regenerated from monthly reading totals and approved settlements,
never hand-edited, and append-only — a changed figure (a final factor, a corrected reading, a new series choice)
is a new revision of the same key and the old one stays, marked not current.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from emc.dbtypes import ExactDecimal, FixedPoint, UTCDateTime, utcnow

ZERO = Decimal(0)


class CarbonFactor(SQLModel, table=True):
    """One version of a standard-coal or CO₂ factor (see :class:`emc.carbon.core.factors.Factor`)."""

    __tablename__ = "carbon_factor"
    __table_args__ = (UniqueConstraint("factor_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    factor_id: str = Field(max_length=120, index=True)
    version: int = 1
    kind: str = Field(max_length=8)
    carrier: str = Field(max_length=16)
    series: str = Field(max_length=60)
    region: str = Field(max_length=40)
    data_year: int | None = None
    value: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    unit: str = Field(max_length=20)
    status: str = Field(max_length=12)
    source: str = Field(max_length=500)
    tag: str = Field(default="", max_length=1)
    valid_from: int | None = None
    valid_to: int | None = None
    heating_value: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    note: str = Field(default="", max_length=500)
    source_file: str = Field(default="", max_length=300)
    loaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    loaded_by: str = Field(default="", max_length=64)


class CarbonLedgerSetting(SQLModel, table=True):
    """A region's choice of CO₂ series and standard-coal series; institutions follow their nearest region's."""

    __tablename__ = "carbon_ledger_setting"
    id: int | None = Field(default=None, primary_key=True)
    region_id: int = Field(foreign_key="region.id", unique=True)
    co2_series: str = Field(max_length=60)
    co2_region: str = Field(max_length=40)
    electricity_coal_series: str = Field(default="equivalent", max_length=60)
    gas_coal_series: str = Field(default="gas_field", max_length=60)
    source: str = Field(max_length=500)
    source_file: str = Field(default="", max_length=300)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarbonInstitutionSetting(SQLModel, table=True):
    """Per-institution figures the ledger needs: the gas supplier's net heating value (kJ/m³)."""

    __tablename__ = "carbon_institution_setting"
    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", unique=True)
    gas_heating_value: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    source: str = Field(max_length=500)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarbonEntry(SQLModel, table=True):
    """One institution-month-utility booking: consumption, PV generation (avoided) or one contract's savings
    (avoided). ``key`` names what is booked; each rebuild that changes its figures adds ``revision`` + 1 and
    marks the previous one not ``current``."""

    __tablename__ = "carbon_entry"
    # A covering index: every roll-up (current entries of some institutions over a span, grouped by institution
    # or month) is answered from the index alone. Institution before month, so that whatever join the planner
    # picks (a hash join, or a loop over institutions as PostgreSQL's generic plans for prepared statements do)
    # each institution's span is one short range.
    # ix_carbon_entry_months: the years with entries, one index probe per year (emc.carbon.ledger_years)
    __table_args__ = (UniqueConstraint("key", "revision"), Index("ix_carbon_entry_months", "current", "month"),
                      Index("ix_carbon_entry_rollup", "current", "institution_id", "month", "kind", "utility",
                            "scope", "in_energy", "series", "contract_id", "quantity", "kgce", "kgco2", "esco_kgce",
                            "esco_kgco2"))
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"),
                                                          primary_key=True))
    key: str = Field(max_length=80)
    revision: int = 1
    current: bool = True
    change: str = Field(default="new", max_length=12)  # new | restated | recomputed | removed
    institution_id: int = Field(foreign_key="institution.id", index=True)
    month: date
    utility: str = Field(max_length=16)
    kind: str = Field(max_length=12)  # consumption | generation | savings
    contract_id: int | None = Field(default=None, foreign_key="contract.id", index=True)
    carrier: str = Field(max_length=16)
    quantity: Decimal = Field(sa_column=Column(FixedPoint(20, 3), nullable=False))
    unit: str = Field(max_length=8)
    kgce: Decimal = Field(sa_column=Column(FixedPoint(20, 3), nullable=False))
    kgco2: Decimal = Field(sa_column=Column(FixedPoint(20, 3), nullable=False))
    scope: int = 0  # 1 direct (gas, fuels), 2 purchased (electricity, heat), 0 none (water)
    in_energy: bool = False  # counts in comprehensive energy
    owner: str = Field(default="institution", max_length=12)  # carbon rights of savings
    esco_kgce: Decimal = Field(default=ZERO, sa_column=Column(FixedPoint(20, 3), nullable=False))
    esco_kgco2: Decimal = Field(default=ZERO, sa_column=Column(FixedPoint(20, 3), nullable=False))
    coal_factor: str = Field(default="", max_length=200)
    co2_factor: str = Field(default="", max_length=200)
    provisional: bool = False
    series: str = Field(default="", max_length=100)
    source: str = Field(default="", max_length=500)
    notes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=64)


class CarbonTarget(SQLModel, table=True):
    __tablename__ = "carbon_target"
    id: int | None = Field(default=None, primary_key=True)
    target_id: str = Field(max_length=120, unique=True)
    region: str = Field(max_length=12, index=True)  # GB/T 2260 code, or "cn"
    indicator: str = Field(max_length=24)
    year: int
    base_year: int
    cut: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    source: str = Field(max_length=500)
    tag: str = Field(default="", max_length=1)
    source_file: str = Field(default="", max_length=300)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarbonReference(SQLModel, table=True):
    """A published actual to compare with (national averages)."""

    __tablename__ = "carbon_reference"
    id: int | None = Field(default=None, primary_key=True)
    reference_id: str = Field(max_length=120, unique=True)
    region: str = Field(max_length=12)
    indicator: str = Field(max_length=24)
    year: int
    value: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    source: str = Field(max_length=500)
    tag: str = Field(default="", max_length=1)
    source_file: str = Field(default="", max_length=300)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarbonQuota(SQLModel, table=True):
    __tablename__ = "carbon_quota"
    __table_args__ = (UniqueConstraint("quota_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    quota_id: str = Field(max_length=120, index=True)
    version: int = 1
    region: str = Field(max_length=12)
    category: str = Field(max_length=20)
    indicator: str = Field(max_length=24)
    constraint: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))  # 约束值
    baseline: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))  # 基准值
    guide: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))  # 引导值
    year_from: int | None = None
    year_to: int | None = None
    tiers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    level: str = Field(default="constraint", max_length=12)
    source: str = Field(max_length=500)
    illustrative: bool = False
    source_file: str = Field(default="", max_length=300)
    loaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarbonQuotaCorrection(SQLModel, table=True):
    __tablename__ = "carbon_quota_correction"
    __table_args__ = (UniqueConstraint("institution_id", "quota_id"),)
    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    quota_id: str = Field(max_length=120)
    factor: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    constraint: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    baseline: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    guide: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    reason: str = Field(max_length=500)
    source_file: str = Field(default="", max_length=300)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarbonWarning(SQLModel, table=True):
    """An over-quota warning (超定额预警): one per institution, year, quota, level and tier — ever."""

    __tablename__ = "carbon_warning"
    __table_args__ = (UniqueConstraint("institution_id", "year", "quota_id", "level", "tier_bp"),)
    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    year: int = Field(index=True)
    quota_id: str = Field(max_length=120)
    quota_version: int = 1
    indicator: str = Field(max_length=24)
    level: str = Field(max_length=12)
    tier_bp: int  # the tier in basis points: 8000 = 80 %
    through: date  # the last month of data it was raised on
    ratio: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    year_to_date: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    allowed_to_date: Decimal = Field(sa_column=Column(ExactDecimal(), nullable=False))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str = Field(default="", max_length=64)


class CarbonView(SQLModel, table=True):
    """A prepared set of carbon figures — a dashboard's roll-up, a district's institution table, a leaderboard —
    stored under the stamp of everything it was computed from (:mod:`emc.carbon.prepared`). Derived and
    disposable: a row whose stamp is no longer current is computed again; deleting every row loses nothing."""

    __tablename__ = "carbon_view"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)  # sha-256 of (view, scope key, arguments)
    view: str = Field(max_length=32)
    args: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # to compute it again (the refresh job)
    fingerprint: str = Field(max_length=64)
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    payload: Any = Field(sa_column=Column(JSON, nullable=False))
