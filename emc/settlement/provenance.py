"""What an approved settlement used, recorded at approval, and what happens when that data changes later.

At approval the settlement's sources go into ``settlement_source``: the import batches its readings and
bills came from (with the span and row count used), the weather batches of its baselines' station, the
baseline versions, the approved non-routine adjustments acting in the period, the tariff versions and the
contract versions. Reverting or replacing any of that data is refused without a reason; with one, each
settlement that used it is flagged and its difference drafted as an adjusting settlement that references it
(IPMVP: reported savings are revised only by a documented adjustment, never by editing what was approved).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select, true
from sqlmodel import Session

from emc.audit import service as audit
from emc.baselines.models import AdjustmentStatus, Baseline, NonRoutineAdjustment
from emc.config import get_settings
from emc.contracts.models import ContractMeter, ContractVersion
from emc.metering.models import Reading, WeatherObservation, WeatherStation
from emc.org.models import User
from emc.settlement.models import Settlement, SettlementSource, SettlementStatus

APPROVED = (SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid)
LOOKBACK = timedelta(days=45)  # a monthly bill that began before the period still belongs to it
DATA_KINDS = ("reading_batch", "weather_batch")


def _bounds(row: Settlement) -> tuple[datetime, datetime]:
    tz = ZoneInfo(get_settings().timezone)
    return datetime.combine(row.period_start, time(), tz), datetime.combine(row.period_end, time(), tz)


def record(session: Session, row: Settlement) -> list[SettlementSource]:
    """Write the settlement's sources (called once, at approval)."""
    lo, hi = _bounds(row)
    sources: list[SettlementSource] = []
    meters = select(ContractMeter.meter_id).where(ContractMeter.contract_id == row.contract_id)
    for batch, n, first, last in session.execute(
            select(Reading.batch_id, func.count(), func.min(Reading.period_start), func.max(Reading.period_end))
            .where(Reading.meter_id.in_(meters), Reading.period_start >= lo - LOOKBACK, Reading.period_start < hi,
                   Reading.period_end > lo).group_by(Reading.batch_id)).all():
        if batch is not None:
            sources.append(SettlementSource(settlement_id=row.id, kind="reading_batch", ref=str(batch), rows=n,
                                            first_start=first, last_end=last))
    used_baselines = _baselines(session, row)
    for b in used_baselines:
        sources.append(SettlementSource(settlement_id=row.id, kind="baseline", ref=str(b.id),
                                        detail={"utility": b.utility, "version": b.version,
                                                "meter_group": b.meter_group}))
    stations = sorted({b.weather_station for b in used_baselines if b.weather_station})
    if stations:
        for batch, n, first, last in session.execute(
                select(WeatherObservation.batch_id, func.count(), func.min(WeatherObservation.period_start),
                       func.max(WeatherObservation.period_end))
                .join(WeatherStation, WeatherStation.id == WeatherObservation.station_id)
                .where(WeatherStation.code.in_(stations), WeatherObservation.period_start >= lo,
                       WeatherObservation.period_start < hi).group_by(WeatherObservation.batch_id)).all():
            if batch is not None:
                sources.append(SettlementSource(settlement_id=row.id, kind="weather_batch", ref=str(batch), rows=n,
                                                first_start=first, last_end=last, detail={"stations": stations}))
    for a in session.execute(select(NonRoutineAdjustment).where(
            NonRoutineAdjustment.contract_id == row.contract_id,
            NonRoutineAdjustment.status == AdjustmentStatus.approved,
            NonRoutineAdjustment.start < row.period_end)).scalars():
        if a.end is None or a.end > row.period_start:
            sources.append(SettlementSource(settlement_id=row.id, kind="adjustment", ref=str(a.id),
                                            detail={"utility": a.utility, "kind": a.kind}))
    for key in sorted(_tariff_keys(session, row)):
        sources.append(SettlementSource(settlement_id=row.id, kind="tariff", ref=key[:120]))
    labels = {str(v) for v in row.inputs.get("contract_versions", [])}
    for v in session.execute(select(ContractVersion).where(ContractVersion.contract_id == row.contract_id)).scalars():
        if f"v{v.version}" in labels:
            sources.append(SettlementSource(settlement_id=row.id, kind="contract_version", ref=str(v.id),
                                            detail={"version": v.version, "spec_hash": v.spec_hash}))
    session.add_all(sources)
    session.flush()
    return sources


def record_missing(session: Session, limit: int = 500) -> int:
    """Record the sources of approved settlements that have none (approved before sources were recorded), as
    the data stands now — the nightly job calls it, so an upgraded installation protects those too."""
    recorded = select(SettlementSource.settlement_id)
    rows = session.execute(select(Settlement).where(Settlement.status.in_(APPROVED), Settlement.id.not_in(recorded))
                           .order_by(Settlement.id).limit(limit)).scalars().all()
    for row in rows:
        record(session, row)
    return len(rows)


