"""Monthly meter totals (meter_month) kept with the readings: after every write — import, duplicate refused,
correction (replace mode), revert — the table holds exactly what the readings say per local month; the carbon
ledger's monthly inputs read from it are identical to the former aggregation over readings on the whole demo; and
the contract page's per-meter coverage (readings, first day, last day) equals a direct count over readings."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from conftest import LiveServer, PostgresServer, _fresh_url
from sqlalchemy import BigInteger, Date, case, cast, func, select, text, type_coerce
from sqlmodel import Session
from test_import import SITE, run, site, write  # noqa: F401  (the import tests' site fixture)
from test_web import login

from emc import units
from emc.carbon.reads import inputs
from emc.config import get_settings
from emc.contracts.service import load_contract
from emc.contracts.spec import CANONICAL_UNITS, parse_contract
from emc.db import make_engine
from emc.metering.models import ImportBatch, Meter, MeterMonthTotal, Reading
from emc.metering.revert import revert_batch
from emc.metering.service import import_file
from emc.org.models import Institution, Role
from emc.org.scope import Scope
from emc.org.service import UserCreate, create_user, load_regions

Totals = dict[tuple[int, date], tuple[float, int, int, Decimal | None, datetime, datetime]]


def from_readings(session: Session) -> Totals:
    """The totals computed here from every reading, bucketed by Python's zone rules (independent of the SQL)."""
    zones = dict(session.execute(select(Meter.id, Institution.timezone)
                                 .join(Institution, Institution.id == Meter.institution_id)).all())
    values: dict[tuple[int, date], list[Any]] = defaultdict(list)
    for r in session.execute(select(Reading.meter_id, Reading.period_start, Reading.period_end, Reading.value,
                                    Reading.estimated, Reading.cost)).all():
        values[(r[0], r[1].astimezone(ZoneInfo(zones[r[0]])).date().replace(day=1))].append(r)
    out = {}
    for key, rows in values.items():
        costs = [r[5] for r in rows if r[5] is not None]
        out[key] = (math.fsum(r[3] for r in rows), len(rows), sum(1 for r in rows if r[4]),
                    sum(costs, Decimal(0)) if costs else None, min(r[1] for r in rows), max(r[2] for r in rows))
    return out


def stored(session: Session) -> Totals:
    return {(t.meter_id, t.month): (t.quantity, t.readings, t.estimated, t.cost, t.first_start, t.last_end)
            for t in session.execute(select(MeterMonthTotal)).scalars()}


def assert_totals_match(session: Session) -> None:
    expected, kept = from_readings(session), stored(session)
    assert kept.keys() == expected.keys()
    for key, (quantity, *exact) in expected.items():
        assert tuple(kept[key][1:]) == tuple(exact), key
        assert math.isclose(kept[key][0], quantity, rel_tol=1e-12), (key, kept[key][0], quantity)


def old_meter_months(session: Session, start: date, end: date) -> list[inputs.MeterMonth]:
    """The carbon ledger's monthly inputs as they were read before meter_month: a grouped sum over readings."""
    if session.get_bind().dialect.name == "postgresql":
        month: Any = cast(func.date_trunc("month", func.timezone(Institution.timezone, Reading.period_start)), Date)
    else:
        zones = list(session.execute(select(Institution.timezone).distinct()).scalars())
        offsets = {z: int(ZoneInfo(z).utcoffset(datetime(2000, 1, 1)).total_seconds()) for z in zones}  # type: ignore[union-attr]
        seconds = type_coerce(Reading.period_start, BigInteger()) // 1_000_000
        month = func.strftime("%Y-%m", seconds + case(offsets, value=Institution.timezone, else_=28800), "unixepoch")
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(hours=14)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(hours=14)
    rows = session.execute(
        select(Reading.meter_id, month.label("month"), func.sum(Reading.value), func.count(),
               func.sum(case((Reading.estimated, 1), else_=0)))
        .join(Meter, Meter.id == Reading.meter_id).join(Institution, Institution.id == Meter.institution_id)
        .where(Reading.period_start >= lo, Reading.period_start < hi).group_by(Reading.meter_id, month)).all()
    meters = {m.id: m for m in session.execute(select(Meter)).scalars()}
    out = []
    for meter_id, value, total, count, estimated in rows:
        day = value if isinstance(value, date) else date.fromisoformat(f"{value}-01")
        if not start <= day < end:
            continue
        m = meters[meter_id]
        scale = Decimal(str(units.factor(m.unit, CANONICAL_UNITS.get(m.utility, m.unit))))
        out.append(inputs.MeterMonth(meter_id, m.institution_id, m.utility, m.sub_item == "total", day,
                                     Decimal(repr(float(total))) * scale, int(count), int(estimated or 0)))
    return out


