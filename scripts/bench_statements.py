#!/usr/bin/env python3
"""Benchmark: PDF statements for a month of 415 approved settlements — rendered one by one on one core, and the
whole period issued through the real issue-period service and taken away as finance's zip (PDFs + XLSX summary).

    python scripts/bench_statements.py                        # 415 statements, SQLite in a temporary folder
    python scripts/bench_statements.py --db postgresql://postgres@127.0.0.1:5432/bench_statements
    python scripts/bench_statements.py --statements 60        # a quick look
    python scripts/bench_statements.py --profile              # where the time goes (cProfile, top functions)

Targets (issue 6): at least 20 statements per second on one core; a 415-statement period issued in under 30 s.

The period: a synthetic Wuxi-scale portfolio (emc.demo.portfolio, every contract settling monthly from the same month)
whose first month is drafted by the settlement service, submitted and approved (inputs hashed, ledger posted) —
the real path — with one stand-in: the measured savings the service would read from approved baselines come
from each contract's baseline use (10 % saved), because fitting baselines on six years of readings is what
scripts/bench_settlement.py measures, not this.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import emc.wiring  # noqa: F401  (scope rules and cross-domain answers for the services it drives)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RENDER_TARGET = 20.0  # statements per second, one core
ISSUE_TARGET = 30.0  # seconds for a 415-statement period


def _stand_in_savings():  # type: ignore[no-untyped-def]
    """period_inputs.period_data without baselines: each measured utility saves 10 % of its baseline month."""
    from emc.settlement import period_inputs
    from emc.settlement.core.inputs import PeriodData, UtilitySavings

    def period_data(session, contract, period, utilities, *args, **kwargs):  # type: ignore[no-untyped-def]
        spec = period_inputs.terms(session, contract)[-1].terms
        use = spec.baseline.use if spec.baseline is not None else {}
        share = Decimal((period.end - period.start).days) / Decimal(365)
        figures = []
        for utility in utilities:
            adjusted = (Decimal(use.get(utility, 0) or 100_000) * share).quantize(Decimal("0.001"))
            actual = (adjusted * Decimal("0.9")).quantize(Decimal("0.001"))
            figures.append(UtilitySavings(utility, adjusted_baseline=adjusted, actual=actual,
                                          uncertainty=(adjusted * Decimal("0.02")).quantize(Decimal("0.001")),
                                          confidence=0.68, source=f"benchmark stand-in {utility}"))
        return PeriodData(period, savings=tuple(figures))

    return period_data


def build_period(engine, count: int, seed: int) -> tuple[str, int, dict[str, int]]:  # type: ignore[no-untyped-def]
    """Generate the portfolio, draft + submit + approve the first month of enough contracts; return the month,
    the number approved and why others were left out (a lessor line, nothing to settle, the service waits)."""
    from sqlalchemy import select
    from sqlmodel import Session

    from emc.contracts.models import Contract
    from emc.demo import portfolio as synthetic
    from emc.demo.spec import PortfolioSpec, add_months
    from emc.settlement import drafting, workflow
    from emc.settlement.core.controls import SettlementError

    contracts = count + count // 4 + 10  # lease contracts are left out; a margin for them
    spec = PortfolioSpec(institutions=max(415, contracts), contracts=contracts, meters=0, years=2,
                                   interval="none", seed=seed, settle_monthly=True)
    month = add_months(spec.start.replace(day=1), 12)  # settle_monthly: every contract starts here
    with Session(engine) as s:
        synthetic.generate(s, spec, actor="bench")
        s.commit()
    real = drafting.period_data  # drafting reads the period's savings through this name
    drafting.period_data = _stand_in_savings()  # type: ignore[assignment]
    approved = 0
    left_out: dict[str, int] = {}
    try:
        with Session(engine) as s:
            for contract in s.execute(select(Contract).order_by(Contract.code)).scalars():
                if approved == count:
                    break
                try:
                    rows = drafting.draft(s, contract, month, actor="bench")
                except SettlementError as exc:
                    reason = f"the service waits ({type(exc).__name__})"
                    left_out[reason] = left_out.get(reason, 0) + 1
                    continue
                row = rows[0]
                workflow.transition(s, row, "submit", actor="bench")
                workflow.transition(s, row, "approve", actor="bench-approver")  # four eyes
                approved += 1
            s.commit()
    finally:
        drafting.period_data = real  # type: ignore[assignment]
    return f"{month:%Y-%m}", approved, left_out


def time_rendering(engine, month: str, profile: bool) -> tuple[int, float, float, float, int]:  # type: ignore[no-untyped-def]
    """Every approved statement of the month rendered one by one (database reads included), in one process."""
    from sqlmodel import Session

    from emc.org.scope import Scope
    from emc.reports import statement as st
    from emc.settlement import exports, statements
    from emc.settlement.models import Settlement, SettlementStatus

    with Session(engine) as s:
        rows = [r[0] for r in exports.month_statements(s, Scope.everything(), month,
                                                        [Settlement.status == SettlementStatus.approved])]
        statements.render(s, rows[0])  # font registration and imports are not per statement
        built = 0.0
        pages = 0
        profiler = cProfile.Profile() if profile else None
        t0, c0 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for row in rows:
            t1 = time.perf_counter()
            data = statements.build(s, row)
            built += time.perf_counter() - t1
            pdf = st.render_statement(data)
            pages += pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page")
        if profiler:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
        print(out.getvalue())
    return len(rows), elapsed, cpu, built, pages


def time_issue(engine, month: str) -> tuple[int, float, float, float, int, int]:  # type: ignore[no-untyped-def]
    """The manager issues the month (the issue-period service, committed), finance takes the zip."""
    from sqlmodel import Session

    from emc.org.scope import Scope
    from emc.settlement import exports

    scope = Scope.everything()
    with Session(engine) as s:
        t0, c0 = time.perf_counter(), time.process_time()
        issued = exports.issue_period(s, scope, month, actor="bench")
        s.commit()
        t_issue = time.perf_counter() - t0
        t1 = time.perf_counter()
        bundle = exports.period_bundle(s, scope, month)
        t_zip = time.perf_counter() - t1
        cpu = time.process_time() - c0
    files = len(zipfile.ZipFile(io.BytesIO(bundle)).namelist())
    return len(issued), t_issue, t_zip, cpu, files, len(bundle)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=415, help="approved settlements in the period (415)")
    parser.add_argument("--db", default="", help="database URL (default: SQLite in a temporary folder); "
                        "it must be empty — the benchmark writes a synthetic portfolio into it")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--profile", action="store_true", help="cProfile the one-by-one rendering")
    args = parser.parse_args(argv)

    import os

    from emc.db import make_engine, upgrade

    db = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='emc-bench-statements-')}/bench.db"
    engine = make_engine(db)
    upgrade(engine)
    load = os.getloadavg()
    print(f"database {engine.url.render_as_string(hide_password=True)}; {os.cpu_count()} cores, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start")

    t0 = time.perf_counter()
    month, approved, left_out = build_period(engine, args.statements, args.seed)
    why = ", ".join(f"{n} {reason}" for reason, n in left_out.items()) or "none"
    print(f"period {month}: {approved} approved settlements built in {time.perf_counter() - t0:.0f} s "
          f"(contracts left out: {why})")
    if approved < args.statements:
        print(f"  only {approved} of {args.statements}: the figures below are for {approved}")

    n, elapsed, cpu, built, pages = time_rendering(engine, month, args.profile)
    rate = n / elapsed
    print(f"(a) one by one, one core: {n} statements ({pages} pages) in {elapsed:.2f} s = {rate:.1f} statements/s "
          f"(target ≥ {RENDER_TARGET:.0f}/s: {rate / RENDER_TARGET:.2f}× the target); "
          f"reading the database {built:.2f} s ({built / elapsed:.0%}), laying out the PDF {elapsed - built:.2f} s; "
          f"CPU {cpu:.2f} s ({n / cpu:.1f} statements per CPU-second)")

    issued, t_issue, t_zip, cpu, files, size = time_issue(engine, month)
    total = t_issue + t_zip
    print(f"(b) issue the period: {issued} statements issued and committed in {t_issue:.2f} s, the month's zip "
          f"({files} files, {size / 1e6:.1f} MB) in {t_zip:.2f} s: {total:.2f} s in all "
          f"(target < {ISSUE_TARGET:.0f} s: {total / ISSUE_TARGET:.2f} of the budget); CPU {cpu:.2f} s")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    engine.dispose()


if __name__ == "__main__":
    main()
