"""`emc contracts …`: check and load contract files (thin over emc.contracts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from emc.cli_kit import JsonOpt, fail, migrated_engine
from emc.db import session_scope

contracts_app = typer.Typer(help="Contract files (contracts/*.toml).", no_args_is_help=True)


@contracts_app.command("check")
def contracts_check(files: Annotated[list[Path], typer.Argument(help="contract files")],
                    as_json: JsonOpt = False) -> None:
    """Validate contract files; exit 1 if any has a problem (each named by file, key and what is wrong)."""
    from emc.contracts.spec import ContractFileError, load_contract_file

    report: list[dict[str, Any]] = []
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


@contracts_app.command("load")
def contracts_load(files: Annotated[list[Path], typer.Argument(help="contract files")],
                    as_json: JsonOpt = False) -> None:
    """Load contract files (idempotent; changed terms need an [amendment]). All files or none."""
    from emc.contracts.service import load_contract
    from emc.contracts.spec import ContractFileError, load_contract_file

    engine = migrated_engine()
    results = []
    try:
        with session_scope(engine) as session:
            for path in files:
                spec = load_contract_file(path)
                results.append(load_contract(session, spec, source=path.name, actor="cli"))
    except ContractFileError as exc:
        for p in exc.problems:
            typer.echo(f"error {p}", err=True)
        fail("nothing was loaded")
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in results], ensure_ascii=False))
    else:
        for r in results:
            typer.echo(str(r))