def test_the_demo_totals_equal_its_readings_and_the_ledger_inputs_are_unchanged(demo_server: LiveServer) -> None:
    with Session(demo_server.engine) as session:
        assert_totals_match(session)
        years = inputs.reading_years(session)
        assert len(years) >= 2
        start, end = date(years[0], 1, 1), date(years[-1] + 1, 1, 1)
        for lo, hi in ((start, end), (date(years[-1], 1, 1), date(years[-1] + 1, 1, 1))):  # all; one year
            new = sorted(inputs.meter_months(session, lo, hi), key=lambda m: (m.meter_id, m.month))
            old = sorted(old_meter_months(session, lo, hi), key=lambda m: (m.meter_id, m.month))
            assert len(new) == len(old) > 500
            assert_same_months(new, old)


def assert_same_months(new: list[inputs.MeterMonth], old: list[inputs.MeterMonth]) -> None:
    """Every field the same; the quantity up to the order of float additions (readings are stored as floats, and
    PostgreSQL sums them in whatever order its plan reads them — the old query's plan, or the refresh's)."""
    for n, o in zip(new, old, strict=True):
        assert (n.meter_id, n.institution_id, n.utility, n.main, n.month, n.readings, n.estimated) == (
            o.meter_id, o.institution_id, o.utility, o.main, o.month, o.readings, o.estimated)
        assert math.isclose(n.quantity, o.quantity, rel_tol=1e-12), (n, o)


def hourly(start: datetime, hours: int, value: float = 10.0, step: float = 1.0) -> str:
    return "表号,时间,用量(kWh)\n" + "".join(
        f"M-E,{(start + timedelta(hours=h)):%Y-%m-%d %H:%M},{value + step * h}\n" for h in range(hours))


