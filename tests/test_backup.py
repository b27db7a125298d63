"""The backup drill: back up the demo with `emc db backup`, restore it with `emc db restore` into a fresh
database, and find every table with the same number of rows and every approved settlement with the same
frozen inputs (their hash) and amounts — on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, PostgresServer, _fresh_url, unavailable
from sqlalchemy import Engine, inspect, select, text
from sqlmodel import Session
from test_query_counts import build

from emc.db import head_revision, make_engine
from emc.settlement.models import Settlement


def emc(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emc.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "EMC_DATABASE_URL": url})


def empty_database(backend: str, tmp_path: Path, postgres: PostgresServer | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.db'}"
    if postgres is None:
        unavailable("EMC_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    assert postgres is not None
    name = f"emc_t_restore_{uuid.uuid4().hex[:10]}"
    postgres._exec(f'CREATE DATABASE "{name}"')  # empty: not from the migrated template
    postgres.created.append(name)
    return postgres.url_for(name)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                for t in sorted(inspect(engine).get_table_names())}


def approved(engine: Engine) -> dict[str, tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(select(Settlement).where(
            Settlement.status.in_(["approved", "issued", "paid"]))).scalars()
        return {r.number: (r.inputs_hash, str(r.net_to_esco)) for r in rows}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_backup_and_restore_give_back_the_same_installation(backend: str, tmp_path: Path, sqlite_template: Path,
                                                            postgres: PostgresServer | None) -> None:
    source_url = _fresh_url(backend, tmp_path, sqlite_template, postgres)
    build(source_url, synthetic=2, settlements=3)
    backup = tmp_path / "emc.backup"
    made = emc(source_url, "db", "backup", str(backup))
    assert made.returncode == 0, made.stderr
    assert emc(source_url, "db", "backup", str(backup)).returncode == 1  # never overwrites a backup

    target_url = empty_database(backend, tmp_path, postgres)
    restored = emc(target_url, "db", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert f"at revision {head_revision()}" in restored.stdout

    source, target = make_engine(source_url), make_engine(target_url)
    try:
        counts = row_counts(source)
        assert counts["reading"] > 100_000 and counts["settlement"] >= 3 and counts["audit_event"] > 0
        assert row_counts(target) == counts
        frozen = approved(source)
        assert len(frozen) >= 3 and all(h for h, _ in frozen.values())
        assert approved(target) == frozen
        if backend == "postgresql":  # statistics refreshed: the planner knows the restored readings
            with target.connect() as conn:
                estimate = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'reading'")).scalar_one()
            assert estimate >= 0.9 * counts["reading"]
        again = emc(target_url, "db", "restore", str(backup))  # into a database that holds data: refused
        assert again.returncode == 1 and "not empty" in again.stderr
        assert row_counts(target) == counts
    finally:
        source.dispose()
        target.dispose()


def test_a_backup_of_the_other_database_kind_is_refused(tmp_path: Path) -> None:
    dump = tmp_path / "pg.backup"
    dump.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
    target = f"sqlite:///{tmp_path / 'x.db'}"
    refused = emc(target, "db", "restore", str(dump))
    assert refused.returncode == 1 and "not an SQLite backup" in refused.stderr
