"""A non-editable install works: the wheel carries templates, static files, migrations and examples,
and from it alone `emc demo` builds a database whose pages render."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{run.stderr[-3000:]}")
    [path] = out.glob("emc-*.whl")
    return path


def test_wheel_carries_what_the_app_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("emc/templates/base.html", "emc/templates/contracts/list.html", "emc/web/static/htmx.min.js",
                   "emc/web/static/swagger/swagger-ui-bundle.js", "emc/web/locales/zh.toml",
                   "emc/migrations/env.py", "emc/migrations/script.py.mako", "emc/org/regions.toml",
                   "emc/examples/contracts/wuxi-civic-centre.toml"):
        assert needed in names, needed
    assert any(n.startswith("emc/migrations/versions/0001") for n in names)


def test_installed_wheel_runs_the_demo_and_renders(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    script = """
import emc, sys
assert emc.__file__.startswith(sys.argv[1]), emc.__file__
from emc.cli import app
try:
    app(["demo", "--synthetic", "0"])
except SystemExit as e:
    assert not e.code, e.code
from fastapi.testclient import TestClient
from emc.web.app import create_app
page = TestClient(create_app()).get("/login")
assert page.status_code == 200 and "登录" in page.text, page.text[:500]
print("OK")
"""
    env = {**os.environ, "PYTHONPATH": str(site), "EMC_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run([sys.executable, "-c", script, str(site)], cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "contract WX-SMZX-2018: created" in run.stdout and run.stdout.strip().endswith("OK")
