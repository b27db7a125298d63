#!/usr/bin/env python
"""Generate a synthetic city portfolio (institutions, ESCOs, contracts, meters, readings) into a database.

Seeded and deterministic; every code starts with SYN-. The database is migrated first. A database that
already holds a synthetic portfolio is refused (generate into a fresh one).

    .venv/bin/python scripts/gen_portfolio.py --db sqlite:////tmp/wuxi.db
    .venv/bin/python scripts/gen_portfolio.py --institutions 40 --contracts 15 --meters 120 --years 1
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from time import perf_counter

import emc.wiring  # noqa: F401  (scope rules and cross-domain answers for the services it drives)


def main(argv: list[str] | None = None) -> int:
    from emc.demo.spec import PortfolioSpec

    d = PortfolioSpec()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: from the emc settings: EMC_DATABASE_URL, "
                                     "else the SQLite file in the data dir)")
    parser.add_argument("--institutions", type=int, default=d.institutions, help=f"default {d.institutions}")
    parser.add_argument("--contracts", type=int, default=d.contracts, help=f"default {d.contracts}")
    parser.add_argument("--meters", type=int, default=d.meters, help=f"target, default {d.meters}")
    parser.add_argument("--years", type=int, default=d.years, help=f"years of readings, default {d.years}")
    parser.add_argument("--start", type=date.fromisoformat, default=d.start,
                        help=f"first day of readings, YYYY-MM-DD, default {d.start}")
    parser.add_argument("--interval", choices=["daily", "hourly", "monthly", "none"], default=d.interval,
                        help=f"reading interval, default {d.interval}")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    parser.add_argument("--city", default=d.city, help=f"GB/T 2260 city code, default {d.city} (Wuxi)")
    parser.add_argument("--no-weather", action="store_true",
                        help="no weather station (its contracts' weather-normalised baselines cannot be fitted)")
    parser.add_argument("--settle-monthly", action="store_true",
                        help="benchmark shape: every contract settles monthly from one year into the window")
    args = parser.parse_args(argv)

    from emc.db import make_engine, session_scope, upgrade
    from emc.demo.portfolio import SyntheticError, generate

    if args.db is None:
        from emc.config import get_settings

        args.db = get_settings().db_url
    try:
        spec = PortfolioSpec(institutions=args.institutions, contracts=args.contracts, meters=args.meters,
                             years=args.years, start=args.start, interval=args.interval, seed=args.seed,
                             city=args.city, weather=not args.no_weather, settle_monthly=args.settle_monthly)
    except ValueError as exc:
        parser.error(str(exc))
    engine = make_engine(args.db)
    t0 = perf_counter()
    upgrade(engine)
    t1 = perf_counter()
    try:
        with session_scope(engine) as session:
            summary = generate(session, spec, actor="gen_portfolio")
            t2 = perf_counter()
    except SyntheticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t3 = perf_counter()
    print(f"database {engine.url.render_as_string(hide_password=True)} (migrated in {t1 - t0:.1f} s)")
    for line in summary.lines():
        print(line)
    print(f"commit {t3 - t2:.1f} s; total {t3 - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
