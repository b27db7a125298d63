"""The contract file's [allocation] term: the county example sets it; a wrong one is refused naming the
file, the key and the value."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from emc.contracts.allocation import allocation_of, basis_utility
from emc.contracts.spec import ContractFileError, load_contract_file, parse_contract

ROOT = Path(__file__).resolve().parent.parent
SMALL = (Path(__file__).parent / "data" / "small-shared.toml").read_text(encoding="utf-8")
SECOND = """
[[institutions]]
code = "T-SCH-2"
name = "滨湖区测试中学"
category = "school"
region = "320211"
"""
TWO = SMALL.replace("[[meters]]", SECOND + "\n[[meters]]", 1)


def problems(text: str) -> list[str]:
    with pytest.raises(ContractFileError) as info:
        parse_contract(text, "broken.toml")
    return [str(p) for p in info.value.problems]


def test_every_multi_institution_example_says_how_its_amount_is_split() -> None:
    multi = [spec for spec in map(load_contract_file, sorted((ROOT / "contracts").glob("*.toml")))
             if len(spec.institutions) > 1]
    assert multi, "the county custody example covers 30 institutions"
    for spec in multi:
        assert spec.allocation is not None, spec.contract.code
    county = next(s for s in multi if s.contract.code == "YX-TG-2023")
    assert county.allocation is not None
    assert (county.allocation.basis, county.allocation.utility, county.allocation.signatory) == (
        "measured_use", "electricity", "bureau")


def test_without_the_term_the_default_is_measured_use_signed_by_the_bureau() -> None:
    spec = parse_contract(TWO)
    assert spec.allocation is None
    term = allocation_of(spec)
    assert (term.basis, term.signatory) == ("measured_use", "bureau")
    assert basis_utility(spec) == "electricity"  # the component's utility


def test_fixed_shares_read_as_exact_decimals() -> None:
    spec = parse_contract(TWO + '\n[allocation]\nbasis = "fixed"\nshares = { "T-SCH-1" = 0.6, "T-SCH-2" = 0.4 }\n'
                          'signatory = "T-SCH-1"\n')
    assert spec.allocation is not None
    assert spec.allocation.shares == {"T-SCH-1": Decimal("0.6"), "T-SCH-2": Decimal("0.4")}
    assert spec.canonical()["allocation"]["shares"] == {"T-SCH-1": "0.6", "T-SCH-2": "0.4"}


@pytest.mark.parametrize(("term", "key", "says"), [
    ('basis = "fixed"\nshares = { "T-SCH-1" = 0.6, "T-SCH-2" = 0.3 }', "allocation.shares", "sum to 0.9, not 1"),
    ('basis = "fixed"\nshares = { "T-SCH-1" = 1 }', "allocation.shares", "no share for T-SCH-2"),
    ('basis = "fixed"\nshares = { "T-SCH-1" = 0.5, "T-SCH-2" = 0.25, "T-X" = 0.25 }', "allocation.shares.T-X",
     "'T-X' is not in [[institutions]]"),
    ('shares = { "T-SCH-1" = 0.5, "T-SCH-2" = 0.5 }', "allocation.shares", "for basis = 'fixed'"),
    ('utility = "water"', "allocation.utility", "'water' has no meter"),
    ('signatory = "T-NOBODY"', "allocation.signatory", "'T-NOBODY' is neither 'bureau' nor an institution"),
    ('basis = "by_floor_area"', "allocation.basis", "by_floor_area"),
    ('basis = "fixed"\nshares = { "T-SCH-1" = 1.5, "T-SCH-2" = 0 }', "allocation.shares.T-SCH-1", "1.5"),
])
def test_a_wrong_term_names_file_key_and_value(term: str, key: str, says: str) -> None:
    [message] = problems(TWO + "\n[allocation]\n" + term + "\n")
    assert message.startswith("broken.toml: ") and key in message and says in message, message


def test_several_metered_utilities_need_the_basis_named() -> None:
    text = TWO.replace("[baseline]", '[[meters]]\ncode = "T-SCH-2-W"\ninstitution = "T-SCH-2"\nutility = "water"\n'
                                     'unit = "m3"\n\n[baseline]', 1)
    [message] = problems(text + '\n[allocation]\nbasis = "measured_use"\n')
    assert "allocation.utility" in message and "electricity, water" in message
