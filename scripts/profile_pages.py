#!/usr/bin/env python3
"""Where a page's time goes: the load benchmark's mix of requests (scripts/bench_web.py, the same pages and
weights, half the province-wide manager and half the ESCO) replayed in this process under yappi (CPU time of every
thread: the app's handlers run in worker threads, which cProfile does not see), on an
existing database (bench_web's 5× portfolio, say), after one warm-up round.

    python scripts/profile_pages.py --db postgresql://postgres@127.0.0.1:5432/emc_bench_web_5_0 --rounds 20

Prints each page's mean time per request (wall time, profiled: compare them with each other only) and its SQL
statements, then where the CPU went by layer (our code, the ORM, the driver, templates, the web framework) and
the functions with the most time of their own (``--page P``: one page of the mix only). Users ``bench-manager``
and ``bench-esco`` (password ``bench-<username>``) must exist, as bench_web.py leaves them. A diagnosis, not a
benchmark.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import time
from collections import Counter, defaultdict
from typing import Any

import emc.wiring  # noqa: F401  (scope rules and cross-domain answers for the services it drives)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# bench_web.py's locust tasks and weights; the manager has three more
COMMON = {"/contracts": 4, "/contracts/[code]": 3, "/contracts/[code]/mv": 2, "/settlements": 3, "/statements": 2,
          "/imports": 1, "/healthz": 1}
MANAGER = {**COMMON, "/portfolio": 2, "/carbon": 2, "/carbon/leaderboards": 1}
LAYERS = (("emc/", "emc (our code)"), ("sqlalchemy", "SQLAlchemy"), ("psycopg", "psycopg (driver)"),
          ("jinja2", "Jinja2 templates"), ("starlette", "Starlette/FastAPI"), ("fastapi", "Starlette/FastAPI"),
          ("pydantic", "pydantic"), ("anyio", "anyio/threads"), ("httpx", "test client"),
          ("asyncio", "asyncio"), ("concurrent", "anyio/threads"), ("threading", "anyio/threads"))


def _client(app: Any, username: str) -> tuple[Any, list[str]]:
    from fastapi.testclient import TestClient

    c = TestClient(app, base_url="https://testserver")
    token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"username": username, "password": f"bench-{username}", "csrf_token": token})
    assert r.status_code in (200, 303), (username, r.status_code)
    codes = re.findall(r'href="/contracts/([A-Z0-9-]+)"', c.get("/contracts").text)
    return c, codes


def _layer(filename: str) -> str:
    for part, name in LAYERS:
        if part in filename:
            return name
    return "other (stdlib, numpy, pandas…)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True)
    p.add_argument("--rounds", type=int, default=20, help="requests per page and user = weight × rounds")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--page", help="only this page of the mix (e.g. /settlements)")
    args = p.parse_args()
    os.environ["EMC_DATABASE_URL"] = args.db
    os.environ.setdefault("EMC_SECRET_KEY", "profile-" + "x" * 40)
    from sqlalchemy import event

    from emc.config import Settings
    from emc.db import make_engine
    from emc.web.app import create_app

    engine = make_engine(args.db)
    statements = [0]
    started: dict[int, float] = {}
    in_database: dict[str, float] = defaultdict(float)  # statement → seconds until its rows were back

    def before(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        statements[0] += 1
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        in_database[" ".join(sql.split())[:150]] += time.perf_counter() - started.pop(id(cursor), 0.0)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    app = create_app(Settings(database_url=args.db, scheduler=False), engine=engine)
    users = [(_client(app, "bench-manager"), MANAGER), (_client(app, "bench-esco"), COMMON)]
    rng = random.Random(1)
    plan = [(c, codes, page) for (c, codes), pages in users for page, w in pages.items()
            for _ in range(w * args.rounds) if args.page in (None, page)]
    rng.shuffle(plan)

    def get(c: Any, codes: list[str], page: str) -> None:
        path = page.replace("[code]", rng.choice(codes)) if "[code]" in page else page
        assert c.get(path).status_code == 200, path

    for c, codes, page in plan[: len(plan) // args.rounds]:  # warm-up: caches, prepared statements
        get(c, codes, page)
    in_database.clear()
    spent: dict[str, float] = defaultdict(float)
    sent: Counter[str] = Counter()
    count: Counter[str] = Counter()
    import yappi

    yappi.set_clock_type("cpu")
    for c, codes, page in plan:
        before, t0 = statements[0], time.perf_counter()
        yappi.start()
        get(c, codes, page)
        yappi.stop()
        spent[page] += time.perf_counter() - t0
        sent[page] += statements[0] - before
        count[page] += 1
    total = sum(spent.values())
    print(f"{len(plan)} requests, {total:.1f} s profiled ({total / len(plan) * 1000:.1f} ms a request)\n")
    print(f"{'page':28} {'requests':>8} {'ms each':>8} {'share':>6} {'SQL each':>8}")
    for page in sorted(spent, key=lambda k: -spent[k]):
        print(f"{page:28} {count[page]:8} {spent[page] / count[page] * 1000:8.1f} {spent[page] / total:6.0%} "
              f"{sent[page] / count[page]:8.1f}")
    waited = sum(in_database.values())
    print(f"\nexecuting SQL (until the rows are back): {waited:.1f} s ({waited / total:.0%} of the wall time); "
          "the slowest statements:")
    for sql, t in sorted(in_database.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {t:6.2f} s  {sql}")
    stats = yappi.get_func_stats()
    own: dict[str, float] = defaultdict(float)
    for f in stats:
        own[_layer(f.module)] += f.tsub
    print("\nCPU time of its own by layer (yappi, every thread)")
    for name, t in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32} {t:6.2f} s {t / sum(own.values()):5.0%}")
    print(f"\n{'own s':>7} {'total s':>8} {'calls':>8}  function")
    for f in sorted(stats, key=lambda f: -f.tsub)[: args.top]:
        print(f"{f.tsub:7.2f} {f.ttot:8.2f} {f.ncall:8}  {f.module.split('site-packages/')[-1]}:{f.lineno} {f.name}")
    print(f"\n{'total s':>8} {'calls':>8}  function (cumulative, our code)")
    for f in sorted((f for f in stats if "/emc/" in f.module), key=lambda f: -f.ttot)[: args.top]:
        print(f"{f.ttot:8.2f} {f.ncall:8}  {f.module.split('/emc/')[-1]}:{f.lineno} {f.name}")


if __name__ == "__main__":
    main()
