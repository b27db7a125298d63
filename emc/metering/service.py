"""Meter and weather imports: check, preview, commit exactly once, correct, revert.

One streaming pass reads the file chunk by chunk, checks it and, unless it is a dry run, writes the
new rows inside a savepoint; the first error stops the writing (checking goes on, so the user sees
every finding) and the savepoint is rolled back: all or nothing. The batch row, its findings and the
audit event are written either way. Services never commit; the caller does.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, not_, select, text, update
from sqlmodel import Session

from emc.audit import service as audit
from emc.config import get_settings
from emc.db import analyze
from emc.dbtypes import from_epoch_us, to_epoch_us, utcnow
from emc.errors import DomainError
from emc.metering import store
from emc.metering.checks import Accepted, MeterChecker, MeterInfo, _State
from emc.metering.columns import ColumnError, map_columns, time_aliases
from emc.metering.findings import Finding, Findings
from emc.metering.models import (
    BatchStatus,
    ImportBatch,
    ImportBatchMeter,
    ImportProfile,
    Meter,
    Reading,
    ReadingRevision,
    WeatherObservation,
    WeatherRevision,
    WeatherStation,
)
from emc.metering.parse import TimeParser, parse_chunk
from emc.metering.tables import TableError, TooLarge, iter_chunks, open_table
from emc.org.models import Esco, Institution, Role, User
from emc.org.scope import NotFound, Scope

MODES = ("only-new", "replace")
TEMPERATURE_RANGE_C = (-60.0, 60.0)
LOOKBACK_US = 45 * 86_400 * 1_000_000
SAME = 1e-9  # relative tolerance for "the same value" when a stored reading is met again


class ImportError_(DomainError, ValueError):  # noqa: N801  (ImportError is a builtin)
    """A request we refuse before reading the file (bad mode, no rights)."""


@dataclass
class ImportOptions:
    kind: str = "meter"  # meter | weather
    mode: str = "only-new"
    dry_run: bool = False
    sheet: str | None = None
    station: str | None = None  # weather files without a station column
    timestamp_is: str | None = None  # start | end
    timezone: str | None = None
    interval_s: int | None = None
    chunk_rows: int = 250_000
    reason: str = ""  # replace mode: why values that approved settlements used are corrected


@dataclass
class Tally:
    """What happened to the accepted rows, counted across chunks."""

    new: int = 0
    same: int = 0
    conflict: int = 0
    replaced: int = 0
    overlap_meters: set[int] = field(default_factory=set)
    affected: dict[int, Any] = field(default_factory=dict)  # approved settlements whose data a correction changes


@dataclass
class ImportReport:
    batch: ImportBatch
    findings: Findings
    already_imported: bool = False
    written: Tally = field(default_factory=Tally)

    @property
    def ok(self) -> bool:
        return self.findings.errors == 0


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def keep_upload(source: Path, digest: str, file_name: str) -> Path:
    """Keep the uploaded file (named by its hash) so a preview can be committed later and audited."""
    folder = get_settings().data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}{Path(file_name).suffix.lower()[:8]}"
    if not target.exists():
        shutil.copyfile(source, target)
    return target


def profile_settings(session: Session, esco: Esco | None) -> dict[str, Any]:
    if esco is None:
        return {}
    profile = session.execute(select(ImportProfile).where(ImportProfile.esco_id == esco.id,
                                                          ImportProfile.name == "default")).scalar_one_or_none()
    return dict(profile.settings) if profile else {}


def save_profile(session: Session, esco: Esco, settings: dict[str, Any], *, actor: User | str) -> ImportProfile:
    """Save an ESCO's mapping (extra header aliases, timestamp meaning, time zone, interval)."""
    allowed = {"aliases", "timestamp_is", "timezone", "interval_s", "sheet"}
    unknown = set(settings) - allowed
    if unknown:
        raise ImportError_(f"unknown profile keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    if settings.get("timestamp_is") not in (None, "start", "end"):
        raise ImportError_(f"timestamp_is must be 'start' or 'end', not {settings['timestamp_is']!r}")
    if settings.get("timezone"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(settings["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ImportError_(f"timezone {settings['timezone']!r} is not an IANA time zone") from exc
    if settings.get("interval_s") is not None and int(settings["interval_s"]) <= 0:
        raise ImportError_("interval_s must be a positive number of seconds")
    profile = session.execute(select(ImportProfile).where(ImportProfile.esco_id == esco.id,
                                                          ImportProfile.name == "default")).scalar_one_or_none()
    before = dict(profile.settings) if profile else None
    if profile is None:
        profile = ImportProfile(esco_id=esco.id, name="default", settings=settings)
        session.add(profile)
    else:
        profile.settings, profile.updated_at = settings, utcnow()
    audit.record(session, actor=actor, action="import_profile.save", object_type="esco", object_id=esco.code,
                 before=before, after=settings)
    return profile


def _meters(session: Session, scope: Scope) -> dict[str, MeterInfo]:
    """The meters the uploader may write: only those, so a code outside the scope reads exactly like an
    unknown one (an ESCO cannot probe which meter codes exist)."""
    return {m.code: MeterInfo(m.id, m.code, m.unit, float(m.multiplier), m.register_type, m.register_digits)
            for m in session.execute(select(Meter).where(scope.meters())).scalars()}


def _link_meters(session: Session, batch: ImportBatch, registry: dict[str, MeterInfo], codes: Any) -> None:
    """Record the meters the batch's rows name: the path its scope rule follows (emc/scope_rules.py)."""
    ids = {registry[c].id for c in codes if c in registry}
    have = set(session.execute(select(ImportBatchMeter.meter_id).where(ImportBatchMeter.batch_id == batch.id))
               .scalars())
    session.add_all(ImportBatchMeter(batch_id=batch.id, meter_id=m) for m in sorted(ids - have))


def import_file(session: Session, path: Path, *, file_name: str, actor: User | str, scope: Scope,
                esco: Esco | None = None, options: ImportOptions | None = None,
                batch: ImportBatch | None = None) -> ImportReport:
    """Check (and unless ``dry_run``, write) one file. Re-importing a committed file is a no-op."""
    opts = options or ImportOptions()
    if opts.mode not in MODES:
        raise ImportError_(f"mode must be one of {', '.join(MODES)}, not {opts.mode!r}")
    if opts.kind == "weather" and scope.role not in (Role.admin, Role.manager):
        raise ImportError_("only bureau managers and administrators import weather data")
    if batch is not None and not opts.dry_run:
        lock(session, batch)
        if batch.status != BatchStatus.previewed:
            raise ImportError_(f"batch {batch.id} is {batch.status}; only a previewed batch can be committed")
    path = Path(path)
    size = path.stat().st_size
    digest = file_hash(path)
    findings = Findings()
    sheet = opts.sheet or ""
    # the same file committed before, among the batches this uploader can see (never another ESCO's)
    done = session.execute(select(ImportBatch).where(
        ImportBatch.file_hash == digest, ImportBatch.kind == opts.kind, ImportBatch.sheet == sheet,
        ImportBatch.status == BatchStatus.committed, scope.clause_for(ImportBatch))).scalars().first()
    if done is not None and opts.mode == "only-new":  # the same file again: nothing to check or write
        return ImportReport(done, findings, already_imported=True)

    username = actor.username if isinstance(actor, User) else actor
    if batch is None:
        batch = ImportBatch(kind=opts.kind, file_name=file_name[:300], file_hash=digest, sheet=sheet, file_size=size,
                            esco_id=esco.id if esco else None, uploaded_by=username, mode=opts.mode,
                            uploaded_by_id=actor.id if isinstance(actor, User) else None,
                            status=BatchStatus.previewed)
        session.add(batch)
    batch.mode = opts.mode
    session.flush()

    limit = get_settings().upload_max_bytes
    if size > limit:
        findings.add(Finding("file_too_large", f"{size:,} bytes is over the limit of {limit:,} bytes",
                             value=str(size)))
        return _finish(session, batch, findings, {}, opts, actor, Tally())

    profile = profile_settings(session, esco)
    tz = opts.timezone or profile.get("timezone") or get_settings().timezone
    try:
        table = open_table(path, opts.sheet or profile.get("sheet"), time_aliases(profile.get("aliases")))
        registry = _stations(session) if opts.kind == "weather" else _meters(session, scope)
        cmap = map_columns(table.headers, extra_aliases=profile.get("aliases"), known_codes=set(registry),
                           units_row=table.units_row, weather=opts.kind == "weather")
    except TableError as exc:
        findings.add(Finding(_table_code(exc), str(exc)))
        return _finish(session, batch, findings, {}, opts, actor, Tally())
    except ColumnError as exc:
        findings.add(Finding("missing_column", str(exc), row=table.header_line,
                             value=" | ".join(table.headers)[:300]))
        return _finish(session, batch, findings, {"encoding": table.encoding}, opts, actor, Tally())
    batch.encoding, batch.layout = table.encoding, cmap.layout

    if opts.kind == "weather":
        checker = _WeatherChecker(session, registry, opts, findings, scope)
    else:
        checker = MeterChecker(registry, now_us=to_epoch_us(utcnow()), value_kind=cmap.value_kind,
                               timestamp_is=opts.timestamp_is or profile.get("timestamp_is", "start"),
                               interval_s=opts.interval_s or profile.get("interval_s"), findings=findings,
                               last_register=lambda m, t: store.last_register(session, m.id, t), tz=tz)
    times = TimeParser(tz)
    written = Tally()
    savepoint = session.begin_nested()
    bad_rows: list[tuple[int, str]] = []
    rows_total = 0
    try:
        for first_line, frame in iter_chunks(table, opts.chunk_rows, bad_rows):
            rows_total += len(frame)
            parsed = parse_chunk(frame, first_line, cmap, times, default_code=opts.station,
                                 weather=opts.kind == "weather")
            accepted = checker.feed(parsed)
            if opts.kind == "weather":
                accepted = checker.range_check(accepted)
            writing = not opts.dry_run and findings.errors == 0
            _reconcile(session, batch, accepted, opts, findings, written, writing, weather=opts.kind == "weather",
                       from_register=(cmap.value_kind == "register") if cmap.value_kind else None, registry=registry,
                       cost=_costs(parsed, accepted))
    except TableError as exc:
        findings.add(Finding(_table_code(exc), str(exc)))
    for line, message in bad_rows:
        findings.add(Finding("bad_row", message, row=line))
    checker.finish()
    if rows_total == 0:
        findings.add(Finding("no_rows", "no data rows below the header", row=table.header_line))
    if opts.dry_run or findings.errors:
        savepoint.rollback()
        if opts.kind == "weather":
            checker.forget_created()
    else:
        savepoint.commit()
        # a large load changes the tables' shape: fresh statistics in the same transaction (autovacuum may be off)
        analyze(session, ["weather_observation"] if opts.kind == "weather" else ["reading", "reading_revision"],
                changed=written.new + written.replaced)
        if written.affected:
            from emc.settlement import provenance

            drafted = provenance.settle_changes(session, list(written.affected.values()),
                                                what=f"import {batch.id} corrected data it used", reason=opts.reason,
                                                actor=actor)
            findings.add(Finding("settlements_adjusted", "; ".join(f"{k}: {v}" for k, v in drafted.items())[:1000]))
    if opts.kind != "weather":
        _link_meters(session, batch, registry, checker.state.keys())
    summary = {"encoding": table.encoding, "layout": cmap.layout, "columns": cmap.columns,
               "wide_columns": cmap.wide, "header_line": table.header_line, "rows": rows_total,
               "timezone": tz, "meters": checker.summary(tz), "time_format": times.format,
               "options": {"station": opts.station, "timestamp_is": opts.timestamp_is, "interval_s": opts.interval_s,
                           "timezone": opts.timezone, "reason": opts.reason}}
    return _finish(session, batch, findings, summary, opts, actor, written)


def lock(session: Session, batch: ImportBatch) -> None:
    """Take the batch's row lock, then read its state again: two commits (or reverts) of one batch at the
    same moment run one after the other, and the second sees what the first did. A no-op update is the
    lock on both databases (on SQLite it takes the single writer's lock before the state is read)."""
    session.execute(update(ImportBatch).where(ImportBatch.id == batch.id).values(status=ImportBatch.status)
                    .execution_options(synchronize_session=False))
    session.refresh(batch)


def _table_code(exc: TableError) -> str:
    return "file_too_large" if isinstance(exc, TooLarge) else "unreadable"


def _costs(parsed: Any, accepted: Accepted) -> np.ndarray | None:
    """Each accepted row's bill amount, found by its file line (checks keep a row's line number)."""
    if parsed.cost is None or not len(accepted):
        return None
    return parsed.cost[np.searchsorted(parsed.row, accepted.row)]


def _reconcile(session: Session, batch: ImportBatch, rows: Accepted, opts: ImportOptions, findings: Findings,
               written: Tally, writing: bool, *, weather: bool, from_register: bool | None,
               registry: dict[str, Any], cost: np.ndarray | None = None) -> None:
    """Compare accepted rows with what is stored; write the new ones (and corrections in replace mode)."""
    if not len(rows):
        return
    if weather:
        ex = _existing_weather(session, rows)
    else:
        # from 45 days earlier: a stored monthly bill that began before this chunk still overlaps it
        ex = store.existing(session, rows.meter_id, int(rows.start.min()) - LOOKBACK_US, int(rows.start.max()))
    is_new = np.ones(len(rows), dtype=bool)
    if len(ex):
        incoming = pd.DataFrame({"meter_id": rows.meter_id, "start": rows.start, "end": rows.end,
                                 "pos": np.arange(len(rows))})
        matched = incoming.merge(ex, on=["meter_id", "start", "end"], how="inner")
        if len(matched):
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
                                     + ("; replaced" if opts.mode == "replace" else "; kept the stored value"),
                                     int(rows.row[p]), None, f"{new[j]:g}", codes.get(int(rows.meter_id[p]))))
            findings.counts["conflict_existing"] += max(0, len(conflict_pos) - 2000)
            if opts.mode == "replace" and len(conflict_pos):
                _used_by_approved(session, matched[~same], opts, findings, written, weather=weather)
            if writing and findings.errors == 0 and opts.mode == "replace" and len(conflict_pos):
                _replace(session, batch, rows, matched[~same], conflict_pos, weather=weather)
                written.replaced += len(conflict_pos)
        if not weather:
            _overlaps(ex, rows, registry, findings, written)
    if not writing:
        written.new += int(is_new.sum())
        return
    fresh = Accepted(*(getattr(rows, f)[is_new] for f in Accepted.__dataclass_fields__))
    if weather:
        _insert_weather(session, batch, fresh)
    else:
        if from_register is not None:  # the value column says what it holds
            flags = np.full(len(fresh), from_register)
        else:  # the meter's register type decides
            cumulative = np.array([info.id for info in registry.values() if info.register_type == "cumulative"])
            flags = np.isin(fresh.meter_id, cumulative)
        store.insert_readings(session, fresh, batch_id=batch.id, from_register=flags,
                              cost=None if cost is None else cost[is_new])
    written.new += len(fresh)


def _used_by_approved(session: Session, changed: pd.DataFrame, opts: ImportOptions, findings: Findings,
                      written: Tally, *, weather: bool) -> None:
    """Stored values a replace would correct that approved settlements used: refused without a reason (an
    error naming the settlements); with one, the settlements are flagged and their differences drafted once
    the correction is written (see provenance.settle_changes)."""
    from emc.settlement import provenance

    batches = {str(int(b)) for b in changed["batch_id"].dropna().unique()}
    first, last = from_epoch_us(int(changed["start"].min())), from_epoch_us(int(changed["end"].max()))
    rows = provenance.using_span(session, "weather_batch" if weather else "reading_batch", batches, first, last,
                                 () if weather else changed["meter_id"].unique())
    fresh = [r for r in rows if r.id not in written.affected]
    if not fresh:
        return
    written.affected.update({r.id: r for r in fresh})
    if len(opts.reason.strip()) < 5:
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
                             "this time; both are kept, and M&V uses one interval per meter", meter=codes.get(meter_id)))


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


