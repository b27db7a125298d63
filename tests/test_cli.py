"""The `emc` command as a user runs it (a real process, a real SQLite file)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def emc(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EMC_DATA_DIR": str(tmp_path / "data")}
    env.pop("EMC_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "emc.cli", *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=300)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    first = emc(path, "demo", "--synthetic", "5")
    assert first.returncode == 0, first.stderr
    (path / "first-demo.out").write_text(first.stdout, encoding="utf-8")  # for the summary test below
    assert "contract WX-SMZX-2018: created (version 1)" in first.stdout
    assert "user manager / demo-manager (manager)" in first.stdout
    return path


def test_demo_is_idempotent(demo_dir: Path) -> None:
    again = emc(demo_dir, "demo", "--synthetic", "5")
    assert again.returncode == 0, again.stderr
    assert "contract WX-SMZX-2018: unchanged (version 1)" in again.stdout
    assert "created" not in again.stdout and "user manager" not in again.stdout
    assert "synthetic portfolio: present already" in again.stdout


def test_demo_prints_a_readable_summary_and_names_its_problems(demo_dir: Path) -> None:
    out = (demo_dir / "first-demo.out").read_text(encoding="utf-8")
    assert "PortfolioSummary(" not in out and not re.search(r"\b\w+=['\d{\[]", out)  # no dataclass repr
    assert re.search(r"^synthetic portfolio:\n  city 320200: \d+ institutions \(\d+ under contract\), \d+ ESCOs$",
                     out, re.M)
    assert re.search(r"^  contracts 10 \(5 examples, 5 synthetic\)$", out, re.M)
    assert re.search(r"^  meters \d+ \(electricity \d+, .*water \d+\); readings [\d,]+$", out, re.M)
    assert re.search(r"^  settlements \d+ \(.*draft \d+.*\)$", out, re.M)
    assert re.search(r"^  users 8 \(admin 1, esco 2, finance 1, manager 3, viewer 1\)$", out, re.M)
    counted = re.search(r"^carbon ledger \S+: [\d,]+ entries added, [\d,]+ unchanged, (\d+) problem\(s\)", out, re.M)
    assert counted is not None
    named = re.findall(r"^  problem: (\S+) (.+)$", out, re.M)
    assert (int(counted.group(1)) == 0) == (not named)  # every problem counted is listed, by what it is about
    assert all(len(what) > 10 for _, what in named)


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    run = emc(tmp_path, "serve", "--port", "1")
    assert run.returncode == 2
    assert "Run: emc db upgrade" in run.stderr


def test_users_add_validates_and_reads_the_password_from_stdin(demo_dir: Path) -> None:
    bad = emc(demo_dir, "users", "add", "someone", "--role", "esco", "--password-stdin", stdin="long-enough\n")
    assert bad.returncode == 1 and "an ESCO user needs the ESCO code" in bad.stderr
    unknown = emc(demo_dir, "users", "add", "someone", "--role", "esco", "--esco", "NOPE", "--password-stdin",
                  stdin="long-enough\n")
    assert unknown.returncode == 1 and "ESCO 'NOPE' is not known" in unknown.stderr
    ok = emc(demo_dir, "users", "add", "someone", "--role", "viewer", "--password-stdin", stdin="long-enough\n")
    assert ok.returncode == 0, ok.stderr
    assert "someone" in emc(demo_dir, "users", "list").stdout


def test_contracts_load_is_all_or_nothing(demo_dir: Path, tmp_path: Path) -> None:
    small = (Path(__file__).parent / "data" / "small-shared.toml").read_text(encoding="utf-8")
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(small, encoding="utf-8")
    bad.write_text(small.replace("T-SCHOOL-2024", "T-BAD-2024").replace('region = "320211"', 'region = "111111"'),
                   encoding="utf-8")
    run = emc(demo_dir, "contracts", "load", str(good), str(bad))
    assert run.returncode == 1 and "region '111111' is not known" in run.stderr and "nothing was loaded" in run.stderr
    loaded = emc(demo_dir, "contracts", "load", str(good), "--json")
    assert loaded.returncode == 0 and '"action": "created"' in loaded.stdout


def test_meter_import_and_profile_commands(demo_dir: Path, tmp_path: Path) -> None:
    export = tmp_path / "platform.csv"
    export.write_text("测点,采样时刻,有功电能增量\nWX-SMZX-E11,2024-02-01 01:00,5\nWX-SMZX-E11,2024-02-01 02:00,6\n",
                      encoding="utf-8")
    refused = emc(demo_dir, "meters", "import", str(export), "--esco", "SGJS-IES")
    assert refused.returncode == 1 and "import profile" in refused.stderr
    bad = emc(demo_dir, "meters", "profile", "SGJS-IES", "--timezone", "Mars/Olympus")
    assert bad.returncode == 1 and "not an IANA time zone" in bad.stderr
    saved = emc(demo_dir, "meters", "profile", "SGJS-IES", "--alias", "meter=测点", "--alias", "time=采样时刻",
                "--alias", "consumption=有功电能增量", "--timestamp-is", "end")
    assert saved.returncode == 0, saved.stderr
    dry = emc(demo_dir, "meters", "import", str(export), "--esco", "SGJS-IES", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    import json

    report = json.loads(dry.stdout)
    assert (report["status"], report["new"], report["errors"]) == ("previewed", 2, 0)
    assert report["meters"]["WX-SMZX-E11"]["first"] == "2024-02-01 00:00"  # the stamps mark period ends
    other = emc(demo_dir, "meters", "import", str(export).replace("platform", "x"), "--esco", "SGJS-IES")
    assert other.returncode == 1 and "no such file" in other.stderr


def test_the_whole_demo_keeps_the_money_invariants(demo_dir: Path) -> None:
    """Over everything `emc demo` built: `emc settle --check` finds nothing; every approved settlement
    recorded its sources and its frozen statement; the approver was never the submitter (four eyes); every
    paid one has its payment, dated between issue and the period's payment."""
    from sqlalchemy import select
    from sqlmodel import Session

    from emc.db import make_engine
    from emc.settlement import records
    from emc.settlement.models import (
        Settlement,
        SettlementPayment,
        SettlementSource,
        SettlementStatus,
        StatementSnapshot,
    )

    check = emc(demo_dir, "settle", "--check")
    assert check.returncode == 0 and "ledger: no problems" in check.stdout, check.stdout + check.stderr
    engine = make_engine(f"sqlite:///{demo_dir / 'data' / 'emc.db'}")
    with Session(engine) as s:
        approved = s.execute(select(Settlement).where(Settlement.status.in_(
            [SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid]))).scalars().all()
        assert len(approved) >= 10
        sourced = set(s.execute(select(SettlementSource.settlement_id)).scalars())
        frozen = set(s.execute(select(StatementSnapshot.settlement_id)).scalars())
        paid = set(s.execute(select(SettlementPayment.settlement_id).where(SettlementPayment.kind == "payment"))
                   .scalars())
        assert any(r.status == SettlementStatus.paid for r in approved)
        for row in approved:
            assert row.id in sourced and row.id in frozen, row.number
            assert (row.submitted_by, row.approved_by) == ("manager", "manager2"), row.number
            if row.status == SettlementStatus.paid:
                assert row.id in paid and row.issued_at is not None and row.paid_on is not None, row.number
                assert records.local_day(row.issued_at) <= row.paid_on, row.number  # type: ignore[operator]
    engine.dispose()
