#!/usr/bin/env python3
"""Benchmark: meter import end to end (parse, check, write) against the raw floor, in the same run.

The floor is what no import can beat: reading the same CSV with pandas' fastest engine (pyarrow) plus
the fastest bulk insert of the same final rows into the same table of a fresh database (one
executemany transaction on SQLite; COPY on PostgreSQL), with nothing checked. emc's import is timed
in a child process on a fresh database (so its peak memory is its own), from file to commit.

    python scripts/bench_import.py                     # 200 meters × 1 year × 15 min ≈ 7.0 M rows, SQLite
    python scripts/bench_import.py --postgres URL      # also on PostgreSQL (a scratch database is created)
    python scripts/bench_import.py --meters 20 --days 30   # a quick look
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

import emc.wiring  # noqa: F401  (scope rules and cross-domain answers for the services it drives)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_csv(path: Path, meters: int, days: int, seed: int = 7) -> int:
    """A long-format 15-minute export: meter, time (local), consumption in kWh."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-01-01", periods=days * 96, freq="15min")
    stamp = times.strftime("%Y-%m-%d %H:%M").to_numpy()
    hour = times.hour.to_numpy() + times.minute.to_numpy() / 60
    shape = 0.6 + 0.4 * np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)
    with open(path, "w", encoding="utf-8") as out:
        out.write("表计编号,采集时间,用电量(kWh)\n")
        for m in range(meters):
            base = rng.uniform(5, 80)
            values = np.round(base * shape * rng.normal(1, 0.08, len(times)).clip(0.5), 3)
            frame = pd.DataFrame({"meter": f"BM-{m:04d}", "time": stamp, "value": values})
            frame.to_csv(out, header=False, index=False)
    return meters * days * 96


def prepare_db(url: str, meters: int) -> None:
    from sqlmodel import Session

    from emc.db import make_engine, upgrade
    from emc.metering.models import Meter
    from emc.org.models import Institution, Region

    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s:
        region = Region(code="320200", name="无锡市", level="city", path="/320200/")
        s.add(region)
        s.flush()
        inst = Institution(code="BENCH", name="基准测试单位", category="organ", region_id=region.id)
        s.add(inst)
        s.flush()
        s.add_all([Meter(code=f"BM-{m:04d}", institution_id=inst.id, utility="electricity", unit="kWh")
                   for m in range(meters)])
        s.commit()
    engine.dispose()


def scratch_pg(admin_url: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(admin_url).set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"emc_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return base.set(database=name).render_as_string(hide_password=False), drop


def floor(path: Path, url: str, meters: int) -> dict[str, float]:
    """pandas(pyarrow) read + the fastest bulk insert of the final rows, nothing checked."""
    from sqlalchemy import text

    from emc.db import make_engine

    t0 = time.perf_counter()
    frame = pd.read_csv(path, engine="pyarrow")
    t_read = time.perf_counter() - t0
    # the final rows, built outside the timing: meter id, start/end µs (UTC), value, flags, batch
    local = pd.to_datetime(frame.iloc[:, 1], format="%Y-%m-%d %H:%M")
    start = (local - pd.Timedelta(hours=8)).to_numpy().astype("datetime64[us]").astype(np.int64)
    end = start + 900 * 1_000_000
    meter_id = frame.iloc[:, 0].str.slice(3).astype(int).to_numpy() + 1
    value = frame.iloc[:, 2].to_numpy(dtype=float)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO import_batch (kind, file_name, file_hash, sheet, file_size, stored_path, "
                          "uploaded_by, mode, status, encoding, layout, rows_total, rows_new, rows_same, "
                          "rows_conflict, errors, warnings, summary, findings, created_at) VALUES ('meter', 'floor', "
                          "'x', '', 0, '', 'bench', 'only-new', 'committed', '', '', 0, 0, 0, 0, 0, 0, '{}', '[]', "
                          + ("0" if engine.dialect.name == "sqlite" else "now()") + ")"))
    if engine.dialect.name == "sqlite":
        rows = list(zip(meter_id.tolist(), start.tolist(), end.tolist(), value.tolist(), value.tolist(),
                        [1.0] * len(value), [0] * len(value), [0] * len(value), [1] * len(value), strict=True))
        raw = engine.raw_connection()
        t0 = time.perf_counter()
        raw.driver_connection.executemany(
            "INSERT INTO reading (meter_id, period_start, period_end, value, source_value, factor, from_register, "
            "estimated, batch_id) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        raw.driver_connection.commit()
        t_write = time.perf_counter() - t0
        raw.close()
    else:
        stamp = lambda us: np.char.add(np.datetime_as_string(us.astype("datetime64[us]"), unit="us"), "+00")  # noqa: E731
        out = pd.DataFrame({"m": meter_id, "s": stamp(start), "e": stamp(end), "v": value, "sv": value, "f": 1.0,
                            "r": "f", "est": "f", "b": 1})
        buffers = []
        for lo in range(0, len(out), 200_000):
            buf = io.StringIO()
            out.iloc[lo:lo + 200_000].to_csv(buf, sep="\t", header=False, index=False)
            buffers.append(buf.getvalue())
        raw = engine.raw_connection()
        t0 = time.perf_counter()
        with raw.driver_connection.cursor() as cur, cur.copy(
                "COPY reading (meter_id, period_start, period_end, value, source_value, factor, from_register, "
                "estimated, batch_id) FROM STDIN") as copy:
            for chunk in buffers:
                copy.write(chunk)
        raw.driver_connection.commit()
        t_write = time.perf_counter() - t0
        raw.close()
    engine.dispose()
    return {"read_s": t_read, "write_s": t_write, "total_s": t_read + t_write}


def emc_import_child(path: str, url: str, dry_run: bool = False) -> None:
    """Run in a child process: import the file end to end and report time and peak memory."""
    from emc.db import make_engine, session_scope
    from emc.metering.service import ImportOptions, import_file
    from emc.org.scope import Scope

    engine = make_engine(url)
    t0 = time.perf_counter()
    with session_scope(engine) as session:
        report = import_file(session, Path(path), file_name=Path(path).name, actor="bench",
                             scope=Scope.everything(), options=ImportOptions(dry_run=dry_run))
        rows, errors = report.batch.rows_new, report.batch.errors
    seconds = time.perf_counter() - t0
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forking parent
    status = Path("/proc/self/status").read_text()
    peak_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "errors": errors, "peak_mb": peak_mb}))


