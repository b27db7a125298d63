"""The settlement core is pure: importing it (with the contract file and the tariff book it reads) loads no
database layer (sqlmodel, sqlalchemy, table modules), web or service code."""

import subprocess
import sys

CORE = ["periods", "lines", "inputs", "valuation", "shared_savings", "guaranteed", "custody", "lease",
        "fixed_fee", "state", "engine", "adjustments", "economics", "controls", "guarantee_status"]


def test_core_imports_no_database_or_web() -> None:
    code = (
        "import sys, importlib\n"
        f"for name in {CORE!r}: importlib.import_module('emc.settlement.core.' + name)\n"
        "importlib.import_module('emc.tariffs.book')\n"
        "importlib.import_module('emc.contracts.spec')\n"
        "bad = sorted(m for m in sys.modules if m in ('emc.db', 'fastapi', 'sqlmodel', 'sqlalchemy')"
        " or (m.startswith('emc.settlement.') and not m.startswith('emc.settlement.core'))"
        " or m.startswith(('emc.web', 'emc.audit', 'emc.tariffs.service', 'emc.tariffs.models',"
        " 'emc.contracts.models', 'emc.metering', 'emc.org')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
