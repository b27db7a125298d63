"""What the PostgreSQL benchmarks share: running the ``emc`` CLI, a fresh database, and a generated portfolio
kept as a backup between runs (``scripts/bench_web.py``, ``scripts/bench_scale.py``).

A cached backup is keyed by the benchmark's name and the schema revision. A backup of the same data under an
older revision is restored and upgraded (``emc db upgrade``, as a site would), then kept under the new
revision, so a new migration costs an upgrade, not a rebuild — and the migrations are exercised at scale."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

EMC = [sys.executable, "-m", "emc.cli"]


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(list(args), env=env, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:6])}… failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def fresh_database(admin_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def cached_portfolio(env: dict[str, str], cache: Path, stem: str, build: Callable[[], str], *,
                     rebuild: bool = False) -> tuple[Path, str]:
    """Fill the (fresh) database ``env`` points at: restore ``<stem>-<revision>.dump`` from ``cache``, else an
    older revision's dump of the same stem (then upgrade), else ``build()`` it; back up what was built or
    upgraded. Returns the dump's path and what happened."""
    from emc.db import head_revision

    dump = cache / f"{stem}-{head_revision()}.dump"
    older = sorted(cache.glob(f"{stem}-*.dump"), key=lambda p: p.stat().st_mtime)
    t0 = time.perf_counter()
    if dump.exists() and not rebuild:
        run(*EMC, "db", "restore", str(dump), env=env)
        return dump, f"restored {dump} in {time.perf_counter() - t0:.0f} s"
    if older and not rebuild:
        run(*EMC, "db", "restore", str(older[-1]), env=env)
        t1 = time.perf_counter()
        run(*EMC, "db", "upgrade", env=env)
        run(*EMC, "db", "backup", str(dump), env=env)
        return dump, (f"restored {older[-1].name} in {t1 - t0:.0f} s, upgraded to {head_revision()} in "
                      f"{time.perf_counter() - t1:.0f} s")
    built = build()
    cache.mkdir(parents=True, exist_ok=True)
    run(*EMC, "db", "backup", str(dump), env=env)
    return dump, f"{built}\nbuilt and backed up to {dump} in {time.perf_counter() - t0:.0f} s"
