"""The ``emc`` command, assembled from each area's command module. Each command is a thin wrapper over a
service and commits, or changes nothing.

The modules here sit above every domain; a domain may keep its own commands (emc/carbon/cli.py) as long as
they import only below themselves (the shared kit is emc/cli_kit.py). The order below is the order ``emc --help``
lists them in.
"""

from __future__ import annotations

import typer

import emc.wiring  # noqa: F401  (installs the scope rules: the CLI is a shell)
from emc.carbon.cli import app as carbon_app
from emc.cli.baselines import baseline_app, savings_cmd
from emc.cli.contracts import contracts_app
from emc.cli.imports import meters_app, weather_app
from emc.cli.ops import db_app, demo, scheduler_cmd, serve
from emc.cli.org import regions_app, users_app
from emc.cli.settle import settle
from emc.cli.tariffs import tariffs_app

app = typer.Typer(help="emc: contracts, meters, savings, settlements and ledgers for public institutions.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(db_app, name="db")
app.add_typer(contracts_app, name="contracts")
app.add_typer(users_app, name="users")
app.add_typer(regions_app, name="regions")
app.add_typer(meters_app, name="meters")
app.add_typer(weather_app, name="weather")
app.add_typer(baseline_app, name="baseline")
app.add_typer(tariffs_app, name="tariffs")
app.add_typer(carbon_app)  # emc factors …, emc ledger …
app.command("savings")(savings_cmd)
app.command()(settle)
app.command()(demo)
app.command()(serve)
app.command("scheduler")(scheduler_cmd)