def coverage_shown(client: Any, code: str) -> tuple[int, str, str]:
    """The contract page's meter row: readings, first day, last day (what a manager reads)."""
    row = re.search(rf"<tr><td>{code}</td>(.*?)</tr>", client.get("/contracts/T-IMPORT-2024").text, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    return int(cells[-3].replace(",", "")), cells[-2].strip(), cells[-1].strip()


def coverage_counted(session: Session, code: str) -> tuple[int, str, str]:
    n, first, last = session.execute(select(func.count(), func.min(Reading.period_start), func.max(Reading.period_end))
                                     .join(Meter, Meter.id == Reading.meter_id).where(Meter.code == code)).one()
    if not n:
        return 0, "", ""
    tz = ZoneInfo(get_settings().timezone)
    return n, f"{first.astimezone(tz):%Y-%m-%d}", f"{(last - timedelta(microseconds=1)).astimezone(tz):%Y-%m-%d}"


def test_totals_and_the_contract_page_follow_imports_corrections_and_reverts(
        site: Session, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    session = site
    create_user(session, UserCreate(username="admin", password="demo-admin", role=Role.admin), actor="test")
    session.commit()
    with LiveServer(db_url) as server:
        client, _ = login(server, "admin")

        def check(readings: int) -> None:
            session.expire_all()
            assert_totals_match(session)
            assert coverage_shown(client, "M-E") == coverage_counted(session, "M-E")
            assert coverage_counted(session, "M-E")[0] == readings

        check(0)
        # local Beijing hours 2024-01-31 20:00 … 2024-02-01 03:00: the last four are February's (UTC: still January)
        first = run(session, write(tmp_path, "a.csv", hourly(datetime(2024, 1, 31, 20), 8)))
        assert first.ok
        check(8)
        months = {t.month for t in session.execute(select(MeterMonthTotal)).scalars()}
        assert months == {date(2024, 1, 1), date(2024, 2, 1)}
        feb = session.execute(select(MeterMonthTotal).where(MeterMonthTotal.month == date(2024, 2, 1))).scalar_one()
        assert (feb.readings, feb.quantity) == (4, 14.0 + 15.0 + 16.0 + 17.0)

        # a conflicting duplicate within a file is refused (nothing written); an identical one is written once,
        # and values already stored are skipped
        dup = hourly(datetime(2024, 2, 1, 4), 2) + "M-E,2024-02-01 04:00,99\n"
        assert not run(session, write(tmp_path, "dup.csv", dup)).ok
        check(8)
        again = run(session, write(tmp_path, "again.csv", hourly(datetime(2024, 1, 31, 20), 10)
                                   + "M-E,2024-02-01 05:00,19.0\n"))
        assert again.ok and again.written.same == 8 and again.findings.counts["identical_duplicate"] == 1
        check(10)

        # a correction (replace mode) of the hours either side of local midnight, then its revert
        fixed = run(session, write(tmp_path, "fix.csv", hourly(datetime(2024, 1, 31, 22), 4, value=100.0)),
                    mode="replace", reason="meter re-read on site")
        assert fixed.ok and fixed.written.replaced == 4
        check(10)
        feb = session.execute(select(MeterMonthTotal).where(MeterMonthTotal.month == date(2024, 2, 1))).scalar_one()
        assert feb.quantity == 102.0 + 103.0 + 16.0 + 17.0 + 18.0 + 19.0
        revert_batch(session, session.get(ImportBatch, fixed.batch.id), actor="test", reason="wrong file corrected")
        session.commit()
        check(10)
        feb = session.execute(select(MeterMonthTotal).where(MeterMonthTotal.month == date(2024, 2, 1))).scalar_one()
        assert feb.quantity == 14.0 + 15.0 + 16.0 + 17.0 + 18.0 + 19.0

        # reverting a batch removes the readings it added; a month left without readings loses its key
        revert_batch(session, session.get(ImportBatch, again.batch.id), actor="test", reason="not this file")
        session.commit()
        check(8)
        march = run(session, write(tmp_path, "march.csv", hourly(datetime(2024, 3, 5, 10), 3)))
        check(11)
        assert date(2024, 3, 1) in {month for _, month in stored(session)}
        revert_batch(session, session.get(ImportBatch, march.batch.id), actor="test", reason="not this file")
        session.commit()
        check(8)
        assert {month for _, month in stored(session)} == {date(2024, 1, 1), date(2024, 2, 1)}


def test_emc_db_rebuild_totals_recomputes_every_key_from_the_readings(site: Session, db_url: str,  # noqa: F811
                                                                      tmp_path: Path) -> None:
    session = site
    assert run(session, write(tmp_path, "a.csv", hourly(datetime(2024, 3, 31, 22), 5))).ok
    expected = stored(session)
    assert len(expected) == 2  # 22:00 and 23:00 local are March's; the next three hours April's
    session.execute(MeterMonthTotal.__table__.delete())  # type: ignore[attr-defined]  (readings changed by hand)
    session.commit()
    done = subprocess.run([sys.executable, "-m", "emc.cli", "db", "rebuild-totals"], capture_output=True, text=True,
                          env={**os.environ, "EMC_DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    assert "2 meter-months" in done.stdout
    session.expire_all()
    assert stored(session) == expected
    assert_totals_match(session)


def test_two_imports_of_one_meter_at_once_both_count(postgres: PostgresServer | None, tmp_path: Path,
                                                     sqlite_template: Path) -> None:
    """PostgreSQL, two transactions: the second import's recompute waits for the first import's meter lock and
    then sees its readings, so the month holds both (without the lock it would keep only its own)."""
    engine = make_engine(_fresh_url("postgresql", tmp_path, sqlite_template, postgres))
    with Session(engine) as s:
        load_regions(s)
        load_contract(s, parse_contract(SITE, "site.toml"), source="site.toml", actor="test")
        s.commit()
    first, second = (write(tmp_path, f"{n}.csv", hourly(datetime(2024, 5, 1, h), 3)) for n, h in (("a", 0), ("b", 10)))
    outcome: dict[str, Any] = {}

    def other() -> None:
        with Session(engine) as s:
            outcome["ok"] = import_file(s, second, file_name=second.name, actor="test", scope=Scope.everything()).ok
            s.commit()

    with Session(engine) as s:
        assert import_file(s, first, file_name=first.name, actor="test", scope=Scope.everything()).ok
        thread = threading.Thread(target=other)
        thread.start()
        waiting = 0
        for _ in range(600):  # until the other import waits on this one's lock (or is done)
            with engine.connect() as probe:
                waiting = probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                             " AND wait_event_type = 'Lock'")).scalar_one()
            if waiting or not thread.is_alive():
                break
            time.sleep(0.1)
        assert waiting == 1
        s.commit()
    thread.join(60)
    assert outcome == {"ok": True}
    with Session(engine) as s:
        assert_totals_match(s)
        may = s.execute(select(MeterMonthTotal).where(MeterMonthTotal.month == date(2024, 5, 1))).scalar_one()
        assert may.readings == 6
    engine.dispose()