def _finish(session: Session, batch: ImportBatch, findings: Findings, summary: dict[str, Any], opts: ImportOptions,
            actor: User | str, written: Tally) -> ImportReport:
    batch.errors, batch.warnings = findings.errors, findings.warnings
    batch.rows_total = int(summary.get("rows", 0))
    batch.rows_new, batch.rows_same, batch.rows_conflict = written.new, written.same, written.conflict
    batch.summary = {**summary, "counts": {k: n for k, n in sorted(findings.counts.items()) if n}, "truncated": findings.truncated,
                     "replaced": written.replaced}
    batch.findings = [f.as_dict() for f in findings.kept]
    if opts.dry_run:
        batch.status = BatchStatus.previewed
    elif findings.errors:
        batch.status = BatchStatus.rejected
    else:
        batch.status, batch.committed_at = BatchStatus.committed, utcnow()
    action = {"previewed": "import.preview", "rejected": "import.reject", "committed": "import.commit"}[batch.status]
    audit.record(session, actor=actor, action=action, object_type="import_batch", object_id=batch.id,
                 after={"file": batch.file_name, "hash": batch.file_hash[:16], "mode": batch.mode,
                        "rows": batch.rows_total, "new": batch.rows_new, "same": batch.rows_same,
                        "conflict": batch.rows_conflict, "errors": batch.errors, "warnings": batch.warnings})
    session.flush()
    return ImportReport(batch, findings, written=written)


