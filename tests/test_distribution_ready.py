"""The readings schema is ready for PostgreSQL's distributed form (docs/scale.md), checked on the migrated schema.

Citus distributes ``reading`` by meter_id and keeps the small tables as reference tables. Its rules, and
PostgreSQL's own for partitioned tables: every primary or unique key on reading holds meter_id (distribution)
and period_start (partitioning); no foreign key points into reading from another table; reading's foreign keys
go only to tables that would be reference tables. On PostgreSQL reading is partitioned by month with a DEFAULT
partition; the daily job keeps twelve months ahead and gives a month that landed in DEFAULT its own partition
without losing or duplicating a row. SQLite keeps one plain table: the key and foreign-key rules are asserted
there too (they are the models' rules), partitioning is not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, inspect, select, text
from sqlmodel import Session

from emc import clock
from emc.contracts.service import load_contract
from emc.contracts.spec import parse_contract
from emc.metering.partitions import AHEAD_MONTHS, DEFAULT, add_months, ensure_partitions, partition_name, partitions
from emc.metering.service import ImportOptions, import_file
from emc.org.models import Esco, Role
from emc.org.scope import Scope
from emc.org.service import load_regions

# The tables reading's foreign keys may point to, and everything those point to in turn (a Citus reference
# table may only reference reference tables): small, slowly changing, every worker holds them whole.
# docs/scale.md lists the create_reference_table calls; a new foreign key that drags a large table into this
# set fails here first.
READING_REFERENCES = {"meter", "import_batch"}
REFERENCE_TABLES = {"meter", "import_batch", "institution", "esco", "region", "app_user"}

SITE = (Path(__file__).parent / "data" / "import-site.toml").read_text(encoding="utf-8")


def _unique_keys(engine: Engine) -> dict[str, list[str]]:
    """Every primary key, unique constraint and unique index on reading, by name, with its columns."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT i.relname, array_agg(a.attname ORDER BY k.ord) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) "
                "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum "
                "WHERE x.indrelid = 'reading'::regclass AND x.indisunique GROUP BY i.relname")).all()
        return {name: list(columns) for name, columns in rows}
    found = inspect(engine)
    keys = {c["name"] or "": list(c["column_names"]) for c in found.get_unique_constraints("reading")}
    keys.update({i["name"] or "": list(i["column_names"]) for i in found.get_indexes("reading") if i["unique"]})
    return {name: [c for c in columns if c] for name, columns in keys.items()}


def test_every_unique_key_on_reading_holds_the_meter_and_the_period_start(engine: Engine) -> None:
    keys = _unique_keys(engine)
    assert "uq_reading_meter_id_period_start_period_end" in keys
    if engine.dialect.name == "postgresql":
        assert keys["pk_reading"] == ["id", "meter_id", "period_start"]
    # SQLite's primary key is its rowid (id): one file, nothing to distribute or partition
    assert all({"meter_id", "period_start"} <= set(columns) for columns in keys.values()), keys


def test_no_foreign_key_points_into_reading_and_its_own_go_to_reference_tables(engine: Engine) -> None:
    found = inspect(engine)
    into = [(table, fk["name"]) for table in found.get_table_names() if table != "reading"
            for fk in found.get_foreign_keys(table) if fk["referred_table"] == "reading"]
    assert into == []
    assert {fk["referred_table"] for fk in found.get_foreign_keys("reading")} == READING_REFERENCES
    closure, todo = set(), list(READING_REFERENCES)
    while todo:
        table = todo.pop()
        if table not in closure:
            closure.add(table)
            todo += [fk["referred_table"] for fk in found.get_foreign_keys(table)]
    assert closure == REFERENCE_TABLES


