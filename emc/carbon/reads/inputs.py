"""What the ledger is derived from, read with SQL aggregation: monthly meter totals, approved settlements'
verified savings, contracts' meters and carbon rights, institutions with their region paths and settings.

Months are the institution's local calendar months, as the monthly meter totals (``meter_month``, kept with the
readings by emc/metering/totals.py) bucket them. PostgreSQL converts each reading's start with the full zone
rules (``timezone(institution.timezone, period_start)``); SQLite, which has no zone database, adds the zone's
fixed offset — exact for China (no daylight saving since 1991), and documented as such for anywhere else. A
reading is booked in the month its period starts: right for interval data and calendar-month bills; a bill
spanning two months lands in its first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from emc import units
from emc.contracts.models import Contract, ContractMeter, ContractVersion
from emc.contracts.spec import CANONICAL_UNITS
from emc.metering.models import Meter, Reading
from emc.metering.models import MeterMonthTotal as T
from emc.org.models import Institution, InstitutionYear, Region
from emc.settlement.models import Settlement, SettlementStatus

from ..models import CarbonInstitutionSetting

SETTLED = (SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid)


@dataclass(frozen=True)
class MeterMonth:
    meter_id: int
    institution_id: int
    utility: str
    main: bool  # a main (billing) meter; sub-meters' use is inside a main
    month: date
    quantity: Decimal  # canonical unit (kWh, m³, GJ)
    readings: int
    estimated: int


@dataclass(frozen=True)
class InstitutionInfo:
    id: int
    code: str
    name: str
    category: str
    region_id: int
    path: str
    gas_heating_value: Decimal | None


@dataclass(frozen=True)
class ContractInfo:
    id: int
    code: str
    start: date
    carbon_rights: str
    esco_share: Decimal | None
    meters: dict[str, frozenset[int]]  # utility → the contract's meters that count for it


@dataclass(frozen=True)
class SettledSavings:
    contract_id: int
    number: str
    version: int
    start: date
    end: date  # exclusive
    utility: str
    savings: Decimal


def meter_months(session: Session, start: date, end: date) -> list[MeterMonth]:
    """Every meter's total per local month in [start, end), in the canonical unit of its utility: read from the
    monthly totals kept with the readings (emc/metering/totals.py), so a year's rebuild reads only its months."""
    rows = session.execute(
        select(col(T.meter_id), col(T.month), col(T.quantity), col(T.readings), col(T.estimated))
        .where(col(T.month) >= start, col(T.month) < end).order_by(col(T.meter_id), col(T.month))).all()
    meters = {m.id: m for m in session.execute(select(Meter.id, Meter.institution_id, Meter.utility, Meter.unit,
                                                      Meter.sub_item)).all()}
    scale: dict[tuple[str, str], Decimal] = {}
    out = []
    for meter_id, day, total, count, estimated in rows:
        m = meters[meter_id]
        key = (m.unit, m.utility)
        if key not in scale:
            scale[key] = Decimal(str(units.factor(m.unit, CANONICAL_UNITS.get(m.utility, m.unit))))
        out.append(MeterMonth(meter_id, m.institution_id, m.utility, m.sub_item == "total", day,
                              Decimal(repr(float(total))) * scale[key], int(count), int(estimated)))
    return out


def reading_years(session: Session) -> list[int]:
    """Years with readings or settled savings (the span a full rebuild covers)."""
    from emc.config import get_settings

    first, last = session.execute(select(func.min(Reading.period_start), func.max(Reading.period_start))).one()
    years: set[int] = set()
    if first is not None and last is not None:
        zone = ZoneInfo(get_settings().timezone)  # readings are UTC; years are local
        years |= set(range(first.astimezone(zone).year, last.astimezone(zone).year + 1))
    s_first, s_last = session.execute(select(func.min(Settlement.period_start), func.max(Settlement.period_end))
                                      .where(Settlement.status.in_(SETTLED))).one()
    if s_first is not None and s_last is not None:
        years |= set(range(s_first.year, (s_last - timedelta(days=1)).year + 1))
    return sorted(years)


