"""Data flows one way: the import contracts in pyproject.toml hold (layers from the kernel up to the shells; pure
cores load no database or web framework), they do catch an upward import, and every shell installs the
answers lower layers ask from above (emc.wiring) while an unwired process refuses to scope anything."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def _lint(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    return code, capsys.readouterr().out


def test_the_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _lint(ROOT / "pyproject.toml", capsys)
    assert code == 0, out
    assert "0 broken" in out


def test_an_upward_import_breaks_the_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Swap two layers (contracts below org, which it imports): the same check must now fail and name it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = config["contracts"][0]["layers"]
    i, j = layers.index("contracts"), layers.index("org")
    layers[i], layers[j] = layers[j], layers[i]
    lines = ['[tool.importlinter]', 'root_package = "emc"', 'include_external_packages = true', '',
             '[[tool.importlinter.contracts]]', 'name = "swapped layers"', 'type = "layers"',
             'containers = ["emc"]', f'layers = {layers!r}', 'exhaustive = true']
    swapped = tmp_path / "pyproject.toml"
    swapped.write_text("\n".join(lines).replace("'", '"') + "\n", encoding="utf-8")
    code, out = _lint(swapped, capsys)
    assert code != 0
    assert "emc.contracts is not allowed to import emc.org:" in out, out


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout.strip()


@pytest.mark.parametrize("shell", ["emc.web.app", "emc.cli"])
def test_every_shell_installs_the_rules_from_above(shell: str) -> None:
    out = _run(f"import {shell}\n"
               "from emc.contracts.models import Contract\n"
               "from emc.org.scope import Scope\n"
               "from emc.tariffs import service\n"
               "print(Scope.everything().clause_for(Contract) is not None, bool(service._priced_with))\n")
    assert out == "True True"


def test_an_unwired_process_refuses_to_scope_a_tenant() -> None:
    """Fail closed: without emc.wiring a restricted scope cannot build a clause (it never falls back to
    'everything'); the installation-wide scope of jobs and commands needs no rules (every rule passes it all)."""
    out = _run("from emc.org.scope import Scope\n"
               "from emc.org.models import Institution, Role\n"
               "print(Scope.everything().clause_for(Institution))\n"
               "try:\n"
               "    Scope(role=Role.esco, esco_id=1).clause_for(Institution)\n"
               "except RuntimeError as exc:\n"
               "    print('refused:', exc)\n")
    assert out.splitlines() == ["true", "refused: no scope rules are installed: the entry point imports emc.wiring"]