def test_reading_is_range_partitioned_on_period_start_with_a_default(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name != "postgresql":
            # one plain table on SQLite; the job has nothing to do there
            assert ensure_partitions(conn, date(2031, 5, 10)).created == []
            return
        strategy, key = conn.execute(text(
            "SELECT p.partstrat, a.attname FROM pg_partitioned_table p JOIN pg_attribute a "
            "ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE p.partrelid = 'reading'::regclass AND p.partnatts = 1")).one()
        assert (strategy, key) == ("r", "period_start")
        default = conn.execute(text("SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c "
                                    "ON c.oid = p.partdefid WHERE p.partrelid = 'reading'::regclass")).scalar_one()
        assert default == DEFAULT


def test_the_job_partitions_twelve_months_ahead_idempotently(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    today = date(2031, 5, 10)
    with engine.begin() as conn:
        report = ensure_partitions(conn, today)
        assert report.created == [partition_name(add_months(date(2031, 5, 1), n)) for n in range(AHEAD_MONTHS + 1)]
        assert report.moved_out_of_default == 0
    with engine.begin() as conn:
        assert ensure_partitions(conn, today).created == []  # a second run (or a second day) adds nothing
        have = set(partitions(conn))
    assert {partition_name(add_months(date(2031, 5, 1), n)) for n in range(AHEAD_MONTHS + 1)} <= have


def test_emc_db_partitions_runs_the_job_by_hand(db_url: str, engine: Engine) -> None:
    """`emc db partitions`, as an operator runs it: this month and twelve ahead exist after it, on PostgreSQL."""
    this_month = clock.today().replace(day=1)
    last = partition_name(add_months(this_month, AHEAD_MONTHS))
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # a year later, the furthest month is not there yet
            conn.execute(text(f"DROP TABLE {last}"))
    env = {**os.environ, "EMC_DATABASE_URL": db_url}
    done = subprocess.run([sys.executable, "-m", "emc.cli", "db", "partitions"], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    if engine.dialect.name != "postgresql":
        assert "one plain table" in done.stdout
        return
    with engine.connect() as conn:
        have = set(partitions(conn))
    assert {partition_name(add_months(this_month, n)) for n in range(AHEAD_MONTHS + 1)} <= have
    assert f"1 partitions created ({last})" in done.stdout
    assert f"reading has {len(have)} partitions" in done.stdout


def _import(session: Session, path: Path, **options: object) -> None:
    party = session.execute(select(Esco).where(Esco.code == "T-ESCO")).scalar_one()
    report = import_file(session, path, file_name=path.name, actor="test", scope=Scope(role=Role.esco,
                         esco_id=party.id), esco=party, options=ImportOptions(**options))  # type: ignore[arg-type]
    session.commit()
    assert report.ok and report.batch.status == "committed", report.findings.counts


def _state(engine: Engine) -> tuple[int, float, int, list[int]]:
    with engine.connect() as conn:
        count, total = conn.execute(text("SELECT count(*), sum(value) FROM reading")).one()
        keys = conn.execute(text("SELECT count(*) FROM (SELECT DISTINCT meter_id, period_start, period_end "
                                 "FROM reading) AS k")).scalar_one()
        ids = list(conn.execute(text("SELECT id FROM reading ORDER BY id")).scalars())
    return int(count), float(total), int(keys), ids


def test_an_import_beyond_the_partitions_lands_and_the_job_gives_its_months_their_own(
        engine: Engine, session: Session, tmp_path: Path) -> None:
    """Months beyond the partitions created so far land in DEFAULT; when the job's twelve months ahead reach
    them (PostgreSQL refuses a partition whose rows DEFAULT holds) it moves the rows into their own partitions:
    same count, same sum, same ids, nothing left in DEFAULT."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # as if the job last ran in January 2017: partitions up to January 2018
            assert ensure_partitions(conn, date(2017, 1, 1)).created[-1] == "reading_p201801"
    load_regions(session)
    load_contract(session, parse_contract(SITE, "site.toml"), source="site.toml", actor="test")
    session.commit()
    # two local months (Asia/Shanghai): 2019-01 starts on 2018-12-31 16:00 UTC, so three UTC months get rows
    lines = [f"M-E,2019-{m:02d}-{d:02d} {h:02d}:00,{m * 100 + d + h / 10}"
             for m in (1, 2) for d in range(1, 29) for h in (0, 12)]
    path = tmp_path / "old.csv"
    path.write_text("表号,时间,用量(kWh)\n" + "\n".join(lines) + "\n", encoding="utf-8")
    _import(session, path)
    before = _state(engine)
    assert before[0] == before[2] == len(lines)
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {DEFAULT}")).scalar_one() == len(lines)
    with engine.begin() as conn:  # the job, in December 2018
        report = ensure_partitions(conn, date(2018, 12, 10))
    assert report.created == [partition_name(add_months(date(2018, 12, 1), n)) for n in range(AHEAD_MONTHS + 1)]
    assert report.moved_out_of_default == len(lines)
    assert _state(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {DEFAULT}")).scalar_one() == 0
        # emptied, not deleted from: no dead rows left in its heap (a DELETE would leave every moved row there
        # until a VACUUM, and autovacuum may be off)
        assert conn.execute(text(f"SELECT pg_relation_size('{DEFAULT}')")).scalar_one() == 0
        by_partition = dict(conn.execute(text(
            "SELECT tableoid::regclass::text, count(*) FROM reading GROUP BY 1")).all())
    assert set(by_partition) == {"reading_p201812", "reading_p201901", "reading_p201902"}
    assert sum(by_partition.values()) == len(lines)
    # the moved rows stay correctable: a replace import finds them in their new partitions
    fixed = tmp_path / "fix.csv"
    fixed.write_text("表号,时间,用量(kWh)\n" + lines[0].rsplit(",", 1)[0] + ",7\n", encoding="utf-8")
    _import(session, fixed, mode="replace")
    count, total, keys, ids = _state(engine)
    assert (count, keys, ids) == (before[0], before[2], before[3])
    assert round(total - before[1], 6) == round(7 - float(lines[0].rsplit(",", 1)[1]), 6)