def _baselines(session: Session, row: Settlement) -> list[Baseline]:
    """The baseline versions the savings came from (the settlement's inputs name them: 'baseline water v2')."""
    wanted = []
    for key, value in row.inputs.items():
        if key.startswith("savings.") and key.endswith(".source") and str(value).startswith("baseline "):
            _, utility, version = str(value).split(" ")
            wanted.append((utility, int(version.lstrip("v"))))
    if not wanted:
        return []
    found = session.execute(select(Baseline).where(Baseline.contract_id == row.contract_id)).scalars().all()
    return [b for b in found if (b.utility, b.version) in wanted]


def _tariff_keys(session: Session, row: Settlement) -> set[str]:
    from emc.settlement.models import SettlementLine

    keys = {k for k in str(row.inputs.get("tariff_versions", "") or "").split(",") if k}
    lines = session.execute(select(SettlementLine.detail).where(SettlementLine.settlement_id == row.id)).scalars()
    for detail in lines:
        if detail.get("tariff_version"):
            keys.add(str(detail["tariff_version"]))
    return keys


def using(session: Session, kind: str, refs: Iterable[str], *,
          within: ColumnElement[bool] | None = None) -> list[Settlement]:
    """Approved (issued, paid) settlements whose recorded sources include any of ``refs`` of ``kind`` (and,
    given ``within``, a scope's clause over Settlement, only those it sees)."""
    refs = sorted({str(r) for r in refs})
    if not refs:
        return []
    used = select(SettlementSource.settlement_id).where(SettlementSource.kind == kind, SettlementSource.ref.in_(refs))
    return list(session.execute(select(Settlement).where(Settlement.id.in_(used), Settlement.status.in_(APPROVED),
                                                         within if within is not None else true())
                                .order_by(Settlement.number)).scalars())


def using_span(session: Session, kind: str, refs: Iterable[str], first: datetime, last: datetime,
               meter_ids: Iterable[int] = ()) -> list[Settlement]:
    """Approved settlements that used batches ``refs`` over time overlapping [first, last) — and, for
    readings, of a contract that has one of ``meter_ids``: what a correction of those values touches."""
    refs = sorted({str(r) for r in refs})
    if not refs:
        return []
    used = select(SettlementSource.settlement_id).where(
        SettlementSource.kind == kind, SettlementSource.ref.in_(refs), SettlementSource.first_start < last,
        SettlementSource.last_end > first)
    query = select(Settlement).where(Settlement.id.in_(used), Settlement.status.in_(APPROVED))
    ids = [int(m) for m in meter_ids]
    if ids:
        query = query.where(Settlement.contract_id.in_(
            select(ContractMeter.contract_id).where(ContractMeter.meter_id.in_(ids))))
    return list(session.execute(query.order_by(Settlement.number)).scalars())


def sources_of(session: Session, row: Settlement) -> list[SettlementSource]:
    return list(session.execute(select(SettlementSource).where(SettlementSource.settlement_id == row.id)
                                .order_by(SettlementSource.kind, SettlementSource.id)).scalars())


def settle_changes(session: Session, rows: list[Settlement], *, what: str, reason: str,
                   actor: User | str) -> dict[str, str]:
    """After data behind approved settlements changed (``what``, with the user's ``reason``): flag each one and
    draft its difference as an adjusting settlement. Returns each settlement's outcome (the adjustment's
    number, or why none was drafted). The adjustment's inputs are counted as changed by ``actor``, so under
    four eyes another manager approves it."""
    from emc.settlement import corrections
    from emc.settlement.core import controls

    outcome: dict[str, str] = {}
    for row in rows:
        if row.flagged.startswith("adjusted by"):
            row.flagged = ""  # adjusted before: this is a new change, settle it again
        row.flagged = f"{what}: {reason}"[:500]
        audit.record(session, actor=actor, action="settlement.flag", object_type="settlement", object_id=row.number,
                     after={"flag": row.flagged}, reason=reason)
        savepoint = session.begin_nested()
        try:
            adjustment = corrections.adjust(session, row, actor=actor, on_data_change=True)
            savepoint.commit()
            outcome[row.number] = adjustment.number
        except controls.SettlementError as exc:  # same amounts, or the period can no longer be settled
            savepoint.rollback()
            outcome[row.number] = str(exc)
            # the same amounts: settled (nothing to adjust; the audit keeps the flag); else the period waits
            row.flagged = (f"adjusted by nothing: {what} gave the same amounts"[:500] if "same amounts" in str(exc)
                           else f"{what}: {reason}; {exc}"[:500])
    return outcome


def describe(rows: list[Settlement]) -> str:
    names = [r.number for r in rows]
    return ", ".join(names[:8]) + (f" … ({len(names)})" if len(names) > 8 else "")


def as_json(source: SettlementSource) -> dict[str, Any]:
    return {"kind": source.kind, "ref": source.ref, "rows": source.rows,
            "first_start": source.first_start.isoformat() if source.first_start else None,
            "last_end": source.last_end.isoformat() if source.last_end else None, "detail": source.detail}
