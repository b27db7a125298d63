#!/usr/bin/env python3
"""Batch benchmark: the province-scale batch jobs on PostgreSQL, as issue 15 asks for them.

Builds (or restores from a cached backup, keyed by scale) a synthetic portfolio of ``--scale`` × Wuxi
(1× = 415 institutions, 200 contracts, 2,000 meters, three years of daily readings from 2021-01-01 ≈ 2.2 M
readings; 20× ≈ 44 M) in the benchmark shape where every contract settles monthly from one year into the
window (its first year is its baseline year). Then runs, each as its own ``emc`` process, timed, with the
process's peak resident memory (``os.wait4``: the largest of the process and the workers it waited for):

- all baselines fitted: ``emc baseline fit --all --workers 2`` (then approved, untimed);
- a month's settlement of every contract: ``emc settle --due --today 2022-02-01 --workers 2`` — the
  scheduler's job (with ``EMC_DRAFTING_WORKERS=2``) as of the day after every contract's first month ends, so
  each contract has exactly that one month due; then the next month by one process (``emc settle --due
  --today 2022-03-01``), the same work, with its ratio to the pool;
- a year's ledger rebuild: ``emc ledger rebuild --year 2022`` (the shipped factors loaded first, untimed).

The floor, measured in the same run: ``SELECT count(*) FROM reading`` (a sequential scan of every reading);
each job is printed as a multiple of that scan, so a slower machine moves both.

    pip install -e '.[bench]'
    python scripts/bench_scale.py --postgres postgresql://postgres@127.0.0.1:5432/test --scale 1
    python scripts/bench_scale.py --postgres … --scale 20       # the issue's size (≈ 44 M readings)

Targets (issue 15, at 20×): baselines < 5 min, the month's settlement < 60 s, the year's ledger < 60 s.
The backup of each built portfolio is kept in ``--cache`` (default ~/.cache/emc/bench) and restored next time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdb import EMC, cached_portfolio, fresh_database, run

ROOT = Path(__file__).resolve().parent.parent
START = "2021-01-01"  # the readings' window: 2021–2023; contracts settle monthly from 2022-01
MONTH_DUE = "2022-02-01"  # the day after the first settlement month: one month due per contract
NEXT_MONTH_DUE = "2022-03-01"  # then the next one, drafted by a pool of processes (emc settle --workers)
LEDGER_YEAR = "2022"
TARGETS = {"baselines fitted": 300.0, "month settled": 60.0, "year's ledger": 60.0}


def timed(*args: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Seconds and peak resident MiB of one process (the largest of it and the children it reaped: the
    fitting workers), and its last output line."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(args), env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (resource.RUSAGE_CHILDREN sums all)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, problems = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:6])}… failed ({proc.returncode}):\n{text[-2000:]}\n{problems[-2000:]}")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return seconds, usage.ru_maxrss / 1024, (lines[-1] if lines else "")[:100]


def spec_of(scale: float):  # type: ignore[no-untyped-def]
    from datetime import date

    from emc.demo.spec import PortfolioSpec

    n = lambda base: max(1, round(base * scale))  # noqa: E731
    return PortfolioSpec(institutions=n(415), contracts=n(200), meters=n(2000), years=3,
                         start=date.fromisoformat(START), settle_monthly=True)


def build(url: str, scale: float, env: dict[str, str]) -> str:
    spec = spec_of(scale)
    t0 = time.perf_counter()
    out = run(sys.executable, str(ROOT / "scripts" / "gen_portfolio.py"), "--db", url, "--institutions",
              str(spec.institutions), "--contracts", str(spec.contracts), "--meters", str(spec.meters),
              "--years", str(spec.years), "--start", START, "--settle-monthly", env=env)
    return (" ".join(line.strip() for line in out.strip().splitlines()[-4:])
            + f" — generated (with its weather station) in {time.perf_counter() - t0:.0f} s")


def approve_all(url: str) -> int:
    """Every proposed baseline approved (the settlement needs one per contract utility); not timed."""
    from sqlalchemy import select
    from sqlmodel import col

    import emc.wiring  # noqa: F401  (scope rules and cross-domain answers)
    from emc.baselines import service as baselines
    from emc.baselines.models import Baseline, BaselineStatus
    from emc.db import make_engine, session_scope

    engine = make_engine(url)
    n = 0
    with session_scope(engine) as session:
        for b in session.execute(select(Baseline).where(col(Baseline.status) == BaselineStatus.proposed)).scalars():
            baselines.approve(session, b, actor="bench", reason="bench: approved as fitted")
            n += 1
    engine.dispose()
    return n


def floor(url: str) -> tuple[int, float]:
    """Readings and the seconds of a sequential scan of them (the best of three, after a warm-up)."""
    from sqlalchemy import text

    from emc.db import make_engine

    engine = make_engine(url)
    best = float("inf")
    with engine.connect() as conn:
        conn.execute(text("SET max_parallel_workers_per_gather = 0"))  # one core, like each job's process
        for _ in range(4):
            t0 = time.perf_counter()
            rows = conn.execute(text("SELECT count(*) FROM reading")).scalar_one()
            best = min(best, time.perf_counter() - t0)
    engine.dispose()
    return int(rows), best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres", required=True, help="URL of a server whose user may create databases")
    p.add_argument("--scale", type=float, default=20.0, help="× Wuxi (default 20)")
    p.add_argument("--workers", type=int, default=2, help="baseline fitting and drafting processes (default 2)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "emc" / "bench")
    p.add_argument("--rebuild", action="store_true", help="ignore a cached backup")
    p.add_argument("--keep", action="store_true", help="leave the database for a look afterwards")
    args = p.parse_args()

    name = f"emc_bench_scale_{str(args.scale).replace('.', '_')}"
    url = fresh_database(args.postgres, name)
    env = {**os.environ, "EMC_DATABASE_URL": url, "EMC_SECRET_KEY": "bench-" + "x" * 40}
    _, how = cached_portfolio(env, args.cache, name, lambda: build(url, args.scale, env), rebuild=args.rebuild)
    print(how)

    run(*EMC, "factors", "load", env=env)  # the shipped factors and ledger settings (the ledger needs them)
    readings, scan = floor(url)
    print(f"floor: SELECT count(*) over {readings:,} readings in {scan:.2f} s ({readings / scan / 1e6:.1f} M rows/s)")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results: list[tuple[str, float, float, str]] = []
    s, mem, last = timed(*EMC, "baseline", "fit", "--all", "--workers", str(args.workers), env=env)
    results.append(("baselines fitted", s, mem, last))
    print(f"baselines fitted in {s:.1f} s, peak {mem:.0f} MiB: {last}", flush=True)
    print(f"approved {approve_all(url)} baselines")
    # the month as the scheduler drafts it with EMC_DRAFTING_WORKERS=--workers (the target), then the next month
    # (the same work: one month per contract) in one process, against it
    s, mem, last = timed(*EMC, "settle", "--due", "--today", MONTH_DUE, "--workers", str(args.workers), env=env)
    results.append(("month settled", s, mem, last))
    print(f"month settled by {args.workers} processes in {s:.1f} s, peak {mem:.0f} MiB: {last}", flush=True)
    s, mem, last = timed(*EMC, "settle", "--due", "--today", NEXT_MONTH_DUE, env=env)
    results.append(("next, 1 process", s, mem, last))
    print(f"next month settled by one process in {s:.1f} s ({s / results[-2][1]:.2f}× the pool's time), "
          f"peak {mem:.0f} MiB: {last}", flush=True)
    s, mem, last = timed(*EMC, "ledger", "rebuild", "--year", LEDGER_YEAR, env=env)
    results.append(("year's ledger", s, mem, last))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    print(f"\n{args.scale:g}× Wuxi on PostgreSQL: {readings:,} readings; floor (count(*) scan) {scan:.2f} s")
    print(f"{'job':<18} {'seconds':>9} {'target':>8} {'met':>4} {'× floor':>8} {'peak MiB':>9}  output")
    for job, s, mem, last in results:
        target = TARGETS.get(job, TARGETS["month settled"])
        print(f"{job:<18} {s:>9.1f} {target:>8.0f} {'yes' if s < target else 'NO':>4} {s / scan:>8.0f} "
              f"{mem:>9.0f}  {last}")
    if not args.keep:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        admin = create_engine(make_url(args.postgres).set(drivername="postgresql+psycopg"),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
