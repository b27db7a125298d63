#!/usr/bin/env python3
"""The M&V page's computation, fresh and from its stored result (issue 15), on a generated portfolio.

Takes the (contract, utility) with the most main meters, fits and approves its baseline when it has none,
and times what the M&V page does for it: the fresh computation (model predictions over the baseline period,
savings per month over the contract's data: what every view cost before), the first view (the same, and the
result stored) and a cached view (the stored result read under its fingerprint), with the SQL statements
each sends.

    python scripts/gen_portfolio.py --db postgresql://…/bench --contracts 8 --meters 1200 --years 3
    python scripts/bench_mv_cache.py --db postgresql://…/bench
"""

from __future__ import annotations

import argparse
from time import perf_counter

import emc.wiring  # noqa: F401  (scope rules for the services it drives)


def main() -> int:
    from sqlalchemy import delete, event, func, select
    from sqlmodel import Session

    from emc.baselines import results, service
    from emc.baselines.models import MVResult
    from emc.contracts.models import Contract, ContractMeter
    from emc.db import make_engine, session_scope
    from emc.metering.models import Meter

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True)
    p.add_argument("--repeat", type=int, default=5, help="cached views timed (default 5)")
    args = p.parse_args()
    engine = make_engine(args.db)
    with session_scope(engine) as session:
        pairs = session.execute(
            select(ContractMeter.contract_id, Meter.utility, func.count())
            .join(Meter, Meter.id == ContractMeter.meter_id)
            .where(Meter.sub_item == "total").group_by(ContractMeter.contract_id, Meter.utility)
            .order_by(func.count().desc())).all()
        for contract_id, utility, meters in pairs:  # the largest pair whose baseline period has data
            contract = session.get(Contract, contract_id)
            assert contract is not None
            if service.approved(session, contract, utility) is not None:
                break
            savepoint = session.begin_nested()
            try:
                started = perf_counter()
                service.approve(session, service.fit(session, contract, utility, actor="bench"), actor="bench",
                                reason="approved for the M&V cache benchmark")
                savepoint.commit()
                print(f"fitted and approved {contract.code} {utility}: {perf_counter() - started:.2f} s")
                break
            except ValueError as exc:
                savepoint.rollback()
                print(f"{contract.code} {utility} ({meters} meters) cannot be fitted: {exc}")
        session.execute(delete(MVResult))
    statements = [0]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))

    def timed(what: str, run: object) -> None:
        statements[0] = 0
        started = perf_counter()
        run()  # type: ignore[operator]
        print(f"{what:<32} {(perf_counter() - started) * 1000:8.1f} ms  {statements[0]:3d} statements")

    with Session(engine) as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        versions, adjustments = service.versions(session, contract, utility), service.adjustments(session, contract,
                                                                                                    utility)
        print(f"{contract.code} {utility}: {meters} main meters")
        timed("fresh computation (every view before)",
              lambda: results.compute(session, contract, utility, versions[0], versions[0]))
        timed("first view (computed + stored)",
              lambda: results.page_result(session, contract, utility, versions, adjustments, writer=engine))
        for i in range(args.repeat):
            timed(f"cached view {i + 1}",
                  lambda: results.page_result(session, contract, utility, versions, adjustments, writer=engine))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
