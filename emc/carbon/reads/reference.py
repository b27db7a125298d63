"""The loaded reference data read back: factor, quota, correction and target rows as the pure core's
objects, the ledger choice of every region, and the factor and reference listings for pages and `emc`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from emc.org.models import Region

from ..core.factors import Factor, FactorBook
from ..core.ledger_settings import LedgerSetting
from ..core.quotas import Correction, Quota
from ..core.targets import Target
from ..models import (
    CarbonFactor,
    CarbonLedgerSetting,
    CarbonQuota,
    CarbonQuotaCorrection,
    CarbonReference,
    CarbonTarget,
)


def factor_of(row: CarbonFactor) -> Factor:
    return Factor(id=row.factor_id, version=row.version, kind=row.kind, carrier=row.carrier, series=row.series,
                  region=row.region, data_year=row.data_year, value=row.value, unit=row.unit, status=row.status,
                  source=row.source, tag=row.tag or None, valid_from=row.valid_from, valid_to=row.valid_to,
                  heating_value=row.heating_value, note=row.note)


def factor_book(session: Session) -> FactorBook:
    """Every loaded factor version."""
    return FactorBook(factor_of(r) for r in session.execute(select(CarbonFactor)).scalars())


def quota_of(row: CarbonQuota) -> Quota:
    return Quota(id=row.quota_id, version=row.version, region=row.region, category=row.category,
                 indicator=row.indicator, constraint=row.constraint, baseline=row.baseline, guide=row.guide,
                 year_from=row.year_from, year_to=row.year_to, tiers=tuple(Decimal(t) for t in row.tiers),
                 level=row.level, source=row.source, illustrative=row.illustrative)


def correction_of(row: CarbonQuotaCorrection, code: str) -> Correction:
    return Correction(institution=code, quota=row.quota_id, factor=row.factor, constraint=row.constraint,
                      baseline=row.baseline, guide=row.guide, reason=row.reason)


def target_of(row: CarbonTarget) -> Target:
    return Target(id=row.target_id, region=row.region, indicator=row.indicator, year=row.year,
                  base_year=row.base_year, cut=row.cut, source=row.source, tag=row.tag or None)


def ledger_settings(session: Session) -> dict[str, LedgerSetting]:
    """Region code → the ledger choice made there."""
    rows = session.execute(select(CarbonLedgerSetting, Region.code).join(
        Region, Region.id == CarbonLedgerSetting.region_id)).all()
    return {code: LedgerSetting(region=code, co2_series=s.co2_series, co2_region=s.co2_region,
                                electricity_coal_series=s.electricity_coal_series, gas_coal_series=s.gas_coal_series,
                                source=s.source) for s, code in rows}


# -- reference data -----------------------------------------------------------------------------------------
def factors(session: Session) -> list[dict[str, Any]]:
    """Every factor version, for the admin page and `emc factors list`."""
    rows = session.execute(select(CarbonFactor).order_by(CarbonFactor.kind, CarbonFactor.carrier,
                                                         CarbonFactor.series, CarbonFactor.region,
                                                         CarbonFactor.data_year, CarbonFactor.version)).scalars()
    return [{"ref": f"{r.factor_id}@v{r.version}", "kind": r.kind, "carrier": r.carrier, "series": r.series,
             "region": r.region, "data_year": r.data_year, "value": str(r.value), "unit": r.unit, "status": r.status,
             "tag": r.tag, "source": r.source, "note": r.note, "loaded_at": r.loaded_at.isoformat()} for r in rows]


def references(session: Session, year: int | None = None) -> list[dict[str, Any]]:
    query = select(CarbonReference).order_by(CarbonReference.year, CarbonReference.indicator)
    if year is not None:
        query = query.where(CarbonReference.year <= year)
    return [{"id": r.reference_id, "region": r.region, "indicator": r.indicator, "year": r.year,
             "value": str(r.value), "source": r.source} for r in session.execute(query).scalars()]
