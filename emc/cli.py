"""The ``emc`` command: thin wrappers over services. Each command commits or changes nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import select

from emc.carbon.cli import app as carbon_app
from emc.config import get_settings
from emc.db import (
    NotMigratedError,
    check_migrated,
    current_revision,
    get_engine,
    head_revision,
    session_scope,
    upgrade,
)

app = typer.Typer(help="emc: contracts, meters, savings, settlements and ledgers for public institutions.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
contracts_app = typer.Typer(help="Contract files (contracts/*.toml).", no_args_is_help=True)
users_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
regions_app = typer.Typer(help="Administrative regions.", no_args_is_help=True)
meters_app = typer.Typer(help="Meter data imports.", no_args_is_help=True)
weather_app = typer.Typer(help="Weather data imports.", no_args_is_help=True)
baseline_app = typer.Typer(help="Baselines (M&V): fit, approve, try a model on any CSV.", no_args_is_help=True)
tariffs_app = typer.Typer(help="Tariffs: effective-dated prices (contracts/tariffs/*.toml).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(contracts_app, name="contracts")
app.add_typer(users_app, name="users")
app.add_typer(regions_app, name="regions")
app.add_typer(meters_app, name="meters")
app.add_typer(weather_app, name="weather")
app.add_typer(baseline_app, name="baseline")
app.add_typer(tariffs_app, name="tariffs")
app.add_typer(carbon_app)  # emc factors …, emc ledger …

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _migrated_engine():  # type: ignore[no-untyped-def]
    engine = get_engine()
    try:
        check_migrated(engine)
    except NotMigratedError as exc:
        _fail(str(exc), 2)
    return engine


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    engine = get_engine()
    upgrade(engine, revision)
    typer.echo(f"database {engine.url.render_as_string(hide_password=True)} at revision {current_revision(engine)}")


@db_app.command("backup")
def db_backup(path: Annotated[Path, typer.Argument(help="new file to write")]) -> None:
    """Back up the whole database (SQLite: online backup; PostgreSQL: pg_dump custom format)."""
    from emc.backup import BackupError, backup

    engine = _migrated_engine()
    try:
        backup(engine, path)
    except BackupError as exc:
        _fail(str(exc))
    typer.echo(f"backup of {engine.url.render_as_string(hide_password=True)} written to {path} "
               f"({path.stat().st_size:,} bytes)")


@db_app.command("restore")
def db_restore(path: Annotated[Path, typer.Argument(help="a file written by emc db backup")]) -> None:
    """Restore a backup into the configured database, which must be empty; then refresh planner statistics."""
    from emc.backup import BackupError, restore

    engine = get_engine()
    try:
        restore(engine, path)
    except BackupError as exc:
        _fail(str(exc))
    typer.echo(f"restored {path} into {engine.url.render_as_string(hide_password=True)} "
               f"at revision {current_revision(engine)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the one this code needs."""
    engine = get_engine()
    typer.echo(f"database: {current_revision(engine) or '(empty)'}   code: {head_revision()}")


@regions_app.command("load")
def regions_load(file: Annotated[Path | None, typer.Argument(help="TOML of [[regions]]; default: shipped Jiangsu list")] = None) -> None:
    """Load administrative regions (idempotent)."""
    from emc.org.service import SHIPPED_REGIONS, OrgError, load_regions

    engine = _migrated_engine()
    try:
        with session_scope(engine) as session:
            added = load_regions(session, file or SHIPPED_REGIONS)
    except (OrgError, OSError) as exc:
        _fail(str(exc))
    typer.echo(f"regions: {added} added")


@contracts_app.command("check")
def contracts_check(files: Annotated[list[Path], typer.Argument(help="contract files")], as_json: JsonOpt = False) -> None:
    """Validate contract files; exit 1 if any has a problem (each named by file, key and what is wrong)."""
    from emc.contracts.spec import ContractFileError, load_contract_file

    report = []
    for path in files:
        try:
            spec = load_contract_file(path)
            report.append({"file": str(path), "ok": True, "code": spec.contract.code, "problems": []})
        except ContractFileError as exc:
            report.append({"file": str(path), "ok": False, "problems": [
                {"key": p.key, "message": p.message, "line": p.line} for p in exc.problems]})
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for item in report:
            if item["ok"]:
                typer.echo(f"ok    {item['file']} ({item['code']})")
            for p in item["problems"]:
                where = f"{item['file']}:{p['line']}" if p["line"] else item["file"]
                typer.echo(f"error {where}: {p['key'] + ': ' if p['key'] else ''}{p['message']}", err=True)
    if not all(item["ok"] for item in report):
        raise typer.Exit(1)


