"""Reading limits without a server: the XLSX worker process is killed when the time is up, and every
limit names itself and its setting. Deeply nested TOML is invalid TOML, not a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from xlsx_bombs import dimension_bomb, workbook

from emc.contracts.spec import ContractFileError, parse_contract
from emc.metering.tables import ReadLimits, TooLarge, iter_chunks, open_table
from emc.tariffs.files import TariffFileError, parse_tariffs


def _children() -> list[str]:
    """Command lines of this process's live children."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and stat.rsplit(")", 1)[1].split()[0] != "Z":
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return out


def test_an_xlsx_read_over_its_time_is_stopped_and_its_process_killed(tmp_path: Path) -> None:
    path = tmp_path / "grid.xlsx"
    path.write_bytes(dimension_bomb("M-E"))  # a million empty rows for openpyxl to walk through
    with pytest.raises(TooLarge, match="EMC_IMPORT_MAX_SECONDS"):
        source = open_table(path, limits=ReadLimits(seconds=0.05))
        list(iter_chunks(source))
    assert not [c for c in _children() if "reader_process" in c]


def test_rows_and_columns_over_their_limits_are_named(tmp_path: Path) -> None:
    many = tmp_path / "many.csv"
    many.write_text("表号,时间,用量\n" + "".join(f"M-E,2024-01-01 {h % 24:02d}:00,{h}\n" for h in range(3000)))
    with pytest.raises(TooLarge, match="more than 1,000 rows.*EMC_IMPORT_MAX_ROWS"):
        list(iter_chunks(open_table(many, limits=ReadLimits(rows=1000)), chunk_rows=500))
    wide = tmp_path / "wide.csv"
    wide.write_text("时间," + ",".join(f"M{i}" for i in range(50)) + "\n2024-01-01 00:00" + ",1" * 50 + "\n")
    with pytest.raises(TooLarge, match="51 columns, over the limit of 40.*EMC_IMPORT_MAX_COLUMNS"):
        open_table(wide, limits=ReadLimits(columns=40))
    tall = tmp_path / "tall.xlsx"
    tall.write_bytes(workbook("M-E", last_row=b'<row r="5000"><c r="A5000"><v>1</v></c></row>'))
    with pytest.raises(TooLarge, match="reaches row 5,000, over the limit of 1,000 rows"):
        open_table(tall, limits=ReadLimits(rows=1000))


@pytest.mark.parametrize("nesting", ["a = " + "[" * 5000 + "]" * 5000, "a = " + "{b = " * 5000 + "}" * 5000])
def test_deeply_nested_toml_is_a_file_error(nesting: str) -> None:
    with pytest.raises(ContractFileError, match="nested more deeply"):
        parse_contract(nesting, "deep.toml")
    with pytest.raises(TariffFileError, match="nested more deeply"):
        parse_tariffs(nesting, "deep.toml")
