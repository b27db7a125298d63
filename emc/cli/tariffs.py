"""`emc tariffs …`: load and list effective-dated tariff versions (thin over emc.tariffs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emc.cli_kit import JsonOpt, fail, migrated_engine
from emc.db import session_scope

tariffs_app = typer.Typer(help="Tariffs: effective-dated prices (contracts/tariffs/*.toml).", no_args_is_help=True)


@tariffs_app.command("load")
def tariffs_load(files: Annotated[list[Path], typer.Argument(help="tariff files")], as_json: JsonOpt = False) -> None:
    """Load tariff files (idempotent; a version that priced approved settlements cannot change). All or none."""
    from emc.tariffs.files import TariffFileError
    from emc.tariffs.service import load_file

    engine = migrated_engine()
    saved = []
    try:
        with session_scope(engine) as session:
            for path in files:
                saved.extend(load_file(session, path, actor="cli"))
    except TariffFileError as exc:
        for p in exc.problems:
            typer.echo(f"error {p}", err=True)
        fail("nothing was loaded")
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

    with session_scope(migrated_engine()) as session:
        rows = versions(session, code)
        ends = effective_ends(rows)
        items = [tariff_json(r, ends.get(r.id or 0)) for r in rows]
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for item in items:
        typer.echo(f"{item['id']:<42} {item['kind']:<6} {item['effective_from']} → {item['effective_to'] or '…':<10} "
                   f"{item['source']}")
