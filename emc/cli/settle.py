"""`emc settle`: draft one contract period's settlements, everything due, or check the money ledger."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlmodel import Session

from emc import clock
from emc.cli.lookups import contract_by_code
from emc.cli_kit import JsonOpt, fail, migrated_engine, parse_period
from emc.db import session_scope


def settle(
    contract: Annotated[str | None, typer.Argument(help="contract code (omit with --due)")] = None,
    period: Annotated[str | None, typer.Option(help="YYYY-MM: the period containing this month")] = None,
    due: Annotated[bool, typer.Option("--due", help="draft every period that has ended, for every contract")] = False,
    today: Annotated[str | None, typer.Option(help="as if today were YYYY-MM-DD (with --due)")] = None,
    check: Annotated[bool, typer.Option("--check", help="check the money ledger's invariants (nets to zero, "
                                        "each posting once, payments in force); exit 1 on any")] = False,
    workers: Annotated[int, typer.Option(min=1, help="with --due on PostgreSQL: contracts drafted by this many "
                                         "processes at once (default 1)")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Draft settlements: one contract period, or everything due (the scheduler's job, by hand)."""
    engine = migrated_engine()
    with session_scope(engine) as session:
        if check:
            _check_ledger(session, as_json)
        elif due:
            _draft_due(session, engine, today, as_json, workers)
        elif not contract or not period:
            fail("give CONTRACT and --period YYYY-MM, or --due")
        else:
            _draft_period(session, contract, period, as_json)


def _check_ledger(session: Session, as_json: bool) -> None:
    from emc.settlement import ledger

    problems = ledger.ledger_problems(session)
    typer.echo(json.dumps(problems, ensure_ascii=False, indent=2) if as_json else
               "\n".join(problems) or "ledger: no problems")
    if problems:
        raise typer.Exit(1)


def _draft_due(session: Session, engine: Engine, today: str | None, as_json: bool, workers: int) -> None:
    from emc.jobs.drafting_pool import run_due_pooled
    from emc.settlement import corrections

    # the drafting commits contract by contract on its own connections; the flags and inboxes follow here
    report = run_due_pooled(engine, date.fromisoformat(today) if today else clock.today(), actor="cli",
                            workers=workers)
    flagged = corrections.flag_changed(session)
    _notify(session, report.created + flagged)
    out = {**report.as_dict(), "flagged": flagged}
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    typer.echo(f"drafted {len(report.created)}: {', '.join(report.created) or '—'}")
    for w in report.waiting:
        typer.echo(f"waiting: {w}")
    for f in flagged:
        typer.echo(f"flagged (data changed after approval): {f}")


def _notify(session: Session, numbers: list[str]) -> None:
    """The inboxes of the settlements just drafted (or flagged) brought in line in the drafting's transaction, as
    a page's action does (emc.web.routes.notify.after): a manager opening the inbox right after an operator ran
    the drafting by hand finds the drafts to submit, without waiting for the notifications job."""
    from sqlmodel import col, select

    from emc.notify import sync
    from emc.settlement.models import Settlement

    if not numbers:
        return
    session.flush()
    ids = list(session.exec(select(Settlement.id).where(col(Settlement.number).in_(numbers))))
    sync.sync(session, clock.today(), sync.Subjects.only(settlement=[i for i in ids if i is not None]))


def _draft_period(session: Session, contract: str, period: str, as_json: bool) -> None:
    from emc.settlement import drafting, records
    from emc.settlement.core.controls import SettlementError

    start, _ = parse_period(period)
    c = contract_by_code(session, contract)
    try:
        rows = drafting.draft(session, c, start, actor="cli")
    except SettlementError as exc:
        fail(str(exc))
    _notify(session, [r.number for r in rows])
    if as_json:
        typer.echo(json.dumps([records.as_json(session, r) for r in rows], ensure_ascii=False, indent=2))
        return
    for r in rows:
        typer.echo(f"{r.number} [{r.status}] {r.period_start}..{r.period_end} to ESCO {r.to_esco:,} "
                   f"from ESCO {r.from_esco:,} net {r.net_to_esco:,} CNY")
        for line in records.lines_of(session, r):
            typer.echo(f"  {line.payer}→{line.payee} {line.amount:>14,} {line.formula}")
