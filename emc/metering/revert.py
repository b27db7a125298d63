"""Revert a committed import batch: rows it added are removed, values it corrected get their previous values back
(from reading_revision / weather_revision), and approved settlements that used them are flagged and settled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from emc.audit import service as audit
from emc.dbtypes import utcnow
from emc.metering import totals
from emc.metering.approved_use import approved_use
from emc.metering.errors import ImportRefused
from emc.metering.models import BatchStatus, ImportBatch, Reading, ReadingRevision, WeatherObservation, WeatherRevision
from emc.metering.service import lock
from emc.org.models import User


def revert_batch(session: Session, batch: ImportBatch, *, actor: User | str, reason: str) -> int:
    """Undo a committed batch: readings (or weather) it added are removed, values it corrected get their
    previous values back. Data that approved settlements used is reverted only with the reason (always
    required here): each such settlement is flagged and its difference drafted as an adjusting settlement."""
    lock(session, batch)
    if batch.status != BatchStatus.committed:
        raise ImportRefused(f"batch {batch.id} is {batch.status}; only a committed batch can be reverted")
    if len(reason.strip()) < 5:
        raise ImportRefused("say why the batch is reverted (at least 5 characters)")
    provenance = approved_use()

    users = approved_settlements_using(session, batch)
    changed = (_revert_weather if batch.kind == "weather" else _revert_readings)(session, batch)
    batch.status, batch.reverted_at = BatchStatus.reverted, utcnow()
    outcome = provenance.settle_changes(session, users, what=f"import {batch.id} reverted", reason=reason.strip(),
                                        actor=actor) if users else {}
    audit.record(session, actor=actor, action="import.revert", object_type="import_batch", object_id=batch.id,
                 before={"status": "committed"},
                 after={"status": "reverted", "rows": changed, "settlements": outcome}, reason=reason)
    return changed


def _own_corrections(revision: Any, batch: ImportBatch) -> list[Any]:
    """The corrections the batch's import made, not the revisions a later revert wrote in its name.

    Reverting a correction F writes a revision back to the value of the batch A that F had replaced (new batch
    A). Undoing that one when A is reverted would put F's reverted value back instead of removing A's row. The
    import writes its revisions before it commits (emc.metering.reconcile), a revert after: only those written
    up to the batch's commit are the batch's own."""
    where = [revision.new_batch_id == batch.id]
    if batch.committed_at is not None:
        where.append(revision.changed_at <= batch.committed_at)
    return where


def _revert_readings(session: Session, batch: ImportBatch) -> int:
    revisions = session.execute(select(ReadingRevision).where(*_own_corrections(ReadingRevision, batch))
                                .order_by(ReadingRevision.id)).scalars().all()
    # the readings the batch wrote (added or corrected) name every month whose totals change
    meters, first, last = totals.span_of(session, Reading.batch_id == batch.id)
    for rev in revisions:
        meters.add(rev.meter_id)
        first = rev.period_start if first is None else min(first, rev.period_start)
        last = rev.period_start if last is None else max(last, rev.period_start)
    now = utcnow()
    for rev in revisions:  # put the corrected values back, with what the file said and its factor
        values: dict[str, Any] = {"value": rev.old_value, "batch_id": rev.old_batch_id}
        if rev.old_source_value is not None:
            values["source_value"] = rev.old_source_value
        if rev.old_factor is not None:
            values["factor"] = rev.old_factor
        if rev.old_estimated is not None:
            values["estimated"] = rev.old_estimated
        session.execute(update(Reading).where(Reading.meter_id == rev.meter_id,
                                              Reading.period_start == rev.period_start,
                                              Reading.period_end == rev.period_end).values(**values))
        session.add(ReadingRevision(meter_id=rev.meter_id, period_start=rev.period_start, period_end=rev.period_end,
                                    old_value=rev.new_value or 0.0, old_batch_id=batch.id, new_value=rev.old_value,
                                    new_batch_id=rev.old_batch_id, changed_at=now))
    deleted = session.execute(Reading.__table__.delete().where(Reading.batch_id == batch.id)).rowcount
    if meters and first is not None and last is not None:
        totals.refresh(session, meters, first, last)
    return int(deleted or 0) + len(revisions)


def _revert_weather(session: Session, batch: ImportBatch) -> int:
    """Observations the batch corrected get their previous temperature back; those it added are removed."""
    revisions = session.execute(select(WeatherRevision).where(*_own_corrections(WeatherRevision, batch))
                                .order_by(WeatherRevision.id)).scalars().all()
    now = utcnow()
    for rev in revisions:
        session.execute(update(WeatherObservation).where(
            WeatherObservation.station_id == rev.station_id, WeatherObservation.period_start == rev.period_start,
            WeatherObservation.period_end == rev.period_end).values(temperature_c=rev.old_value,
                                                                    batch_id=rev.old_batch_id))
        session.add(WeatherRevision(station_id=rev.station_id, period_start=rev.period_start,
                                    period_end=rev.period_end, old_value=rev.new_value or 0.0, old_batch_id=batch.id,
                                    new_value=rev.old_value, new_batch_id=rev.old_batch_id, changed_at=now))
    deleted = session.execute(WeatherObservation.__table__.delete().where(
        WeatherObservation.batch_id == batch.id)).rowcount
    return int(deleted or 0) + len(revisions)


def approved_settlements_using(session: Session, batch: ImportBatch) -> list[Any]:
    """Approved (issued, paid) settlements whose recorded sources include this batch (settlement_source,
    written at approval)."""
    provenance = approved_use()

    return provenance.using(session, "weather_batch" if batch.kind == "weather" else "reading_batch", [batch.id])
