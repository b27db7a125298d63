"""The one file-reader kit (emc.datafiles): contracts, tariffs and carbon data files read and report alike."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from emc import datafiles
from emc.carbon.core.carbon_file import CarbonFileError, load_data_file, parse_data_text
from emc.contracts.spec import ContractFileError, load_contract_file, parse_contract
from emc.tariffs.files import TariffFileError, load_tariff_file, parse_tariffs

READERS = [(parse_contract, ContractFileError), (parse_tariffs, TariffFileError), (parse_data_text, CarbonFileError)]
LOADERS = [(load_contract_file, ContractFileError), (load_tariff_file, TariffFileError),
           (load_data_file, CarbonFileError)]


def test_numbers_are_exact_decimals() -> None:
    assert datafiles.loads("a = 0.1\nb = [1.10, 2]") == {"a": Decimal("0.1"), "b": [Decimal("1.10"), 2]}


def test_invalid_toml_reads_the_same_in_every_reader() -> None:
    said = []
    for parse, error in READERS:
        with pytest.raises(error) as info:
            parse("format = 1\n\nthis is not toml\n", "broken.toml")
        [problem] = info.value.problems
        said.append(str(problem))
    assert said[0].startswith("broken.toml") and "not valid TOML: " in said[0]
    assert said == [said[0]] * 3


@pytest.mark.parametrize(("load", "error"), LOADERS)
def test_missing_and_non_utf8_files_are_named(load, error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match="no such file"):
        load(tmp_path / "gone.toml")
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes("name = '无锡'".encode("gbk"))
    with pytest.raises(error) as info:
        load(gbk)
    assert str(info.value) == f"{gbk}: not UTF-8 text (invalid continuation byte at byte 8)"


def test_key_paths_label_list_items_and_skip_the_discriminator() -> None:
    data = {"components": [{"key": "base"}, {"key": "share", "kind": "shared_savings", "esco_share": [1]}]}
    loc = ("components", 1, "shared_savings", "esco_share", 0)
    assert datafiles.key_path(loc, data) == "components[1] (share).esco_share[0]"
    assert datafiles.key_path(("factor", 0, "value"), {"factor": [{"id": "co2.x"}]}, idents=("id",)) == \
        "factor[0] (co2.x).value"
