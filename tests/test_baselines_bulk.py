"""`emc baseline fit --all`: every contract's baselines in one run, fits in a process pool, on SQLite and
PostgreSQL — the same models a single fit gives, nothing fitted twice, a failure named and contained."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlmodel import Session
from test_baselines import ROOT, wuxi  # noqa: F401  (fixture)

from emc.audit.models import AuditEvent
from emc.baselines import service
from emc.baselines.bulk import fit_all
from emc.baselines.models import Baseline
from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.contracts.spec import load_contract_file


def _versions(session: Session) -> dict[tuple[str, int], Baseline]:
    session.expire_all()
    return {(b.utility, b.version): b for b in session.execute(select(Baseline)).scalars()}


def test_fit_all_in_a_pool_fits_each_utility_once_as_a_single_fit_would(
        engine: Engine, session: Session, wuxi: Contract) -> None:  # noqa: F811
    # a second contract with no data at all: its failure is named, the civic centre's fits go through
    load_contract(session, load_contract_file(ROOT / "contracts" / "yixing-county-custody.toml"), source="y",
                  actor="t")
    session.commit()
    report = fit_all(engine, actor="bulk", workers=2)
    fitted = {(c, u) for c, u, _, _ in report.fitted}
    assert fitted == {("WX-SMZX-2018", "electricity"), ("WX-SMZX-2018", "water")}
    # what has no readings in its baseline period is named, with the period, and fits nothing
    assert [(c, u) for c, u, _ in report.failed] == [
        ("WX-SMZX-2018", "gas"), ("YX-TG-2023", "electricity"), ("YX-TG-2023", "water")]
    assert report.failed[0][2] == "no gas readings for WX-SMZX-2018 between 2017-12-01 and 2018-11-30"

    # the pooled fit is the model a single in-process fit gives on the same data
    single = service.fit(session, wuxi, "electricity", actor="t")
    session.commit()
    stored = _versions(session)
    assert stored[("electricity", 1)].metrics == single.metrics
    assert stored[("electricity", 1)].model == single.model
    assert stored[("electricity", 1)].data_hash == single.data_hash
    assert session.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "baseline.fit", AuditEvent.actor == "bulk")).scalar_one() == 2

    # again: the data did not change, nothing is fitted twice; --force fits anew
    again = fit_all(engine, actor="bulk", workers=2)
    assert again.fitted == [] and len(again.unchanged) == 2 and len(again.failed) == 3
    forced = fit_all(engine, actor="bulk", workers=1, force=True, codes=["WX-SMZX-2018"])
    assert sorted((u, v) for _, u, v, _ in forced.fitted) == [("electricity", 3), ("water", 2)]


def test_the_command_fits_all_and_reports_as_json(tmp_path: Path) -> None:
    env = {**os.environ, "EMC_DATA_DIR": str(tmp_path / "data")}
    env.pop("EMC_DATABASE_URL", None)

    def emc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "emc.cli", *args], capture_output=True, text=True, env=env,
                              timeout=600)

    assert emc("db", "upgrade").returncode == 0
    assert emc("regions", "load").returncode == 0
    assert emc("contracts", "load", str(ROOT / "contracts" / "wuxi-civic-centre.toml")).returncode == 0
    for command in (["meters", "import", str(ROOT / "baselines" / "WX-SMZX-2018" / "meter_readings_baseline_gbk.csv")],
                    ["weather", "import", str(ROOT / "baselines" / "WX-SMZX-2018" / "weather.csv"),
                     "--station", "58354"]):
        run = emc(*command)
        assert run.returncode == 0, run.stdout + run.stderr
    first = emc("baseline", "fit", "--all", "--workers", "2", "--json")
    out = json.loads(first.stdout)
    assert sorted(f["utility"] for f in out["fitted"]) == ["electricity", "water"] and out["unchanged"] == []
    # the gas meter has no baseline-period data in this file: named, and the exit code says not all fitted
    assert [(f["utility"], f["error"]) for f in out["failed"]] == [
        ("gas", "no gas readings for WX-SMZX-2018 between 2017-12-01 and 2018-11-30")]
    assert first.returncode == 1
    second = emc("baseline", "fit", "--all")
    assert "0 fitted, 2 unchanged, 1 failed" in second.stdout and second.returncode == 1
    both = emc("baseline", "fit", "WX-SMZX-2018", "--all")
    assert both.returncode != 0 and "leave out CONTRACT" in both.stderr + both.stdout