def revert_batch(session: Session, batch: ImportBatch, *, actor: User | str, reason: str) -> int:
    """Undo a committed batch: readings (or weather) it added are removed, values it corrected get their
    previous values back. Data that approved settlements used is reverted only with the reason (always
    required here): each such settlement is flagged and its difference drafted as an adjusting settlement."""
    lock(session, batch)
    if batch.status != BatchStatus.committed:
        raise ImportError_(f"batch {batch.id} is {batch.status}; only a committed batch can be reverted")
    if len(reason.strip()) < 5:
        raise ImportError_("say why the batch is reverted (at least 5 characters)")
    from emc.settlement import provenance

    users = approved_settlements_using(session, batch)
    changed = (_revert_weather if batch.kind == "weather" else _revert_readings)(session, batch)
    batch.status, batch.reverted_at = BatchStatus.reverted, utcnow()
    outcome = provenance.settle_changes(session, users, what=f"import {batch.id} reverted", reason=reason.strip(),
                                        actor=actor) if users else {}
    audit.record(session, actor=actor, action="import.revert", object_type="import_batch", object_id=batch.id,
                 before={"status": "committed"},
                 after={"status": "reverted", "rows": changed, "settlements": outcome}, reason=reason)
    return changed


def _revert_readings(session: Session, batch: ImportBatch) -> int:
    revisions = session.execute(select(ReadingRevision).where(ReadingRevision.new_batch_id == batch.id)
                                .order_by(ReadingRevision.id)).scalars().all()
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
    return int(deleted or 0) + len(revisions)