@tariffs_app.command("load")
def tariffs_load(files: Annotated[list[Path], typer.Argument(help="tariff files")], as_json: JsonOpt = False) -> None:
    """Load tariff files (idempotent; a version that priced approved settlements cannot change). All or none."""
    from emc.tariffs.files import TariffFileError
    from emc.tariffs.service import load_file

    engine = _migrated_engine()
    saved = []
    try:
        with session_scope(engine) as session:
            for path in files:
                saved.extend(load_file(session, path, actor="cli"))
    except TariffFileError as exc:
        for p in exc.problems:
            typer.echo(f"error {p}", err=True)
        _fail("nothing was loaded")
    if as_json:
        typer.echo(json.dumps([s.__dict__ for s in saved], ensure_ascii=False))
    else:
        for item in saved:
            typer.echo(str(item))


@tariffs_app.command("list")
def tariffs_list(code: Annotated[str | None, typer.Option(help="one tariff code")] = None,
                 as_json: JsonOpt = False) -> None:
    """Stored tariff versions with the dates the settlement applies them."""
    from emc.tariffs.service import as_json as tariff_json
    from emc.tariffs.service import effective_ends, versions

    with session_scope(_migrated_engine()) as session:
        rows = versions(session, code)
        ends = effective_ends(rows)
        items = [tariff_json(r, ends.get(r.id or 0)) for r in rows]
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for item in items:
        typer.echo(f"{item['id']:<42} {item['kind']:<6} {item['effective_from']} → {item['effective_to'] or '…':<10} "
                   f"{item['source']}")


@contracts_app.command("load")
def contracts_load(files: Annotated[list[Path], typer.Argument(help="contract files")], as_json: JsonOpt = False) -> None:
    """Load contract files (idempotent; changed terms need an [amendment]). All files or none."""
    from emc.contracts.service import load_contract
    from emc.contracts.spec import ContractFileError, load_contract_file

    engine = _migrated_engine()
    results = []
    try:
        with session_scope(engine) as session:
            for path in files:
                spec = load_contract_file(path)
                results.append(load_contract(session, spec, source=path.name, actor="cli"))
    except ContractFileError as exc:
        for p in exc.problems:
            typer.echo(f"error {p}", err=True)
        _fail("nothing was loaded")
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in results], ensure_ascii=False))
    else:
        for r in results:
            typer.echo(str(r))


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin | manager | esco | finance | viewer")],
    region: Annotated[str | None, typer.Option(help="region code (managers; optional for finance/viewer)")] = None,
    esco: Annotated[str | None, typer.Option(help="ESCO code (ESCO users)")] = None,
    display_name: Annotated[str, typer.Option()] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Add a user. The password is prompted for (or read from stdin)."""
    from pydantic import ValidationError

    from emc.org.service import OrgError, UserCreate, create_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else \
        typer.prompt("password", hide_input=True, confirmation_prompt=True)
    engine = _migrated_engine()
    try:
        data = UserCreate(username=username, password=password, role=role, region=region, esco=esco,
                          display_name=display_name)
        with session_scope(engine) as session:
            create_user(session, data, actor="cli")
    except ValidationError as exc:
        _fail("\n".join(f"{'.'.join(map(str, e['loc'])) or 'user'}: {e['msg'].removeprefix('Value error, ')}"
                        for e in exc.errors()))
    except OrgError as exc:
        _fail(str(exc))
    typer.echo(f"user {username} added ({role})")


@users_app.command("list")
def users_list() -> None:
    from emc.org.models import User

    with session_scope(_migrated_engine()) as session:
        for user in session.exec(select(User).order_by(User.username)):
            typer.echo(f"{user.username:20} {user.role:8} {'active' if user.is_active else 'inactive'}")


@users_app.command("token")
def users_token(username: str, name: Annotated[str, typer.Option(help="what the token is for")] = "api",
                days: Annotated[int, typer.Option(help="days until it expires (1..366)")] = 90) -> None:
    """Issue an API bearer token for USERNAME (shown once). It expires after --days, and dies earlier when
    revoked (`emc users revoke-token`, or the account page) or when the user's password changes."""
    from emc.org.models import User
    from emc.org.service import OrgError, issue_token

    try:
        with session_scope(_migrated_engine()) as session:
            user = session.exec(select(User).where(User.username == username)).first()
            if user is None:
                _fail(f"no user {username!r}")
            issued = issue_token(session, user, name, actor="cli", days=days)
    except OrgError as exc:
        _fail(str(exc))
    typer.echo(issued.token)


