"""Meter and weather imports: check, preview, commit exactly once (correcting and reverting live beside it).

One streaming pass reads the file chunk by chunk, checks it and, unless it is a dry run, writes the
new rows inside a savepoint; the first error stops the writing (checking goes on, so the user sees
every finding) and the savepoint is rolled back: all or nothing. The batch row, its findings and the
audit event are written either way. Services never commit; the caller does. Comparing with stored rows is
emc/metering/reconcile.py, weather's own checks emc/metering/weather.py, reverting emc/metering/revert.py.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlmodel import Session

from emc.audit import service as audit
from emc.config import get_settings
from emc.db import analyze
from emc.dbtypes import from_epoch_us, to_epoch_us, utcnow
from emc.metering import store, totals
from emc.metering.accepted import Accepted
from emc.metering.approved_use import approved_use
from emc.metering.checks import MeterChecker, MeterInfo
from emc.metering.errors import ImportRefused
from emc.metering.findings import Finding, Findings
from emc.metering.headers import ColumnError, ColumnMap, map_columns, time_aliases
from emc.metering.models import BatchStatus, ImportBatch, ImportBatchMeter, Meter
from emc.metering.parse import TimeParser, parse_chunk
from emc.metering.profiles import profile_settings
from emc.metering.reconcile import Tally, reconcile
from emc.metering.tables import TableError, TableSource, TooLarge, iter_chunks, open_table
from emc.metering.weather import WeatherChecker, stations
from emc.org.models import Esco, Role, User
from emc.org.scope import Scope

MODES = ("only-new", "replace")


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
    _refuse(session, opts, scope, batch)
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

    if batch is None:
        batch = ImportBatch(kind=opts.kind, file_name=file_name[:300], file_hash=digest, sheet=sheet, file_size=size,
                            esco_id=esco.id if esco else None, mode=opts.mode,
                            uploaded_by=actor.username if isinstance(actor, User) else actor,
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
    opened = _open(session, path, opts, profile, scope, findings)
    if opened is None:
        return _finish(session, batch, findings, {}, opts, actor, Tally())
    table, registry, cmap = opened
    if cmap is None:
        return _finish(session, batch, findings, {"encoding": table.encoding}, opts, actor, Tally())
    batch.encoding, batch.layout = table.encoding, cmap.layout

    checker = _checker(session, registry, opts, findings, scope, cmap, profile, tz)
    times = TimeParser(tz)
    written = Tally()
    savepoint = session.begin_nested()
    rows_total = _stream(session, batch, table, cmap, times, checker, opts, findings, written, registry)
    checker.finish()
    if rows_total == 0:
        findings.add(Finding("no_rows", "no data rows below the header", row=table.header_line))
    if opts.dry_run or findings.errors:
        savepoint.rollback()
        if isinstance(checker, WeatherChecker):
            checker.forget_created()
    else:
        savepoint.commit()
        _after_commit(session, batch, opts, findings, written, actor)
    if opts.kind != "weather":
        _link_meters(session, batch, registry, checker.state.keys())
    summary = {"encoding": table.encoding, "layout": cmap.layout, "columns": cmap.columns,
               "wide_columns": cmap.wide, "header_line": table.header_line, "rows": rows_total,
               "timezone": tz, "meters": checker.summary(tz), "time_format": times.format,
               "options": {"station": opts.station, "timestamp_is": opts.timestamp_is, "interval_s": opts.interval_s,
                           "timezone": opts.timezone, "reason": opts.reason}}
    return _finish(session, batch, findings, summary, opts, actor, written)


def _refuse(session: Session, opts: ImportOptions, scope: Scope, batch: ImportBatch | None) -> None:
    """Refuse before reading: an unknown mode, weather from a non-manager, a batch no longer previewed."""
    if opts.mode not in MODES:
        raise ImportRefused(f"mode must be one of {', '.join(MODES)}, not {opts.mode!r}")
    if opts.kind == "weather" and scope.role not in (Role.admin, Role.manager):
        raise ImportRefused("only bureau managers and administrators import weather data")
    if batch is not None and not opts.dry_run:
        lock(session, batch)
        if batch.status != BatchStatus.previewed:
            raise ImportRefused(f"batch {batch.id} is {batch.status}; only a previewed batch can be committed")


def _open(session: Session, path: Path, opts: ImportOptions, profile: dict[str, Any], scope: Scope,
          findings: Findings) -> tuple[TableSource, dict[str, Any], ColumnMap | None] | None:
    """Open the table and match its headers to the meters (or stations) the uploader may write. A file that
    cannot be read gives None, headers that name no required column give no column map (each with a finding)."""
    try:
        table = open_table(path, opts.sheet or profile.get("sheet"), time_aliases(profile.get("aliases")))
        registry: dict[str, Any] = stations(session) if opts.kind == "weather" else _meters(session, scope)
        cmap = map_columns(table.headers, extra_aliases=profile.get("aliases"), known_codes=set(registry),
                           units_row=table.units_row, weather=opts.kind == "weather")
    except TableError as exc:
        findings.add(Finding(_table_code(exc), str(exc)))
        return None
    except ColumnError as exc:
        findings.add(Finding("missing_column", str(exc), row=table.header_line,
                             value=" | ".join(table.headers)[:300]))
        return table, registry, None
    return table, registry, cmap


def _checker(session: Session, registry: dict[str, Any], opts: ImportOptions, findings: Findings, scope: Scope,
             cmap: ColumnMap, profile: dict[str, Any], tz: str) -> MeterChecker:
    if opts.kind == "weather":
        return WeatherChecker(session, registry, station=opts.station, interval_s=opts.interval_s,
                              findings=findings, scope=scope)
    return MeterChecker(registry, now_us=to_epoch_us(utcnow()), value_kind=cmap.value_kind,
                        timestamp_is=opts.timestamp_is or profile.get("timestamp_is", "start"),
                        interval_s=opts.interval_s or profile.get("interval_s"), findings=findings,
                        last_register=lambda m, t: store.last_register(session, m.id, t), tz=tz)


def _stream(session: Session, batch: ImportBatch, table: TableSource, cmap: ColumnMap, times: TimeParser,
            checker: MeterChecker, opts: ImportOptions, findings: Findings, written: Tally,
            registry: dict[str, Any]) -> int:
    """Read, parse, check and reconcile chunk by chunk (writing only while no error is found); the rows read."""
    weather = opts.kind == "weather"
    bad_rows: list[tuple[int, str]] = []
    rows_total = 0
    try:
        for first_line, frame in iter_chunks(table, opts.chunk_rows, bad_rows):
            rows_total += len(frame)
            parsed = parse_chunk(frame, first_line, cmap, times, default_code=opts.station, weather=weather)
            accepted = checker.feed(parsed)
            if isinstance(checker, WeatherChecker):
                accepted = checker.range_check(accepted)
            writing = not opts.dry_run and findings.errors == 0
            reconcile(session, batch, accepted, mode=opts.mode, reason=opts.reason, findings=findings,
                      written=written, writing=writing, weather=weather,
                      from_register=(cmap.value_kind == "register") if cmap.value_kind else None, registry=registry,
                      cost=_costs(parsed, accepted))
    except TableError as exc:
        findings.add(Finding(_table_code(exc), str(exc)))
    for line, message in bad_rows:
        findings.add(Finding("bad_row", message, row=line))
    return rows_total


def _after_commit(session: Session, batch: ImportBatch, opts: ImportOptions, findings: Findings, written: Tally,
                  actor: User | str) -> None:
    """The monthly totals of the months written, fresh planner statistics, and the approved settlements a
    correction changed flagged and settled."""
    if written.touched and written.first_us is not None and written.last_us is not None:
        totals.refresh(session, written.touched, from_epoch_us(written.first_us), from_epoch_us(written.last_us))
    # a large load changes the tables' shape: fresh statistics in the same transaction (autovacuum may be off)
    tables = ["weather_observation"] if opts.kind == "weather" else ["reading", "reading_revision", "meter_month"]
    analyze(session, tables, changed=written.new + written.replaced)
    if written.affected:
        provenance = approved_use()

        drafted = provenance.settle_changes(session, list(written.affected.values()),
                                            what=f"import {batch.id} corrected data it used", reason=opts.reason,
                                            actor=actor)
        findings.add(Finding("settlements_adjusted", "; ".join(f"{k}: {v}" for k, v in drafted.items())[:1000]))


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


def _finish(session: Session, batch: ImportBatch, findings: Findings, summary: dict[str, Any], opts: ImportOptions,
            actor: User | str, written: Tally) -> ImportReport:
    batch.errors, batch.warnings = findings.errors, findings.warnings
    batch.rows_total = int(summary.get("rows", 0))
    batch.rows_new, batch.rows_same, batch.rows_conflict = written.new, written.same, written.conflict
    batch.summary = {**summary, "counts": {k: n for k, n in sorted(findings.counts.items()) if n},
                     "truncated": findings.truncated, "replaced": written.replaced}
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


def batches(session: Session, scope: Scope, *, limit: int = 50, offset: int = 0) -> tuple[list[ImportBatch], int]:
    where = [scope.clause_for(ImportBatch)]
    total = session.execute(select(func.count(ImportBatch.id)).where(*where)).scalar_one()
    rows = session.execute(select(ImportBatch).where(*where).order_by(ImportBatch.id.desc())
                           .offset(offset).limit(limit)).scalars().all()
    return list(rows), total


def visible_batches(session: Session, scope: Scope, ids: list[int]) -> set[int]:
    """Which of ``ids`` the scope may open (a page links only those: a link must never lead to a 404)."""
    if not ids:
        return set()
    return set(session.execute(select(ImportBatch.id).where(
        ImportBatch.id.in_(ids), scope.clause_for(ImportBatch))).scalars())


DISCARDABLE = (BatchStatus.previewed, BatchStatus.rejected)


def discard(session: Session, batch: ImportBatch, *, actor: User | str) -> ImportBatch:
    """Set a preview (or a batch rejected at commit) aside: nothing was written and nothing is; it can no
    longer be committed, and the history says who discarded it. Twice is refused, as is a committed batch."""
    lock(session, batch)
    if batch.status not in DISCARDABLE:
        raise ImportRefused(f"batch {batch.id} is {batch.status}; only a preview or a rejected batch is discarded")
    before = batch.status
    batch.status = BatchStatus.discarded
    audit.record(session, actor=actor, action="import.discard", object_type="import_batch", object_id=batch.id,
                 before={"status": before}, after={"status": batch.status, "file": batch.file_name})
    session.flush()
    return batch


def get_batch(session: Session, scope: Scope, batch_id: int) -> ImportBatch:
    return scope.find(session, ImportBatch, ImportBatch.id == batch_id)
