"""`emc factors …` and `emc ledger …`: thin wrappers over the carbon services. Each command commits or
changes nothing. The main command (emc/cli/) adds them with ``app.add_typer(carbon_app)`` (no name: the two
groups merge in); they import only the kit below them (emc/cli_kit.py), never the assembler.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from emc import clock
from emc.cli_kit import JsonOpt, fail, migrated_engine

app = typer.Typer(no_args_is_help=True)
factors_app = typer.Typer(help="Standard-coal and CO₂ factors, targets, quotas and ledger settings (data files).",
                          no_args_is_help=True)
ledger_app = typer.Typer(help="The energy and carbon ledger: rebuild, restate, over-quota warnings.",
                         no_args_is_help=True)
app.add_typer(factors_app, name="factors")
app.add_typer(ledger_app, name="ledger")

@factors_app.command("load")
def factors_load(files: Annotated[list[Path] | None, typer.Argument(
        help="carbon data files ([[factor]], [[ledger]], [[institution]], [[target]], [[reference]], [[quota]], "
             "[[correction]]); default: the shipped seed")] = None, as_json: JsonOpt = False) -> None:
    """Load carbon data files (idempotent; a changed factor or quota needs a new version). All files or none."""
    from emc.carbon import loading
    from emc.carbon.core.carbon_file import CarbonFileError, seed_paths
    from emc.db import session_scope

    reports = []
    try:
        with session_scope(migrated_engine()) as session:
            for path in files or seed_paths():
                reports.append(loading.load_file(session, path, actor="cli"))
    except CarbonFileError as exc:
        for p in exc.problems:
            typer.echo(f"error {p}", err=True)
        fail("nothing was loaded")
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], ensure_ascii=False))
        return
    for r in reports:
        for line in r.lines():
            typer.echo(line)
    typer.echo("run `emc ledger rebuild` to book with them (provisional entries are restated, both kept)")


@factors_app.command("list")
def factors_list(as_json: JsonOpt = False) -> None:
    """Every factor version with its value, status and source."""
    from emc.carbon.reads import reference
    from emc.db import session_scope

    with session_scope(migrated_engine()) as session:
        rows = reference.factors(session)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['ref']:<58} {r['value']:>9} {r['unit']:<10} {r['status']:<11} [{r['tag'] or '-'}] "
                   f"{r['source']}")


@ledger_app.command("rebuild")
def ledger_rebuild(year: Annotated[list[int] | None, typer.Option(help="a year to rebuild (repeatable); "
                                                                       "default: every year with data")] = None,
                   as_json: JsonOpt = False) -> None:
    """Regenerate the ledger from readings and approved settlements; changed entries get a new revision."""
    from emc.carbon import ledger
    from emc.db import session_scope

    with session_scope(migrated_engine()) as session:
        report = ledger.rebuild(session, years=year or None, actor="cli")
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
        return
    for line in report.lines():
        typer.echo(line)
    if report.problems:
        raise typer.Exit(1)


@ledger_app.command("warnings")
def ledger_warnings(
    today: Annotated[str | None, typer.Option(help="check as on this day (YYYY-MM-DD); default: today")] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="raise the warnings due first")] = True,
    year: Annotated[int | None, typer.Option(help="list this year's warnings; default: the checked year")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Raise the over-quota warnings due (each tier once a year), then list the year's warnings."""
    from emc.carbon import alerts
    from emc.carbon.reads import entries
    from emc.db import session_scope
    from emc.org.scope import Scope

    try:
        day = date.fromisoformat(today) if today else clock.today()
    except ValueError:
        fail(f"--today {today!r}: write YYYY-MM-DD")
        return
    with session_scope(migrated_engine()) as session:
        report = alerts.raise_quota_warnings(session, today=day, actor="cli") if check else None
        shown = year or (report.year if report else day.year)
        rows = entries.warnings(session, Scope.everything(), year=shown, per_page=10_000).rows
    if as_json:
        typer.echo(json.dumps({"raised": report.raised if report else [], "warnings": rows}, ensure_ascii=False))
        return
    if report:
        for line in report.lines():
            typer.echo(line)
    typer.echo(f"{len(rows)} warning(s) in {shown}")
    for w in rows:
        typer.echo(f"{w['through']} {w['institution']:<16} {w['quota']:<32} {w['tier']:>5} of {w['level']:<10} "
                   f"ratio {w['ratio']}")
