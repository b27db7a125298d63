"""Scheduled settlement work, by stable import path (a renamed function would orphan its stored job)."""

from __future__ import annotations

from emc import clock
from emc.db import get_engine, session_scope
from emc.settlement import corrections, ledger, workflow


def flag_and_trace() -> list[str]:
    """After the nightly drafting (emc.jobs.drafting_pool.scheduled_drafts): flag approved settlements whose data
    changed, and record the sources of any approved before their sources were recorded."""
    from emc.settlement import provenance

    with session_scope(get_engine()) as session:
        flagged = corrections.flag_changed(session)
        provenance.record_missing(session)
    return flagged


def remind() -> list[str]:
    """Record in the audit log, once a day, the settlements overdue for approval or payment (the pages show
    them live), and any breach of the money ledger's invariants (ledger.ledger_problems)."""
    from emc.audit import service as audit
    from emc.org.scope import Scope

    with session_scope(get_engine()) as session:
        due = workflow.reminders(session, Scope.everything(), clock.today())
        if due:
            audit.record(session, actor="scheduler", action="settlement.reminder", object_type="job",
                         object_id="remind", after={"overdue": [f"{r.number}: {r.waiting_for} +{r.days} d"
                                                               for r in due[:100]]})
        problems = ledger.ledger_problems(session)
        if problems:
            audit.record(session, actor="scheduler", action="ledger.problems", object_type="job",
                         object_id="remind", after={"problems": problems[:100], "count": len(problems)})
    return [r.number for r in due]