@users_app.command("tokens")
def users_tokens(username: str) -> None:
    """List USERNAME's API tokens (id, name, expiry, last use, revoked)."""
    from emc.org.models import User
    from emc.org.service import tokens_of

    with session_scope(_migrated_engine()) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            _fail(f"no user {username!r}")
        for t in tokens_of(session, user):
            state = "revoked" if t.revoked else f"expires {t.expires_at:%Y-%m-%d}" if t.expires_at else "expired"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
            typer.echo(f"{t.id:6} {t.name:30} {state:20} {used}")


@users_app.command("revoke-token")
def users_revoke_token(username: str, token_id: int) -> None:
    """Revoke one of USERNAME's API tokens by its id (see `emc users tokens`)."""
    from emc.org.models import ApiToken, User
    from emc.org.service import revoke_token

    with session_scope(_migrated_engine()) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        record = session.get(ApiToken, token_id)
        if user is None or record is None or record.user_id != user.id:
            _fail(f"{username!r} has no token {token_id}")
        revoke_token(session, record, actor="cli")
    typer.echo(f"token {token_id} of {username} revoked")


@users_app.command("reset-password")
def users_reset_password(
    username: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Set a new password for USERNAME (prompted, or from stdin); their sessions and API tokens end."""
    from emc.org.models import User
    from emc.org.service import OrgError, reset_password

    password = sys.stdin.readline().rstrip("\n") if password_stdin else \
        typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(_migrated_engine()) as session:
            user = session.exec(select(User).where(User.username == username)).first()
            if user is None:
                _fail(f"no user {username!r}")
            reset_password(session, user, password, actor="cli")
    except OrgError as exc:
        _fail(str(exc))
    typer.echo(f"password of {username} reset; their sessions and tokens ended")


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
    from emc.metering.service import ImportError_, ImportOptions, import_file
    from emc.org.models import Esco
    from emc.org.scope import Scope

    if not file.is_file():
        _fail(f"{file}: no such file")
    engine = _migrated_engine()
    with session_scope(engine) as session:
        scope, party = Scope.everything(), None
        if esco:
            party = session.exec(select(Esco).where(Esco.code == esco)).first()
            if party is None:
                _fail(f"ESCO {esco!r} is not known")
            from emc.org.models import Role

            scope = Scope(role=Role.esco, esco_id=party.id)
        try:
            report = import_file(session, file, file_name=file.name, actor="cli", scope=scope, esco=party,
                                 options=ImportOptions(kind=kind, mode=mode, dry_run=dry_run, sheet=sheet,
                                                       station=station, timestamp_is=timestamp_is, reason=reason))
        except ImportError_ as exc:
            _fail(str(exc))
    _print_report(report, as_json)
    if not report.ok:
        raise typer.Exit(1)


@meters_app.command("import")
def meters_import(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8/GBK) or XLSX export")],
    esco: Annotated[str | None, typer.Option(help="import as this ESCO: only its contracts' meters")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and preview only; write nothing")] = False,
    mode: Annotated[str, typer.Option(help="only-new (default: keep stored values) | replace (a correction)")] = "only-new",
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
    from emc.metering.columns import ALIASES
    from emc.metering.service import ImportError_, profile_settings, save_profile
    from emc.org.models import Esco

    with session_scope(_migrated_engine()) as session:
        party = session.exec(select(Esco).where(Esco.code == esco)).first()
        if party is None:
            _fail(f"ESCO {esco!r} is not known")
        current = profile_settings(session, party)
        if show:
            typer.echo(json.dumps(current, ensure_ascii=False, indent=2))
            return
        aliases: dict[str, list[str]] = {k: list(v) for k, v in current.get("aliases", {}).items()}
        for item in alias or []:
            field_name, sep, header = item.partition("=")
            if not sep or field_name not in ALIASES or not header.strip():
                _fail(f"--alias {item!r}: write FIELD=HEADER with FIELD one of {', '.join(ALIASES)}")
            aliases.setdefault(field_name, [])
            if header.strip() not in aliases[field_name]:
                aliases[field_name].append(header.strip())
        settings = {**current, **({"aliases": aliases} if aliases else {})}
        for key, value in (("timestamp_is", timestamp_is), ("timezone", timezone), ("interval_s", interval)):
            if value is not None:
                settings[key] = value
        try:
            save_profile(session, party, settings, actor="cli")
        except ImportError_ as exc:
            _fail(str(exc))
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


def _contract(session, code: str):  # type: ignore[no-untyped-def]
    from emc.contracts.models import Contract

    contract = session.exec(select(Contract).where(Contract.code == code)).first()
    if contract is None:
        _fail(f"no contract {code!r}")
    return contract


def _baseline_json(b) -> dict:  # type: ignore[no-untyped-def]
    return {"contract_id": b.contract_id, "utility": b.utility, "version": b.version, "status": b.status,
            "granularity": b.granularity, "period": [b.period_start.isoformat(), b.period_end.isoformat()],
            "meters": b.meters, "model_type": b.model.get("model_type"), "metrics": b.metrics,
            "gates": b.model.get("gates"), "selection": b.model.get("selection", {}).get("reason"),
            "warnings": b.model.get("warnings"), "passes_gates": b.passes_gates, "disqualified": b.disqualified}


def _print_baseline(b) -> None:  # type: ignore[no-untyped-def]
    m = b.metrics
    typer.echo(f"{b.utility} v{b.version} [{b.status}] {b.granularity} {b.period_start}..{b.period_end} "
               f"meters {', '.join(b.meters)}")
    typer.echo(f"  model: {b.model.get('model_type')}")
    typer.echo(f"  CV(RMSE) {m.get('cvrmse', float('nan')):.3f}  NMBE {m.get('nmbe', float('nan')):+.4f}  "
               f"R² {m.get('r2', float('nan')):.3f}  n {m.get('n')}  p {m.get('p')}  "
               f"ρ1 {m.get('autocorr_lag1', float('nan')):.2f}  G14 gates {'passed' if b.passes_gates else 'FAILED'}")
    typer.echo(f"  why: {b.model.get('selection', {}).get('reason')}")
    for w in b.model.get("warnings", []):
        typer.echo(f"  warning {w.get('code')}: {w.get('message')}")


@baseline_app.command("fit")
def baseline_fit(contract: str, utility: Annotated[str | None, typer.Option(help="electricity | water | gas | heat; "
                                                                                  "default: every utility")] = None,
                 granularity: Annotated[str | None, typer.Option(help="hourly | daily | billing (default: from the data)")] = None,
                 as_json: JsonOpt = False) -> None:
    """Fit the contract's baseline period and store it as a proposed version."""
    from emc.baselines import service
    from emc.baselines.series import SeriesError

    out = []
    with session_scope(_migrated_engine()) as session:
        c = _contract(session, contract)
        for u in [utility] if utility else service.utilities(session, c):
            try:
                b = service.fit(session, c, u, actor="cli", granularity=granularity)
            except (service.BaselineError, SeriesError) as exc:
                _fail(str(exc))
            out.append(b)
            if not as_json:
                _print_baseline(b)
        if as_json:
            typer.echo(json.dumps([_baseline_json(b) for b in out], ensure_ascii=False, indent=2, default=str))


@baseline_app.command("approve")
def baseline_approve(contract: str, utility: Annotated[str, typer.Option()],
                     version: Annotated[int | None, typer.Option(help="default: the latest proposed")] = None,
                     reason: Annotated[str, typer.Option(help="required when the model fails the G14 gates")] = "",
                     reject: Annotated[bool, typer.Option("--reject", help="reject instead of approve")] = False) -> None:
    """Approve (or --reject) a proposed baseline; approving supersedes the previous one."""
    from emc.baselines import service

    with session_scope(_migrated_engine()) as session:
        c = _contract(session, contract)
        candidates = [b for b in service.versions(session, c, utility)
                      if (version is None and b.status == "proposed") or b.version == version]
        if not candidates:
            _fail(f"no {'proposed ' if version is None else ''}{utility} baseline{' v' + str(version) if version else ''} "
                  f"for {contract}")
        try:
            b = (service.reject if reject else service.approve)(session, candidates[0], actor="cli", reason=reason)
        except service.BaselineError as exc:
            _fail(str(exc))
        typer.echo(f"{contract} {utility} v{b.version}: {b.status}")


@baseline_app.command("fit-file")
def baseline_fit_file(file: Path, granularity: Annotated[str, typer.Option(help="hourly | daily | billing")] = "daily",
                      as_json: JsonOpt = False) -> None:
    """Try the M&V engine on any CSV of timestamp, usage and temperature (°C); nothing is stored."""
    import pandas as pd

    from emc import mv

    try:
        frame = pd.read_csv(file)
    except (OSError, ValueError) as exc:
        _fail(f"{file}: {exc}")
    cols = {c.lower().strip(): c for c in frame.columns}
    time_col = next((cols[k] for k in ("timestamp", "time", "date", "start") if k in cols), frame.columns[0])
    missing = [k for k in ("usage", "temperature") if k not in cols]
    if missing:
        _fail(f"{file}: needs columns timestamp, usage, temperature; missing {', '.join(missing)} "
              f"(found {', '.join(frame.columns)})")
    frame = frame.rename(columns={cols["usage"]: "usage", cols["temperature"]: "temperature"})
    frame.index = pd.to_datetime(frame.pop(time_col))
    try:
        model = mv.fit_baseline(frame, granularity=granularity)
    except mv.MVInputError as exc:
        _fail(f"{file}: {exc}")
    d = model.to_dict()
    if as_json:
        typer.echo(json.dumps({k: d[k] for k in ("model_type", "metrics", "gates", "selection", "warnings",
                                                  "segments")}, ensure_ascii=False, indent=2, default=str))
        return
    m = d["metrics"]
    typer.echo(f"model: {d['model_type']}\nCV(RMSE) {m['cvrmse']:.3f}  NMBE {m['nmbe']:+.4f}  R² {m['r2']:.3f}  "
               f"n {m['n']}  G14 gates {'passed' if d['gates'].get('passed') else 'FAILED'}\n"
               f"why: {d['selection'].get('reason')}")
    for w in d["warnings"]:
        typer.echo(f"warning {w.get('code')}: {w.get('message')}")


@app.command("savings")
def savings_cmd(contract: str, period: Annotated[str, typer.Option(help="YYYY-MM, YYYY, or START..END (dates)")],
                utility: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Savings (adjusted baseline − actual, positive = saved) with their uncertainty, per month."""
    from emc.baselines import service
    from emc.baselines.series import SeriesError

    start, end = _parse_period(period)
    results = {}
    with session_scope(_migrated_engine()) as session:
        c = _contract(session, contract)
        for u in [utility] if utility else service.utilities(session, c):
            try:
                report = service.compute_savings(session, c, u, start, end)
            except (service.BaselineError, SeriesError) as exc:
                _fail(str(exc))
            results[u] = report.result.to_dict()
            if not as_json:
                t = report.result.total
                typer.echo(f"{u} (baseline v{report.baseline.version}, {report.granularity}): adjusted baseline "
                           f"{t.get('adjusted_baseline', float('nan')):,.1f}  actual {t.get('actual', float('nan')):,.1f}  "
                           f"savings {t.get('savings', float('nan')):,.1f} "
                           f"± {t.get('uncertainty_68', float('nan')):,.1f} (68 %)  "
                           f"G14 Annex B FSU68 {t.get('fsu_g14_68', float('nan')):.1%}")
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False, indent=2, default=str))


def _parse_period(text: str):  # type: ignore[no-untyped-def]
    import calendar
    from datetime import date

    try:
        if ".." in text:
            a, b = text.split("..", 1)
            return date.fromisoformat(a), date.fromisoformat(b)
        if len(text) == 7:
            y, m = int(text[:4]), int(text[5:])
            return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])
        if len(text) == 4:
            return date(int(text), 1, 1), date(int(text), 12, 31)
    except ValueError:
        pass
    _fail(f"--period {text!r}: use YYYY-MM, YYYY or YYYY-MM-DD..YYYY-MM-DD")


@app.command()
def settle(
    contract: Annotated[str | None, typer.Argument(help="contract code (omit with --due)")] = None,
    period: Annotated[str | None, typer.Option(help="YYYY-MM: the period containing this month")] = None,
    due: Annotated[bool, typer.Option("--due", help="draft every period that has ended, for every contract")] = False,
    today: Annotated[str | None, typer.Option(help="as if today were YYYY-MM-DD (with --due)")] = None,
    check: Annotated[bool, typer.Option("--check", help="check the money ledger's invariants (nets to zero, "
                                        "each posting once, payments in force); exit 1 on any")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Draft settlements: one contract period, or everything due (the scheduler's job, by hand)."""
    from datetime import date

    from emc.settlement import service

    with session_scope(_migrated_engine()) as session:
        if check:
            problems = service.ledger_problems(session)
            typer.echo(json.dumps(problems, ensure_ascii=False, indent=2) if as_json else
                       "\n".join(problems) or "ledger: no problems")
            if problems:
                raise typer.Exit(1)
            return
        if due:
            report = service.run_due(session, date.fromisoformat(today) if today else date.today(), actor="cli")
            flagged = service.flag_changed(session)
            out = {**report.as_dict(), "flagged": flagged}
            if as_json:
                typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
            else:
                typer.echo(f"drafted {len(report.created)}: {', '.join(report.created) or '—'}")
                for w in report.waiting:
                    typer.echo(f"waiting: {w}")
                for f in flagged:
                    typer.echo(f"flagged (data changed after approval): {f}")
            return
        if not contract or not period:
            _fail("give CONTRACT and --period YYYY-MM, or --due")
        start, _ = _parse_period(period)
        c = _contract(session, contract)
        try:
            rows = service.draft(session, c, start, actor="cli")
        except service.SettlementError as exc:
            _fail(str(exc))
        if as_json:
            typer.echo(json.dumps([service.as_json(session, r) for r in rows], ensure_ascii=False, indent=2))
            return
        for r in rows:
            typer.echo(f"{r.number} [{r.status}] {r.period_start}..{r.period_end} to ESCO {r.to_esco:,} "
                       f"from ESCO {r.from_esco:,} net {r.net_to_esco:,} CNY")
            for line in service.lines_of(session, r):
                typer.echo(f"  {line.payer}→{line.payee} {line.amount:>14,} {line.formula}")


@app.command()
def demo(
    fresh: Annotated[bool, typer.Option("--fresh", help="delete the SQLite demo database first")] = False,
    synthetic: Annotated[int, typer.Option(help="synthetic contracts to add beside the examples (0: none)")] = 40,
) -> None:
    """Build the demo database from contracts/ and baselines/ (idempotent), with one user per role."""
    from emc.demo.build import build_demo

    settings = get_settings()
    if fresh:
        if not settings.db_url.startswith("sqlite:///"):
            _fail("--fresh only deletes an SQLite file; drop a PostgreSQL database yourself")
        path = Path(settings.db_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    engine = get_engine()
    upgrade(engine)
    for line in build_demo(engine, synthetic_contracts=synthetic):
        typer.echo(line)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="web worker processes (uvicorn)")] = 1,
    scheduler: Annotated[bool, typer.Option(help="run the scheduler in this server (with several workers or "
                                                 "hosts, the scheduler lock elects one process)")] = True,
    json_logs: Annotated[bool, typer.Option("--json-logs/--plain-logs", help="one JSON line per log record, "
                                            "with the request id")] = True,
) -> None:
    """Run the web app (and, by default, the scheduler)."""
    import os
    import tempfile

    import uvicorn

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # before any metric exists: every worker then writes its samples where /metrics can sum them
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="emc-metrics-")
    # the settings every worker process reads (uvicorn starts workers as fresh interpreters)
    os.environ["EMC_RUN_SCHEDULER"] = "true" if scheduler else "false"
    os.environ["EMC_JSON_LOGS"] = "true" if json_logs else "false"
    get_settings.cache_clear()
    from emc.web.app import create_app

    log_config = None if json_logs else uvicorn.config.LOGGING_CONFIG
    if workers > 1:
        _migrated_engine()  # refuse here, once, rather than in every worker
        typer.echo(f"emc serving on http://{host}:{port} with {workers} workers")
        uvicorn.run("emc.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_config=log_config, log_level="info", proxy_headers=False)
        return
    try:
        web = create_app()
    except NotMigratedError as exc:
        _fail(str(exc), 2)
    typer.echo(f"emc serving on http://{host}:{port}")
    # uvicorn's own proxy handling would trust X-Forwarded-For from 127.0.0.1; the app honours it only from
    # EMC_TRUSTED_PROXIES (emc/web/security.py)
    uvicorn.run(web, host=host, port=port, log_config=log_config, log_level="info", proxy_headers=False)


@app.command("scheduler")
def scheduler_cmd() -> None:
    """Run the scheduler alone (web servers then run with --no-scheduler). Set PROMETHEUS_MULTIPROC_DIR to the
    web server's directory on the same host to see its jobs in /metrics."""
    from emc.jobs.scheduler import run_blocking

    run_blocking(_migrated_engine())


if __name__ == "__main__":
    app()
