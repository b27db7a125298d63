#!/usr/bin/env python3
"""Benchmark: the figure pages of issue 15 one request at a time — /carbon, /carbon/leaderboards, /portfolio and
the API dashboard — on an existing database (e.g. scripts/bench_web.py's 5× Wuxi portfolio restored from its
backup): server time (median of ``--repeat`` requests after one warm-up), response bytes and SQL statements
per page, for a province-wide manager and a district manager.

    python scripts/bench_pages.py --db postgresql://postgres@127.0.0.1:5432/emc_bench_web_5_0
    python scripts/bench_pages.py --db … --district 320211 --repeat 5

The app is served in process (fastapi's TestClient) so no network or worker counts in the figures; each
request's own time is measured around the call. The carbon pages show prepared figures (emc.carbon.prepared):
every stored view is deleted at the start, so each page's first request computes its figures (the reference,
what every view cost before) and the median is of views reading the stored figures; the ratio is printed.
Users ``bench-pages-manager`` (province) and
``bench-pages-district`` (``--district``) are added if missing. The machine's load average is printed: other
work on the machine slows every figure.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from typing import Any

import emc.wiring  # noqa: F401  (scope rules and cross-domain answers for the services it drives)

PAGES = {
    "/carbon": "/carbon", "/carbon (district)": "/carbon?region={district}",
    "/carbon/leaderboards": "/carbon/leaderboards", "/carbon/leaderboards?category=school":
        "/carbon/leaderboards?category=school", "/portfolio": "/portfolio",
    "/api/carbon/dashboard": "/api/carbon/dashboard",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _user(url: str, username: str, region: str) -> None:
    from sqlalchemy import select
    from sqlmodel import Session, col

    from emc.db import make_engine
    from emc.org.models import Role, User
    from emc.org.service import UserCreate, create_user

    engine = make_engine(url)
    with Session(engine) as session:
        if session.execute(select(User).where(col(User.username) == username)).scalars().first() is None:
            create_user(session, UserCreate(username=username, password=f"bench-{username}", role=Role.manager,
                                            region=region), actor="bench")
            session.commit()
    engine.dispose()


def _client(app: Any, username: str) -> Any:
    from fastapi.testclient import TestClient

    c = TestClient(app, base_url="https://testserver")
    token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"username": username, "password": f"bench-{username}", "csrf_token": token,
                               "next": "/contracts"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True, help="database URL of a generated, settled portfolio with its ledger")
    p.add_argument("--province", default="320000", help="the province-wide manager's region (default 320000)")
    p.add_argument("--district", default="320211", help="the district manager's region (default 320211, 滨湖区)")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()

    from sqlalchemy import event

    from emc.db import make_engine
    from emc.web.app import create_app

    os.environ.setdefault("EMC_SECRET_KEY", "bench-" + "x" * 40)
    _user(args.db, "bench-pages-manager", args.province)
    _user(args.db, "bench-pages-district", args.district)
    engine = make_engine(args.db)
    app = create_app(engine=engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    print(f"load average {os.getloadavg()[0]:.2f}")
    from sqlalchemy import delete

    from emc.carbon.models import CarbonView
    from emc.db import session_scope

    with session_scope(engine) as session:
        session.execute(delete(CarbonView))
    print(f"{'user':<9} {'page':<40} {'first ms':>9} {'ms (median)':>12} {'first ÷ median':>14} {'bytes':>9} "
          f"{'queries':>8}")
    for who, username in (("province", "bench-pages-manager"), ("district", "bench-pages-district")):
        c = _client(app, username)
        for name, path in PAGES.items():
            path = path.format(district=args.district)
            if who == "district" and "(district)" in name:
                continue
            t0 = time.perf_counter()
            r = c.get(path)
            first = (time.perf_counter() - t0) * 1000
            times = []
            for _ in range(args.repeat):
                statements.clear()
                t0 = time.perf_counter()
                r = c.get(path)
                times.append((time.perf_counter() - t0) * 1000)
            median = statistics.median(times)
            print(f"{who:<9} {name:<40} {first:>9.0f} {median:>12.0f} {first / median:>14.1f} "
                  f"{len(r.content):>9,} {len(statements):>8}  {r.status_code}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
