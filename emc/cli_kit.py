"""What every command module shares: refuse with a message and an exit code, the migrated engine, ``--json``.

It sits with the kernel (typer and emc.db only), so a domain's own commands (emc/carbon/cli.py) use it without
importing the assembler in emc/cli/ that sits above every domain.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, NoReturn

import typer
from dateutil.relativedelta import relativedelta
from sqlalchemy.engine import Engine

from emc.db import NotMigratedError, check_migrated, get_engine

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """Say why on stderr and leave with ``code`` (1: refused; 2: the database is not migrated)."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def migrated_engine() -> Engine:
    """The configured database's engine, or exit 2 when its schema is not at the code's revision."""
    engine = get_engine()
    try:
        check_migrated(engine)
    except NotMigratedError as exc:
        fail(str(exc), 2)
    return engine


def parse_period(text: str) -> tuple[date, date]:
    """``YYYY-MM``, ``YYYY`` or ``START..END`` (ISO dates) as the first and last day; anything else exits 1."""
    try:
        if ".." in text:
            a, b = text.split("..", 1)
            return date.fromisoformat(a), date.fromisoformat(b)
        if len(text) == 7:
            first = date(int(text[:4]), int(text[5:]), 1)
            return first, first + relativedelta(day=31)
        if len(text) == 4:
            return date(int(text), 1, 1), date(int(text), 12, 31)
    except ValueError:
        pass
    fail(f"--period {text!r}: use YYYY-MM, YYYY or YYYY-MM-DD..YYYY-MM-DD")
