#!/usr/bin/env python3
"""Benchmark: settling a Wuxi-scale portfolio on SQLite — one month for every contract, and back-settling
every period since the contracts began — with the time split between reading data (readings, weather and
the M&V savings behind each period) and computing (the settlement engine and storing its lines).

    python scripts/bench_settlement.py                         # 415 institutions, 200 contracts, 6 years daily
    python scripts/bench_settlement.py --contracts 30 --institutions 60 --meters 300 --years 3   # quick look
    python scripts/bench_settlement.py --monthly               # exactly 200 × 60 = 12,000 contract-months

The default portfolio mixes monthly, quarterly and annual contracts with staggered starts (some wait for
data); ``--monthly`` makes every contract settle monthly from one year into the window (its baseline year)
to the end, and back-settles all of it: contracts × 12 × (years − 1) contract-months.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

import emc.wiring  # noqa: F401  (scope rules and cross-domain answers for the services it drives)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Clock:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, module, name: str, label: str) -> None:  # type: ignore[no-untyped-def]
        original = getattr(module, name)

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[label] = self.spent.get(label, 0.0) + time.perf_counter() - t0

        setattr(module, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--institutions", type=int, default=415)
    parser.add_argument("--contracts", type=int, default=200)
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--years", type=int, default=6)
    parser.add_argument("--db", default="")
    parser.add_argument("--monthly", action="store_true",
                        help="every contract monthly over the whole window; back-settle all of it")
    args = parser.parse_args()

    from sqlalchemy import insert, select, update
    from sqlmodel import Session

    from emc.baselines import service as baselines
    from emc.contracts.models import Contract
    from emc.db import make_engine, upgrade
    from emc.demo import portfolio as synthetic
    from emc.demo.spec import PortfolioSpec
    from emc.metering.models import WeatherObservation, WeatherStation
    from emc.org.models import Institution
    from emc.settlement import drafting, period_inputs
    from emc.settlement.core import engine as settle_engine

    db = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='emc-bench-settle-')}/bench.db"
    eng = make_engine(db)
    upgrade(eng)
    spec = PortfolioSpec(institutions=args.institutions, contracts=args.contracts, meters=args.meters,
                                   years=args.years, interval="daily", seed=11,
                                   settle_monthly=args.monthly)
    t0 = time.perf_counter()
    with Session(eng) as s:
        summary = synthetic.generate(s, spec)
        climate = synthetic.plan(spec, "无锡市", {}).climate
        station = WeatherStation(code="SYN-WX", name="synthetic")
        s.add(station)
        s.flush()
        tz = ZoneInfo("Asia/Shanghai")
        s.execute(insert(WeatherObservation), [
            {"station_id": station.id, "period_start": datetime.combine(d.date(), dtime(), tz),
             "period_end": datetime.combine(d.date() + timedelta(days=1), dtime(), tz), "temperature_c": float(t)}
            for d, t in zip(climate.days, climate.temperature, strict=True)])
        s.execute(update(Institution).values(weather_station="SYN-WX"))
        s.commit()
    print(f"portfolio: {summary} in {time.perf_counter() - t0:.0f} s")

    t0 = time.perf_counter()
    fitted = failed = 0
    with Session(eng) as s:
        for contract in s.execute(select(Contract)).scalars():
            for utility in period_inputs.savings_utilities(period_inputs.terms(s, contract)):
                try:
                    b = baselines.fit(s, contract, utility, actor="bench")
                    baselines.approve(s, b, actor="bench", reason="benchmark: synthetic baseline approved as fitted")
                    fitted += 1
                except Exception:  # noqa: BLE001  (a disqualified baseline leaves its contract waiting)
                    failed += 1
        s.commit()
    print(f"baselines: {fitted} approved, {failed} not usable, in {time.perf_counter() - t0:.0f} s")

    clock = Clock()
    clock.wrap(drafting, "period_data", "reading data (readings, weather, M&V savings)")
    clock.wrap(drafting, "_reporting_cache", "reading data (readings, weather, M&V savings)")
    clock.wrap(settle_engine, "settle_period", "computing (settlement engine)")
    clock.wrap(settle_engine, "settle_contract_year", "computing (settlement engine)")
    end = spec.end
    last_month = date(end.year, end.month, 1) - timedelta(days=1)
    cutoff = date(last_month.year, last_month.month, 1)  # everything ending before the last month
    if args.monthly:
        cutoff = end  # the whole window: contracts × 12 × (years − 1) contract-months
    with Session(eng) as s:
        t0 = time.perf_counter()
        back = drafting.run_due(s, cutoff, actor="bench")
        s.commit()
        t_back = time.perf_counter() - t0
    back_periods = len([n for n in back.created if not n.endswith("Y")])
    print(f"back-settle to {cutoff}: {len(back.created):,} settlements ({back_periods:,} contract periods) in "
          f"{t_back:.1f} s; {len(back.waiting)} contracts waiting (target: 12,000 contract-months < 120 s)")
    spent_back = dict(clock.spent)
    if args.monthly:
        total = sum(spent_back.values()) or 1
        rest = t_back - sum(spent_back.values())
        print(f"  {back_periods / t_back:.0f} contract-months/s; " + ", ".join(
            f"{k} {v:.1f} s ({v / t_back:.0%})" for k, v in spent_back.items())
            + f", storing settlements, lines and audit and the job's bookkeeping {rest:.1f} s ({rest / t_back:.0%})")
        print(f"  ratio to the target: {t_back / 120:.2f} of 120 s")
        return
    clock.spent.clear()
    with Session(eng) as s:
        t0 = time.perf_counter()
        month = drafting.run_due(s, date(end.year, end.month, 1), actor="bench")
        s.commit()
        t_month = time.perf_counter() - t0
    print(f"one month ({last_month:%Y-%m}) for the portfolio: {len(month.created):,} settlements in {t_month:.2f} s "
          "(target < 10 s)")
    for label, spent in ((f"back-settle {t_back:.1f} s", spent_back), (f"one month {t_month:.2f} s", clock.spent)):
        total = sum(spent.values()) or 1
        parts = ", ".join(f"{k} {v:.1f} s ({v / total:.0%} of measured)" for k, v in spent.items())
        print(f"  {label}: {parts}")


if __name__ == "__main__":
    main()