def run_emc(path: Path, url: str, dry_run: bool = False) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(path), url] + (["dry"] if dry_run else []),
                         capture_output=True, text=True,
                         check=False, env={**os.environ, "PYTHONPATH": str(ROOT),
                                           "EMC_UPLOAD_MAX_BYTES": str(20 * 1024**3)})
    if out.returncode != 0:
        raise SystemExit(f"emc import failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(path: Path, rows: int, url_for: callable, label: str, meters: int) -> dict[str, float]:  # type: ignore[valid-type]
    url, cleanup = url_for()
    try:
        prepare_db(url, meters)
        base = floor(path, url, meters)
    finally:
        cleanup()
    url, cleanup = url_for()
    try:
        prepare_db(url, meters)
        ours = run_emc(path, url)
    finally:
        cleanup()
    assert ours["errors"] == 0 and ours["rows"] == rows, ours
    ratio = base["total_s"] / ours["seconds"]
    print(f"{label:10} rows {rows:>10,}  floor {base['total_s']:7.1f} s (read {base['read_s']:.1f} + write "
          f"{base['write_s']:.1f})  emc {ours['seconds']:7.1f} s = {rows / ours['seconds']:>9,.0f} rows/s  "
          f"ratio floor/emc {ratio:.2f} (target ≥ 0.50)  peak {ours['peak_mb']:,.0f} MB (target < 2,048)")
    return {"rows": rows, "floor_s": base["total_s"], "emc_s": ours["seconds"], "ratio": ratio,
            "rows_per_s": rows / ours["seconds"], "peak_mb": ours["peak_mb"]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        emc_import_child(sys.argv[2], sys.argv[3], dry_run=len(sys.argv) > 4)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server URL to also benchmark on")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "emc-bench")
    parser.add_argument("--memory-check", type=int, metavar="N", default=0,
                        help="also check (dry run) a file N times longer: peak memory must not grow with the file")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"import-{args.meters}m-{args.days}d.csv"
    rows = args.meters * args.days * 96
    if not path.exists():
        t0 = time.perf_counter()
        make_csv(path, args.meters, args.days)
        print(f"wrote {path} ({path.stat().st_size / 1e6:,.0f} MB, {rows:,} rows) in {time.perf_counter() - t0:.0f} s")
    results = {}
    if not args.no_sqlite:
        def sqlite_url() -> tuple[str, object]:
            db = args.workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{db}", lambda: [Path(str(db) + s).unlink(missing_ok=True) for s in ("", "-wal", "-shm")]
        results["sqlite"] = bench(path, rows, sqlite_url, "SQLite", args.meters)
    if args.postgres:
        results["postgresql"] = bench(path, rows, lambda: scratch_pg(args.postgres), "PostgreSQL", args.meters)
    if args.memory_check:
        big = args.workdir / f"import-{args.meters}m-{args.days * args.memory_check}d.csv"
        if not big.exists():
            make_csv(big, args.meters, args.days * args.memory_check)
        peaks = {}
        for label, file in (("1x", path), (f"{args.memory_check}x", big)):
            db = args.workdir / f"mem-{uuid.uuid4().hex[:8]}.db"
            prepare_db(f"sqlite:///{db}", args.meters)
            peaks[label] = run_emc(file, f"sqlite:///{db}", dry_run=True)
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            print(f"memory {label:>4}: {file.stat().st_size / 1e6:,.0f} MB file, "
                  f"checked in {peaks[label]['seconds']:.1f} s, "
                  f"peak {peaks[label]['peak_mb']:,.0f} MB")
        results["memory"] = {k: v["peak_mb"] for k, v in peaks.items()}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