def _revert_weather(session: Session, batch: ImportBatch) -> int:
    """Observations the batch corrected get their previous temperature back; those it added are removed."""
    revisions = session.execute(select(WeatherRevision).where(WeatherRevision.new_batch_id == batch.id)
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
    from emc.settlement import provenance

    return provenance.using(session, "weather_batch" if batch.kind == "weather" else "reading_batch", [batch.id])


def batches(session: Session, scope: Scope, *, limit: int = 50, offset: int = 0) -> tuple[list[ImportBatch], int]:
    where = [scope.clause_for(ImportBatch)]
    total = session.execute(select(func.count(ImportBatch.id)).where(*where)).scalar_one()
    rows = session.execute(select(ImportBatch).where(*where).order_by(ImportBatch.id.desc())
                           .offset(offset).limit(limit)).scalars().all()
    return list(rows), total


def get_batch(session: Session, scope: Scope, batch_id: int) -> ImportBatch:
    return scope.find(session, ImportBatch, ImportBatch.id == batch_id)


# -- weather -----------------------------------------------------------------------------------------
def _stations(session: Session) -> dict[str, int]:
    return {code: sid for sid, code in session.execute(select(WeatherStation.id, WeatherStation.code)).all()}


class _WeatherChecker(MeterChecker):
    """Weather rows reuse the meter checks for periods, duplicates and gaps; stations are created on
    first sight (a warning), temperatures outside what any station records are errors."""

    def __init__(self, session: Session, stations: dict[str, int], opts: ImportOptions, findings: Findings,
                 scope: Scope) -> None:
        self.session, self.stations = session, stations
        self.default_station = opts.station
        # a region's manager writes weather only for stations no institution outside the region uses: the
        # observations feed every baseline on that station (emc/scope_rules.py scopes the batches the same way)
        self.foreign: set[str] = set() if scope.is_unrestricted else set(session.execute(
            select(Institution.weather_station).where(not_(scope.institutions()))).scalars())
        self.created: list[str] = []
        infos = {code: MeterInfo(sid, code, "C", allowed=code not in self.foreign) for code, sid in stations.items()}
        super().__init__(infos, now_us=to_epoch_us(utcnow()), value_kind="consumption",
                         interval_s=opts.interval_s, findings=findings)

    def feed(self, parsed):  # type: ignore[no-untyped-def]
        if self.default_station:  # --station: every row belongs to it, whatever the file says
            parsed.code[:] = self.default_station
        for code in {str(c) for c in parsed.code} - set(self.meters):
            station = WeatherStation(code=code[:40], name="")
            self.session.add(station)
            self.session.flush()
            self.stations[code] = station.id
            self.meters[code] = MeterInfo(station.id, code, "C", allowed=code not in self.foreign)
            self.created.append(code)
            self.findings.add(Finding("new_station", f"weather station {code} is new and was created", value=code))
        parsed.unit[:] = None
        return super().feed(parsed)

    def _refuse(self, code: str, parsed, idx) -> None:  # type: ignore[no-untyped-def]
        self._row_errors("station_not_yours", f"weather station {code} serves institutions outside your scope; an "
                         "administrator or a manager covering them imports its data", parsed, idx, code)

    def _meter(self, meter, parsed, idx, date_only):  # type: ignore[no-untyped-def]
        st = self.state.setdefault(meter.code, _State())
        start, end = self._periods(meter, st, parsed, idx, date_only)
        value, rows = parsed.value[idx], parsed.row[idx]
        keep = self._duplicates(meter, st, start, end, value, rows)
        prev_end = np.r_[st.last_end if st.last_end >= 0 else start[0], end[:-1]]
        for i in np.flatnonzero((start > prev_end) & keep)[:200]:
            self.findings.add(Finding("gap", "missing weather periods before this one", int(rows[i]), None, None,
                                      meter.code))
        st.last_end = max(st.last_end, int(end[-1]))
        st.rows += int(keep.sum())
        st.total += float(value[keep].sum())
        st.first = int(start.min()) if st.first < 0 else st.first
        n = int(keep.sum())
        return Accepted(np.full(n, meter.id, dtype=np.int64), start[keep], end[keep], value[keep], value[keep],
                        np.ones(n), np.zeros(n, dtype=bool), rows[keep])

    def range_check(self, rows: Accepted) -> Accepted:
        lo, hi = TEMPERATURE_RANGE_C
        bad = (rows.value < lo) | (rows.value > hi)
        for i in np.flatnonzero(bad)[:1000]:
            self.findings.add(Finding("temperature_out_of_range", f"{rows.value[i]:.1f} °C is outside {lo:g}..{hi:g} °C",
                                      int(rows.row[i]), None, f"{rows.value[i]:.1f}"))
        return Accepted(*(getattr(rows, f)[~bad] for f in Accepted.__dataclass_fields__))

    def forget_created(self) -> None:
        self.created.clear()


def _existing_weather(session: Session, rows: Accepted) -> pd.DataFrame:
    from emc.dbtypes import from_epoch_us

    found = session.execute(select(WeatherObservation).where(
        WeatherObservation.station_id.in_([int(s) for s in np.unique(rows.meter_id)]),
        WeatherObservation.period_start >= from_epoch_us(int(rows.start.min())),
        WeatherObservation.period_start <= from_epoch_us(int(rows.start.max())))).scalars().all()
    return pd.DataFrame([{"id": o.id, "meter_id": o.station_id, "start": to_epoch_us(o.period_start),
                          "end": to_epoch_us(o.period_end), "value": o.temperature_c, "batch_id": o.batch_id}
                         for o in found], columns=["id", "meter_id", "start", "end", "value", "batch_id"])


def _insert_weather(session: Session, batch: ImportBatch, rows: Accepted) -> None:
    from emc.dbtypes import from_epoch_us

    if len(rows):
        session.execute(WeatherObservation.__table__.insert(), [
            {"station_id": int(m), "period_start": from_epoch_us(int(a)), "period_end": from_epoch_us(int(b)),
             "temperature_c": float(v), "batch_id": batch.id}
            for m, a, b, v in zip(rows.meter_id, rows.start, rows.end, rows.value, strict=True)])

