"""`emc db …`, `emc demo`, `emc serve`, `emc scheduler`: the schema, backups, the demo and running the service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emc.cli_kit import fail, migrated_engine
from emc.config import get_settings
from emc.db import NotMigratedError, current_revision, get_engine, head_revision, upgrade

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


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

    engine = migrated_engine()
    try:
        backup(engine, path)
    except BackupError as exc:
        fail(str(exc))
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
        fail(str(exc))
    typer.echo(f"restored {path} into {engine.url.render_as_string(hide_password=True)} "
               f"at revision {current_revision(engine)}")


@db_app.command("rebuild-totals")
def db_rebuild_totals() -> None:
    """Recompute the monthly meter totals (meter_month) from every stored reading, in one transaction."""
    from emc.db import analyze, session_scope
    from emc.metering import totals

    engine = migrated_engine()
    with session_scope(engine) as session:
        keys = totals.rebuild(session)
        analyze(session, ["meter_month"])
    typer.echo(f"monthly meter totals rebuilt: {keys:,} meter-months")


@db_app.command("partitions")
def db_partitions(ahead: Annotated[int, typer.Option(min=0, help="months after this one to partition")] = 12) -> None:
    """Create reading's monthly partitions ahead and split months out of DEFAULT (PostgreSQL; the scheduler's
    daily reading-partitions job does the same). Idempotent."""
    from emc import clock
    from emc.metering.partitions import ensure_partitions, is_partitioned, partitions

    engine = migrated_engine()
    with engine.begin() as conn:
        if not is_partitioned(conn):
            typer.echo(f"{engine.dialect.name}: reading is one plain table (partitions are PostgreSQL only)")
            return
        report = ensure_partitions(conn, clock.today(), ahead=ahead)
        count = len(partitions(conn))
    typer.echo(f"{len(report.created)} partitions created ({', '.join(report.created) or 'none'}), "
               f"{report.moved_out_of_default} readings moved out of DEFAULT; reading has {count} partitions")


@db_app.command("prepare")
def db_prepare(limit: Annotated[int, typer.Option(min=1, help="at most this many of each kind")] = 100_000) -> None:
    """Compute now the figures pages read prepared — M&V results whose data changed, the carbon views whose
    inputs moved and the province's default views — which the scheduler's mv-results and carbon-figures jobs
    otherwise catch up on a bounded number at a time (after a restore, an upgrade or a bulk load)."""
    from sqlmodel import Session

    from emc.baselines import results
    from emc.carbon import prepared

    engine = migrated_engine()
    with Session(engine) as session:
        mv = results.refresh(session, writer=engine, limit=limit).as_dict()
    with Session(engine) as session:
        carbon = prepared.refresh(session, writer=engine, limit=limit)
    typer.echo(f"M&V results: {mv['computed']:,} computed of {mv['checked']:,} checked; carbon views: "
               f"{carbon['computed']:,} computed ({carbon['stale']:,} were stale)")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the one this code needs."""
    engine = get_engine()
    typer.echo(f"database: {current_revision(engine) or '(empty)'}   code: {head_revision()}")


def demo(
    fresh: Annotated[bool, typer.Option("--fresh", help="delete the SQLite demo database first")] = False,
    synthetic: Annotated[int, typer.Option(help="synthetic contracts to add beside the examples (0: none)")] = 40,
) -> None:
    """Build the demo database from contracts/ and baselines/ (idempotent), with one user per role."""
    from emc.demo.build import build_demo

    settings = get_settings()
    if fresh:
        if not settings.db_url.startswith("sqlite:///"):
            fail("--fresh only deletes an SQLite file; drop a PostgreSQL database yourself")
        path = Path(settings.db_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    engine = get_engine()
    upgrade(engine)
    for line in build_demo(engine, synthetic_contracts=synthetic):
        typer.echo(line)


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
        migrated_engine()  # refuse here, once, rather than in every worker
        typer.echo(f"emc serving on http://{host}:{port} with {workers} workers")
        uvicorn.run("emc.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_config=log_config, log_level="info", proxy_headers=False)
        return
    try:
        web = create_app()
    except NotMigratedError as exc:
        fail(str(exc), 2)
    typer.echo(f"emc serving on http://{host}:{port}")
    # uvicorn's own proxy handling would trust X-Forwarded-For from 127.0.0.1; the app honours it only from
    # EMC_TRUSTED_PROXIES (emc/web/security.py)
    uvicorn.run(web, host=host, port=port, log_config=log_config, log_level="info", proxy_headers=False)


def scheduler_cmd() -> None:
    """Run the scheduler alone (web servers then run with --no-scheduler). Set PROMETHEUS_MULTIPROC_DIR to the
    web server's directory on the same host to see its jobs in /metrics."""
    from emc.jobs.scheduler import run_blocking

    run_blocking(migrated_engine())
