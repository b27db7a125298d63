"""Reconcile accepted rows with what is stored: new rows are written, the same values are skipped, conflicting ones
are kept (only-new) or corrected with their old value kept (replace); values approved settlements used are named."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select, text, update
from sqlmodel import Session

from emc.dbtypes import from_epoch_us, utcnow
from emc.metering import store
from emc.metering.accepted import Accepted
from emc.metering.approved_use import approved_use
from emc.metering.checks import MeterInfo
from emc.metering.findings import Finding, Findings
from emc.metering.models import ImportBatch, Reading, ReadingRevision, WeatherObservation, WeatherRevision
from emc.metering.weather import existing_weather, insert_weather

LOOKBACK_US = 45 * 86_400 * 1_000_000
SAME = 1e-9  # relative tolerance for "the same value" when a stored reading is met again


@dataclass
class Tally:
    """What happened to the accepted rows, counted across chunks."""

    new: int = 0
    same: int = 0
    conflict: int = 0
    replaced: int = 0
    overlap_meters: set[int] = field(default_factory=set)
    affected: dict[int, Any] = field(default_factory=dict)  # approved settlements whose data a correction changes
    touched: set[int] = field(default_factory=set)  # meters whose readings were written: their months are recomputed
    first_us: int | None = None  # the first and last start of the readings written (µs)
    last_us: int | None = None

    def touch(self, meter_ids: np.ndarray, starts: np.ndarray) -> None:
        if not len(meter_ids):
            return
        self.touched.update(int(m) for m in np.unique(meter_ids))
        lo, hi = int(starts.min()), int(starts.max())
        self.first_us = lo if self.first_us is None else min(self.first_us, lo)
        self.last_us = hi if self.last_us is None else max(self.last_us, hi)



def reconcile(session: Session, batch: ImportBatch, rows: Accepted, *, mode: str, reason: str, findings: Findings,
              written: Tally, writing: bool, weather: bool, from_register: bool | None,
              registry: dict[str, Any], cost: np.ndarray | None = None) -> None:
    """Compare accepted rows with what is stored; write the new ones (and corrections in replace mode)."""
    if not len(rows):
        return
    if weather:
        ex = existing_weather(session, rows)
    else:
        # from 45 days earlier: a stored monthly bill that began before this chunk still overlaps it
        ex = store.existing(session, rows.meter_id, int(rows.start.min()) - LOOKBACK_US, int(rows.start.max()))
    is_new = np.ones(len(rows), dtype=bool)
    if len(ex):
        incoming = pd.DataFrame({"meter_id": rows.meter_id, "start": rows.start, "end": rows.end,
                                 "pos": np.arange(len(rows))})
        matched = incoming.merge(ex, on=["meter_id", "start", "end"], how="inner")
        if len(matched):
            _compare(session, batch, rows, matched, is_new, mode=mode, reason=reason, findings=findings,
                     written=written, writing=writing, weather=weather, registry=registry)
        if not weather:
            _overlaps(ex, rows, registry, findings, written)
    if not writing:
        written.new += int(is_new.sum())
        return
    fresh = Accepted(*(getattr(rows, f)[is_new] for f in Accepted.__dataclass_fields__))
    if weather:
        insert_weather(session, batch, fresh)
    else:
        if from_register is not None:  # the value column says what it holds
            flags = np.full(len(fresh), from_register)
        else:  # the meter's register type decides
            cumulative = np.array([info.id for info in registry.values() if info.register_type == "cumulative"])
            flags = np.isin(fresh.meter_id, cumulative)
        store.insert_readings(session, fresh, batch_id=batch.id, from_register=flags,
                              cost=None if cost is None else cost[is_new])
        written.touch(fresh.meter_id, fresh.start)
    written.new += len(fresh)


def _compare(session: Session, batch: ImportBatch, rows: Accepted, matched: pd.DataFrame, is_new: np.ndarray, *,
             mode: str, reason: str, findings: Findings, written: Tally, writing: bool, weather: bool,
             registry: dict[str, Any]) -> None:
    """Rows already stored for the same period: the same value is skipped; another value is a conflict, kept
    (only-new) or corrected (replace, refused for values approved settlements used unless a reason is given)."""
    pos = matched["pos"].to_numpy()
    old = matched["value"].to_numpy(dtype=float)
    new = rows.value[pos]
    same = np.abs(old - new) <= SAME * np.maximum(1.0, np.abs(old))
    is_new[pos] = False
    written.same += int(same.sum())
    conflict_pos = pos[~same]
    written.conflict += len(conflict_pos)
    codes = {info.id: code for code, info in registry.items()} if not weather else \
        {sid: code for code, sid in registry.items()}
    for k, p in enumerate(conflict_pos[:2000]):
        j = np.flatnonzero(~same)[k]
        findings.add(Finding("conflict_existing",
                             f"stored {old[j]:g} (batch {matched['batch_id'].iloc[j]}), file says {new[j]:g}"
                             + ("; replaced" if mode == "replace" else "; kept the stored value"),
                             int(rows.row[p]), None, f"{new[j]:g}", codes.get(int(rows.meter_id[p]))))
    findings.counts["conflict_existing"] += max(0, len(conflict_pos) - 2000)
    if mode != "replace" or not len(conflict_pos):
        return
    _used_by_approved(session, matched[~same], reason, findings, written, weather=weather)
    if writing and findings.errors == 0:
        _replace(session, batch, rows, matched[~same], conflict_pos, weather=weather)
        if not weather:
            written.touch(rows.meter_id[conflict_pos], rows.start[conflict_pos])
        written.replaced += len(conflict_pos)


def _used_by_approved(session: Session, changed: pd.DataFrame, reason: str, findings: Findings, written: Tally, *,
                      weather: bool) -> None:
    """Stored values a replace would correct that approved settlements used: refused without a reason (an
    error naming the settlements); with one, the settlements are flagged and their differences drafted once
    the correction is written (see provenance.settle_changes)."""
    provenance = approved_use()

    batches = {str(int(b)) for b in changed["batch_id"].dropna().unique()}
    first, last = from_epoch_us(int(changed["start"].min())), from_epoch_us(int(changed["end"].max()))
    rows = provenance.using_span(session, "weather_batch" if weather else "reading_batch", batches, first, last,
                                 () if weather else changed["meter_id"].unique())
    fresh = [r for r in rows if r.id not in written.affected]
    if not fresh:
        return
    written.affected.update({r.id: r for r in fresh})
    if len(reason.strip()) < 5:
        findings.add(Finding("used_by_approved", f"these values were used by approved settlement(s) "
                             f"{provenance.describe(fresh)}; give a reason for the correction (at least 5 characters) "
                             "and the difference is settled as an adjusting settlement", value=fresh[0].number))


def _overlaps(ex: pd.DataFrame, rows: Accepted, registry: dict[str, MeterInfo], findings: Findings,
              written: Tally) -> None:
    """Stored readings of another interval over the same time (monthly bills under hourly data) are
    both kept; say so once per meter, since summing both would count the use twice."""
    incoming = set(zip(rows.meter_id.tolist(), (rows.end - rows.start).tolist(), strict=True))
    codes = {info.id: code for code, info in registry.items()}
    ex = ex[(ex["end"] > int(rows.start.min())) & (ex["start"] < int(rows.end.max()))]
    stored = set(zip(ex["meter_id"].astype(int).tolist(), (ex["end"] - ex["start"]).astype(int).tolist(), strict=True))
    for meter_id, _ in stored - incoming:
        if meter_id in written.overlap_meters:
            continue
        written.overlap_meters.add(meter_id)
        findings.add(Finding("overlap", f"meter {codes.get(meter_id)} already has readings of another interval over "
                             "this time; both are kept, and M&V uses one interval per meter",
                             meter=codes.get(meter_id)))


def _replace(session: Session, batch: ImportBatch, rows: Accepted, matched: pd.DataFrame, positions: np.ndarray,
             *, weather: bool) -> None:
    """A correction: keep each old value in reading_revision, then overwrite (never a silent change)."""
    now = utcnow()
    if weather:  # the old temperature is kept, so reverting the correction restores it
        session.execute(WeatherRevision.__table__.insert(), [
            {"station_id": int(m["meter_id"]), "period_start": from_epoch_us(int(m["start"])),
             "period_end": from_epoch_us(int(m["end"])), "old_value": float(m["value"]),
             "old_batch_id": None if pd.isna(m["batch_id"]) else int(m["batch_id"]),
             "new_value": float(rows.value[p]), "new_batch_id": batch.id, "changed_at": now}
            for (_, m), p in zip(matched.iterrows(), positions, strict=True)])
        for (_, m), p in zip(matched.iterrows(), positions, strict=True):
            session.execute(update(WeatherObservation).where(WeatherObservation.id == int(m["id"]))
                            .values(temperature_c=float(rows.value[p]), batch_id=batch.id))
        return
    ids = [int(i) for i in matched["id"]]
    old = {i: (sv, f, e) for i, sv, f, e in session.execute(
        select(Reading.id, Reading.source_value, Reading.factor, Reading.estimated).where(Reading.id.in_(ids))).all()}
    session.execute(ReadingRevision.__table__.insert(), [
        {"meter_id": int(m["meter_id"]), "period_start": from_epoch_us(int(m["start"])),
         "period_end": from_epoch_us(int(m["end"])), "old_value": float(m["value"]),
         "old_source_value": old[int(m["id"])][0], "old_factor": old[int(m["id"])][1],
         "old_estimated": old[int(m["id"])][2],
         "old_batch_id": None if pd.isna(m["batch_id"]) else int(m["batch_id"]),
         "new_value": float(rows.value[p]), "new_batch_id": batch.id, "changed_at": now}
        for (_, m), p in zip(matched.iterrows(), positions, strict=True)])
    session.execute(text("UPDATE reading SET value = :v, source_value = :s, factor = :f, estimated = :e, "
                         "batch_id = :b WHERE id = :id"),
                    [{"v": float(rows.value[p]), "s": float(rows.source_value[p]), "f": float(rows.factor[p]),
                      "e": bool(rows.estimated[p]), "b": batch.id, "id": int(m["id"])}
                     for (_, m), p in zip(matched.iterrows(), positions, strict=True)])
