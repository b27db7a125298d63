#!/usr/bin/env python3
"""Benchmark: the carbon ledger at Wuxi scale — rebuilding the city ledger (415 institutions, three years of
monthly readings, a settled month for every contract utility since it began) and computing the city dashboard's
data in one call — against the targets of issue 7 (rebuild < 10 s, dashboard < 200 ms server time).

    python scripts/bench_carbon.py                                   # SQLite, 415 institutions, 3 years monthly
    python scripts/bench_carbon.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python scripts/bench_carbon.py --interval daily                  # the same from daily readings (heavier)
    python scripts/bench_carbon.py --institutions 60 --contracts 30 --meters 300   # quick look

The portfolio is emc.demo.portfolio's (seeded, deterministic). Settlements are not computed by the settlement engine
here (that is bench_settlement.py's job): each contract gets one approved monthly settlement per month since its
start, every utility saving 10 % of its meters' use, so the ledger has the Wuxi-scale number of savings to attribute.
The machine's load average is printed before and after: other work on the machine slows every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import emc.wiring  # noqa: F401  (scope rules and cross-domain answers for the services it drives)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REBUILD_TARGET_S = 10.0
DASHBOARD_TARGET_MS = 200.0


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def _postgres_db(url: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"emc_bench_carbon_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return base.set(database=name).render_as_string(hide_password=False), (admin, name)


def _drop_postgres(handle: object) -> None:
    from sqlalchemy import text

    admin, name = handle  # type: ignore[misc]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _settlements(session, end: date) -> int:  # type: ignore[no-untyped-def]
    """One approved monthly settlement per contract and month since it began, each utility saving 10 %."""
    from sqlalchemy import insert, select

    from emc.carbon.reads import inputs
    from emc.contracts.models import Contract
    from emc.settlement.models import Settlement

    contracts = inputs.contracts(session)
    months = inputs.meter_months(session, date(2000, 1, 1), end)
    use: dict[tuple[int, date], Decimal] = {}
    for m in months:
        use[(m.meter_id, m.month)] = m.quantity
    all_months = sorted({m.month for m in months})
    codes = dict(session.execute(select(Contract.id, Contract.code)).all())
    rows = []
    for c in contracts.values():
        for month in all_months:
            if month < c.start.replace(day=1):
                continue
            inputs = {"contract": codes[c.id]}
            for utility, meters in sorted(c.meters.items()):
                total = sum((use.get((m, month), Decimal(0)) for m in meters), Decimal(0))
                if utility != "pv" and total:
                    inputs[f"savings.{utility}.savings"] = str((total / 9).quantize(Decimal("0.001")))  # 10 % saved
            if len(inputs) == 1:
                continue
            following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            rows.append({"number": f"{codes[c.id]}-{month:%Y%m}", "contract_id": c.id, "period_start": month,
                         "period_end": following, "contract_year": 1, "version": 1, "kind": "period",
                         "status": "approved", "inputs": inputs, "state_after": {}, "warnings": [],
                         "created_by": "bench", "to_esco": Decimal("0.00"), "from_esco": Decimal("0.00"),
                         "net_to_esco": Decimal("0.00")})
    for i in range(0, len(rows), 5000):
        session.execute(insert(Settlement), rows[i:i + 5000])
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--institutions", type=int, default=415)
    parser.add_argument("--contracts", type=int, default=200)
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--interval", choices=("monthly", "daily"), default="monthly")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL: benchmark there (a throwaway "
                                                       "database is created and dropped)")
    parser.add_argument("--db", default="", help="an SQLite URL to keep (default: a temporary file)")
    parser.add_argument("--repeat", type=int, default=20, help="dashboard calls to time (median reported)")
    args = parser.parse_args()

    from sqlalchemy import func, select
    from sqlmodel import Session

    from emc.carbon import alerts, ledger, loading
    from emc.carbon.models import CarbonEntry
    from emc.carbon.reads import dashboard
    from emc.db import make_engine, upgrade
    from emc.demo import portfolio as synthetic
    from emc.demo.spec import PortfolioSpec
    from emc.org.scope import Scope

    print(f"start: {_load()}")
    handle = None
    if args.postgres:
        url, handle = _postgres_db(args.postgres)
    else:
        url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='emc-bench-carbon-')}/bench.db"
    engine = make_engine(url)
    try:
        upgrade(engine)
        spec = PortfolioSpec(institutions=args.institutions, contracts=args.contracts, meters=args.meters,
                                       years=args.years, interval=args.interval, seed=7)
        t0 = time.perf_counter()
        with Session(engine) as s:
            summary = synthetic.generate(s, spec)
            n_settlements = _settlements(s, spec.end)
            loading.load_seed(s, actor="bench")
            s.commit()
        print(f"portfolio ({engine.dialect.name}): {summary.institutions} institutions, {summary.meters} meters, "
              f"{summary.readings:,} {args.interval} readings, {n_settlements:,} approved settlements; "
              f"built in {time.perf_counter() - t0:.0f} s")

        years = list(range(spec.start.year, spec.end.year))
        with Session(engine) as s:
            t0 = time.perf_counter()
            first = ledger.rebuild(s, years=years, actor="bench")
            s.commit()
            t_first = time.perf_counter() - t0
        with Session(engine) as s:
            t0 = time.perf_counter()
            again = ledger.rebuild(s, years=years, actor="bench")
            s.commit()
            t_again = time.perf_counter() - t0
            entries = s.execute(select(func.count()).select_from(CarbonEntry)).scalar_one()
        print(f"ledger rebuild, {len(years)} years: first {t_first:.2f} s ({first.bookings:,} bookings written, "
              f"{len(first.overlaps)} overlaps, {len(first.problems)} problems); again {t_again:.2f} s "
              f"({again.unchanged:,} unchanged, {again.added + again.recomputed + again.restated} written); "
              f"{entries:,} entries")
        print(f"  target < {REBUILD_TARGET_S:.0f} s: first rebuild uses {t_first / REBUILD_TARGET_S:.0%} of it "
              f"({REBUILD_TARGET_S / t_first:.1f}× headroom)")

        last = years[-1]
        with Session(engine) as s:
            t0 = time.perf_counter()
            warned = alerts.raise_quota_warnings(s, today=date(last, 12, 1), actor="bench")
            s.commit()
            print(f"quota warnings through {warned.through}: {len(warned.raised)} raised from {warned.checked} "
                  f"checks in {time.perf_counter() - t0:.2f} s")
        scope = Scope.everything()
        states = ["just rebuilt"]
        if engine.dialect.name == "postgresql":
            states.append("after VACUUM (autovacuum's steady state)")
        for state in states:
            if state.startswith("after VACUUM"):
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM (ANALYZE) carbon_entry")
            times = []
            with Session(engine) as s:
                data = dashboard.city_dashboard(s, scope, region_code=spec.city, year=last, as_of=date(last + 1, 1, 15))
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    dashboard.city_dashboard(s, scope, region_code=spec.city, year=last, as_of=date(last + 1, 1, 15))
                    times.append((time.perf_counter() - t0) * 1000)
            median = statistics.median(times)
            print(f"city dashboard, {state} ({data['region']['institutions']} institutions, "
                  f"{len(data['districts'])} districts, {len(data['months'])} months, {len(data['targets'])} targets): "
                  f"median {median:.0f} ms, min {min(times):.0f} ms, max {max(times):.0f} ms over {args.repeat} calls")
            print(f"  target < {DASHBOARD_TARGET_MS:.0f} ms: the median uses {median / DASHBOARD_TARGET_MS:.0%} of it "
                  f"({DASHBOARD_TARGET_MS / median:.1f}× headroom)")
    finally:
        engine.dispose()
        if handle is not None:
            _drop_postgres(handle)
    print(f"end: {_load()}")


if __name__ == "__main__":
    main()