def institutions(session: Session) -> dict[int, InstitutionInfo]:
    gas = dict(session.execute(select(CarbonInstitutionSetting.institution_id,
                                      CarbonInstitutionSetting.gas_heating_value)).all())
    rows = session.execute(select(Institution.id, Institution.code, Institution.name, Institution.category,
                                  Institution.region_id, Region.path)
                           .join(Region, Region.id == Institution.region_id)).all()
    return {r.id: InstitutionInfo(r.id, r.code, r.name, r.category, r.region_id, r.path, gas.get(r.id)) for r in rows}


def meter_institutions(session: Session) -> dict[int, int]:
    return dict(session.execute(select(Meter.id, Meter.institution_id)).all())  # type: ignore[arg-type]


def denominators(session: Session, years: list[int]) -> dict[tuple[int, int], tuple[Decimal, int]]:
    """(institution, year) → (office floor area m², energy users) from the statistics form."""
    rows = session.execute(select(InstitutionYear.institution_id, InstitutionYear.year, InstitutionYear.floor_area_m2,
                                  InstitutionYear.energy_users).where(InstitutionYear.year.in_(years))).all()
    return {(i, y): (Decimal(a), int(u)) for i, y, a, u in rows}


def contracts(session: Session) -> dict[int, ContractInfo]:
    """Every contract with its carbon-rights term and, per utility, the meters its savings are split by: its
    main meters of that utility, or all its meters of it when it has no main one (a sub-metered retrofit)."""
    by_contract: dict[int, dict[str, dict[bool, set[int]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(set)))
    for cid, mid, utility, sub_item in session.execute(
            select(ContractMeter.contract_id, Meter.id, Meter.utility, Meter.sub_item)
            .join(Meter, Meter.id == ContractMeter.meter_id)).all():
        by_contract[cid][utility][sub_item == "total"].add(mid)
    latest = (select(ContractVersion.contract_id, func.max(ContractVersion.version).label("v"))
              .group_by(ContractVersion.contract_id).subquery())
    specs = dict(session.execute(select(ContractVersion.contract_id, ContractVersion.spec).join(
        latest, (latest.c.contract_id == ContractVersion.contract_id) & (latest.c.v == ContractVersion.version))).all())
    out = {}
    for c in session.execute(select(Contract.id, Contract.code, Contract.start_date, Contract.carbon_rights)).all():
        share = (specs.get(c.id) or {}).get("contract", {}).get("carbon_rights_esco_share")
        meters = {u: frozenset(kinds[True] or kinds[False]) for u, kinds in by_contract.get(c.id, {}).items()}
        out[c.id] = ContractInfo(c.id, c.code, c.start_date, c.carbon_rights,
                                 Decimal(str(share)) if share is not None else None, meters)
    return out


def settled_savings(session: Session, start: date, end: date) -> list[SettledSavings]:
    """Verified savings (M&V, positive = saved) of every period settlement overlapping [start, end), from the
    latest approved (or issued, paid) version of each period: an adjustment carries the corrected figures."""
    rows = session.execute(select(Settlement.contract_id, Settlement.number, Settlement.version,
                                  Settlement.period_start, Settlement.period_end, Settlement.inputs)
                           .where(Settlement.kind == "period", Settlement.status.in_(SETTLED),
                                  Settlement.period_end > start, Settlement.period_start < end)
                           .order_by(Settlement.version)).all()
    latest: dict[tuple[int, date, date], Any] = {}
    for r in rows:
        latest[(r.contract_id, r.period_start, r.period_end)] = r
    out = []
    for r in latest.values():
        for key, value in sorted((r.inputs or {}).items()):
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "savings" and parts[2] == "savings":
                out.append(SettledSavings(r.contract_id, r.number, r.version, r.period_start, r.period_end, parts[1],
                                          Decimal(str(value))))
    return out
