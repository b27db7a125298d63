#!/usr/bin/env python3
"""Where `emc settle --due` spends its time: the job run in this process against ``EMC_DATABASE_URL`` (a
portfolio left by ``scripts/bench_scale.py --keep``, say), with every SQL statement counted by kind and the
time inside the database driver, then the phases of the drafting (cProfile, cumulative seconds).

    EMC_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/emc_bench_scale_1_0 \\
        python scripts/profile_settle.py --today 2022-04-01

It drafts for real (as the CLI does): run it on a copy, with a ``--today`` whose month is not yet drafted.
A diagnosis, not a benchmark: cProfile slows Python down, so compare its phases with each other only.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import time
from collections import Counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# the drafting's phases, by the function that starts each (module path fragment, function name)
PHASES = [
    ("emc/settlement/due_plan.py", "plan", "a chunk's reads (terms, stamps, settlements, M&V data)"),
    ("emc/baselines/series_bulk.py", "load_many", "  in it: readings and weather loaded and assembled"),
    ("emc/settlement/draft_stamp.py", "inputs_stamps", "  in it: the inputs' stamps"),
    ("emc/settlement/drafting.py", "_draft_contract", "one contract's transaction, all of it"),
    ("emc/baselines/service.py", "month", "  in it: savings computed (once per contract and utility)"),
    ("emc/settlement/drafting.py", "_recompute_changed", "  still-draft periods recomputed and compared"),
    ("emc/settlement/drafting.py", "compute_period", "  period inputs and engine (new and recomputed)"),
    ("emc/settlement/core/engine.py", "settle_period", "    in it: the settlement engine"),
    ("emc/settlement/drafting.py", "_upsert", "  settlements and lines written"),
]


class Statements:
    """Each statement's kind (verb and first table) and the seconds spent in the driver."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.seconds = 0.0
        self._started: dict[int, float] = {}
        event.listen(Engine, "before_cursor_execute", self.before)
        event.listen(Engine, "after_cursor_execute", self.after)

    def before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self._started[id(cursor)] = time.perf_counter()
        verb = statement.lstrip().split(None, 1)[0].upper()
        table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", statement, re.IGNORECASE)
        self.kinds[verb + (f" {table.group(1)}" if table and verb in {"SELECT", "INSERT", "UPDATE", "DELETE"}
                           else "")] += 1

    def after(self, conn: Any, cursor: Any, *_: Any) -> None:
        self.seconds += time.perf_counter() - self._started.pop(id(cursor), time.perf_counter())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--today", required=True, help="as `emc settle --due --today`")
    p.add_argument("--top", type=int, default=0, help="also print the N functions with the most cumulative time")
    args = p.parse_args()

    from emc.cli import app

    statements = Statements()
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    profile.enable()
    try:
        app(["settle", "--due", "--today", args.today], standalone_mode=False)
    finally:
        profile.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(profile)
    by_function = {(path, name): (calls, cumulative)
                   for (path, _, name), (_, calls, _, cumulative, _) in stats.stats.items()}  # type: ignore[attr-defined]
    contracts = next((calls for (path, name), (calls, _) in by_function.items()
                      if path.endswith("emc/settlement/drafting.py") and name == "_draft_contract"), 0)
    total = sum(statements.kinds.values())
    print(f"\n{wall:.1f} s (profiled) for {contracts} contracts; {total:,} statements "
          f"({total / max(contracts, 1):.1f} a contract), {statements.seconds:.1f} s inside the driver")
    for kind, n in statements.kinds.most_common(25):
        print(f"{n:8,}  {kind}")
    print("\nphase                                                  calls  seconds  share")
    for fragment, name, label in PHASES:
        calls, seconds = next(((c, s) for (path, fn), (c, s) in by_function.items()
                               if path.endswith(fragment) and fn == name), (0, 0.0))
        print(f"{label:54} {calls:5}  {seconds:7.1f}  {seconds / wall:5.0%}")
    if args.top:
        stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
