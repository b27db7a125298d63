"""`emc meters …` and `emc weather …`: import files exactly once and print the batch (thin over emc.metering)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import select

from emc.cli_kit import JsonOpt, fail, migrated_engine
from emc.db import session_scope

meters_app = typer.Typer(help="Meter data imports.", no_args_is_help=True)
weather_app = typer.Typer(help="Weather data imports.", no_args_is_help=True)


def _print_report(report, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    batch = report.batch
    if as_json:
        typer.echo(json.dumps({
            "batch": batch.id, "status": batch.status, "already_imported": report.already_imported,
            "file": batch.file_name, "encoding": batch.encoding, "layout": batch.layout, "rows": batch.rows_total,
            "new": batch.rows_new, "same": batch.rows_same, "conflict": batch.rows_conflict,
            "errors": batch.errors, "warnings": batch.warnings, "counts": batch.summary.get("counts", {}),
            "meters": batch.summary.get("meters", {}), "findings": batch.findings[:500]}, ensure_ascii=False, indent=2))
        return
    if report.already_imported:
        typer.echo(f"{batch.file_name}: already imported as batch {batch.id} on {batch.committed_at:%Y-%m-%d}; "
                   "nothing to do")
        return
    typer.echo(f"batch {batch.id}: {batch.status} · {batch.file_name} · {batch.encoding} · {batch.layout} · "
               f"{batch.rows_total:,} rows · new {batch.rows_new:,} · same {batch.rows_same:,} · "
               f"conflicting {batch.rows_conflict:,}")
    for code, info in batch.summary.get("meters", {}).items():
        typer.echo(f"  {code:24} {info['rows']:>9,} periods  {info['first']} → {info['last']}  "
                   f"{'mean' if info['unit'] == 'C' else 'total'} "
                   f"{info['mean'] if info['unit'] == 'C' else info['total']:,.3f} {info['unit']}")
    for code, n in sorted(batch.summary.get("counts", {}).items()):
        typer.echo(f"  {'ERROR' if n and code in _error_codes() else 'warn '} {code}: {n:,}")
    shown = 0
    for f in batch.findings:
        if f["severity"] == "error" and shown < 30:
            where = f"row {f['row']}" if f["row"] else "file"
            col = f", column {f['column']}" if f["column"] else ""
            typer.echo(f"  error {where}{col}: {f['message']}" + (f" (value {f['value']!r})" if f["value"] else ""),
                       err=True)
            shown += 1


def _error_codes() -> set[str]:
    from emc.metering.findings import CODES, ERROR

    return {c for c, (sev, _) in CODES.items() if sev == ERROR}


def _run_import(file: Path, kind: str, esco: str | None, dry_run: bool, mode: str, sheet: str | None,
                station: str | None, timestamp_is: str | None, as_json: bool, reason: str = "") -> None:
    from emc.metering.errors import ImportRefused
    from emc.metering.service import ImportOptions, import_file
    from emc.org.models import Esco
    from emc.org.scope import Scope

    if not file.is_file():
        fail(f"{file}: no such file")
    engine = migrated_engine()
    with session_scope(engine) as session:
        scope, party = Scope.everything(), None
        if esco:
            party = session.exec(select(Esco).where(Esco.code == esco)).first()
            if party is None:
                fail(f"ESCO {esco!r} is not known")
            from emc.org.models import Role

            scope = Scope(role=Role.esco, esco_id=party.id)
        try:
            report = import_file(session, file, file_name=file.name, actor="cli", scope=scope, esco=party,
                                 options=ImportOptions(kind=kind, mode=mode, dry_run=dry_run, sheet=sheet,
                                                       station=station, timestamp_is=timestamp_is, reason=reason))
        except ImportRefused as exc:
            fail(str(exc))
    _print_report(report, as_json)
    if not report.ok:
        raise typer.Exit(1)


@meters_app.command("import")
def meters_import(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8/GBK) or XLSX export")],
    esco: Annotated[str | None, typer.Option(help="import as this ESCO: only its contracts' meters")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and preview only; write nothing")] = False,
    mode: Annotated[str, typer.Option(
        help="only-new (default: keep stored values) | replace (a correction)")] = "only-new",
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet (default: the first)")] = None,
    timestamp_is: Annotated[str | None, typer.Option(help="start | end: what a single timestamp means")] = None,
    reason: Annotated[str, typer.Option(help="replace: why values approved settlements used are corrected "
                                              "(required then; they are flagged and the difference drafted)")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Import meter readings exactly once; exit 1 if the file has errors (then nothing is written)."""
    _run_import(file, "meter", esco, dry_run, mode, sheet, None, timestamp_is, as_json, reason)


@meters_app.command("profile")
def meters_profile(
    esco: Annotated[str, typer.Argument(help="ESCO code")],
    alias: Annotated[list[str] | None, typer.Option(help="FIELD=HEADER, e.g. meter=测点 (repeatable); fields: "
                                                        "meter, time, start, end, consumption, register, unit, "
                                                        "estimated")] = None,
    timestamp_is: Annotated[str | None, typer.Option(help="start | end")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone of the platform's times")] = None,
    interval: Annotated[int | None, typer.Option(help="interval in seconds when the file cannot tell")] = None,
    show: Annotated[bool, typer.Option("--show", help="print the saved profile and change nothing")] = False,
) -> None:
    """Save how an ESCO's platform writes its exports, so its uploads need no questions."""
    from emc.metering.errors import ImportRefused
    from emc.metering.headers import ALIASES
    from emc.metering.profiles import profile_settings, save_profile
    from emc.org.models import Esco

    with session_scope(migrated_engine()) as session:
        party = session.exec(select(Esco).where(Esco.code == esco)).first()
        if party is None:
            fail(f"ESCO {esco!r} is not known")
        current = profile_settings(session, party)
        if show:
            typer.echo(json.dumps(current, ensure_ascii=False, indent=2))
            return
        aliases: dict[str, list[str]] = {k: list(v) for k, v in current.get("aliases", {}).items()}
        for item in alias or []:
            field_name, sep, header = item.partition("=")
            if not sep or field_name not in ALIASES or not header.strip():
                fail(f"--alias {item!r}: write FIELD=HEADER with FIELD one of {', '.join(ALIASES)}")
            aliases.setdefault(field_name, [])
            if header.strip() not in aliases[field_name]:
                aliases[field_name].append(header.strip())
        settings = {**current, **({"aliases": aliases} if aliases else {})}
        for key, value in (("timestamp_is", timestamp_is), ("timezone", timezone), ("interval_s", interval)):
            if value is not None:
                settings[key] = value
        try:
            save_profile(session, party, settings, actor="cli")
        except ImportRefused as exc:
            fail(str(exc))
    typer.echo(json.dumps(settings, ensure_ascii=False))


@weather_app.command("import")
def weather_import(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX of time, temperature (°C or °F) [, station]")],
    station: Annotated[str | None, typer.Option(help="station code when the file has no station column")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    mode: Annotated[str, typer.Option()] = "only-new",
    reason: Annotated[str, typer.Option(help="replace: why values approved settlements used are corrected "
                                              "(required then; they are flagged and the difference drafted)")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Import weather observations through the same checks as meter data."""
    _run_import(file, "weather", None, dry_run, mode, None, station, None, as_json, reason)
