"""Contract files: the shipped examples validate; broken files are refused with file, key and problem."""

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from emc.contracts.spec import ContractFileError, load_contract_file, parse_contract

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "contracts").glob("*.toml"))
SMALL = (Path(__file__).parent / "data" / "small-shared.toml").read_text(encoding="utf-8")


def problems(text: str) -> list[str]:
    with pytest.raises(ContractFileError) as info:
        parse_contract(text, "broken.toml")
    return [str(p) for p in info.value.problems]


def test_there_are_five_examples_covering_every_type() -> None:
    specs = [load_contract_file(p) for p in EXAMPLES]
    assert len(specs) >= 5
    kinds = {c.kind for s in specs for c in s.components}
    assert kinds >= {"shared_savings", "guaranteed_savings", "cost_custody", "lease"}
    assert any(len(s.institutions) >= 20 for s in specs), "a county-wide package covers many institutions"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(path: Path) -> None:
    spec = load_contract_file(path)
    assert spec.contract.notes, "each example states its assumptions"


def test_numbers_are_exact_decimals() -> None:
    spec = parse_contract(SMALL)
    assert spec.valuation is not None
    assert spec.valuation.prices["electricity"] == Decimal("0.6832")
    assert spec.contract.contract_value == Decimal("600000.00")
    assert spec.canonical()["valuation"]["prices"]["electricity"] == "0.6832"


def test_unknown_key_is_named() -> None:
    text = SMALL.replace('esco_share = [0.85, 0.80, 0.70]', 'esco_share = [0.85, 0.80, 0.70]\nesco_shares = 1')
    assert problems(text) == ["broken.toml: components[0] (share).esco_shares: "
                              "unknown key (misspelt? see contracts/README.md)"]


def test_share_above_one_is_named_with_its_value() -> None:
    text = SMALL.replace("[0.85, 0.80, 0.70]", "[0.85, 80, 0.70]")
    [message] = problems(text)
    assert "components[0] (share).esco_share[1]" in message and "between 0 and 1" in message and "80" in message


def test_too_few_shares_for_the_term() -> None:
    [message] = problems(SMALL.replace("[0.85, 0.80, 0.70]", "[0.85, 0.80]"))
    assert "components[0] (share).esco_share" in message and "3-year term" in message


def test_money_with_fractions_of_a_fen() -> None:
    [message] = problems(SMALL.replace("600000.00", "600000.005"))
    assert "contract.contract_value" in message and "fen" in message


def test_meter_of_an_unknown_institution() -> None:
    [message] = problems(SMALL.replace('institution = "T-SCH-1"', 'institution = "NOPE"'))
    assert "meters[0] (T-SCH-1-E).institution" in message and "'NOPE'" in message


def test_missing_required_key_and_bad_date() -> None:
    text = SMALL.replace('settlement_frequency = "monthly"\n', "").replace("end = 2026-12-31", 'end = "soon"')
    found = problems(text)
    assert any("contract.settlement_frequency: required key is missing" in p for p in found)
    assert any("contract.end" in p and "soon" in p for p in found)


def test_unknown_component_kind() -> None:
    [message] = problems(SMALL.replace('kind = "shared_savings"', 'kind = "magic"'))
    assert "components[0] (share)" in message and "'magic'" in message


def test_toml_syntax_error_has_a_line() -> None:
    [message] = problems(SMALL.replace('name = "测试学校照明节能改造"', 'name = "unterminated'))
    assert message.startswith("broken.toml:") and "not valid TOML" in message


def test_baseline_must_precede_the_contract() -> None:
    [message] = problems(SMALL.replace("end = 2023-12-31", "end = 2024-02-01"))
    assert "baseline.end" in message and "before the contract start" in message


def test_cli_check_names_the_key_and_exits_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace('category = "school"', 'category = "castle"'), encoding="utf-8")
    good = tmp_path / "good.toml"
    good.write_text(SMALL, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "emc.cli", "contracts", "check", str(good), str(bad)],
                         capture_output=True, text=True, env={**os.environ, "EMC_DATA_DIR": str(tmp_path)})
    assert run.returncode == 1
    assert f"ok    {good}" in run.stdout
    assert f"{bad}: institutions[0] (T-SCH-1).category" in run.stderr and "castle" in run.stderr


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_stored_terms_read_back_as_the_same_contract(path: Path) -> None:
    from emc.contracts.spec import ContractFile

    spec = load_contract_file(path)
    again = ContractFile.model_validate(spec.canonical())
    assert again == spec and again.spec_hash() == spec.spec_hash()


@pytest.mark.parametrize(("start", "end", "years"), [
    ("2022-03-15", "2027-03-14", 5), ("2018-12-01", "2023-11-30", 5), ("2024-01-01", "2024-01-31", 1),
    ("2020-02-29", "2025-02-27", 5), ("2020-02-29", "2025-02-28", 6), ("2024-01-01", "2025-01-01", 2),
])
def test_contract_years_count_anniversaries(start: str, end: str, years: int) -> None:
    from datetime import date

    from emc.contracts.spec import ContractHead

    head = ContractHead(code="X", name="x", type="lease", start=date.fromisoformat(start),
                        end=date.fromisoformat(end), settlement_frequency="monthly")
    assert head.contract_years == years


def test_contract_year_start_moves_the_contract_years() -> None:
    from datetime import date

    from emc.contracts.spec import ContractHead

    head = ContractHead(code="X", name="x", type="lease", start=date(2024, 3, 15), end=date(2026, 12, 31),
                        settlement_frequency="monthly", contract_year_start="01-01")
    assert head.contract_year_starts() == [date(2024, 3, 15), date(2025, 1, 1), date(2026, 1, 1)]


def test_absurd_amounts_are_errors_not_crashes() -> None:
    [message] = problems(SMALL.replace("contract_value = 600000.00", "contract_value = 1e30"))
    assert "contract.contract_value" in message and "too large" in message


def test_editing_only_the_amendment_note_is_not_a_change_of_terms() -> None:
    base = parse_contract(SMALL + '\n[amendment]\neffective = 2025-01-01\nreason = "first wording"\n')
    edited = parse_contract(SMALL + '\n[amendment]\neffective = 2025-01-01\nreason = "better wording"\n')
    assert base.spec_hash() == edited.spec_hash() == parse_contract(SMALL).spec_hash()
