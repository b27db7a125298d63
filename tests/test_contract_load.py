"""Loading contracts: idempotent, changes only as dated amendments, nothing half-written."""

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from emc.audit.models import AuditEvent
from emc.contracts.models import Contract, ContractComponent, ContractVersion
from emc.contracts.service import components, load_contract, version_at
from emc.contracts.spec import ContractFileError, parse_contract
from emc.metering.models import Meter
from emc.org.models import Institution, InstitutionYear
from emc.org.service import load_regions

SMALL = (Path(__file__).parent / "data" / "small-shared.toml").read_text(encoding="utf-8")
AMENDED = SMALL.replace("[0.85, 0.80, 0.70]", "[0.85, 0.75, 0.70]") + """
[amendment]
effective = 2025-01-01
reason = "第二年分享比例经双方协商由 80% 调整为 75%"
"""


def load(session: Session, text: str, name: str = "small.toml"):  # type: ignore[no-untyped-def]
    result = load_contract(session, parse_contract(text, name), source=name, actor="test")
    session.commit()
    return result


def count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def regions(session: Session) -> Session:
    load_regions(session)
    session.commit()
    return session


def test_first_load_creates_everything(regions: Session) -> None:
    result = load(regions, SMALL)
    assert (result.action, result.version) == ("created", 1)
    contract = regions.exec(select(Contract)).one()
    assert contract.code == "T-SCHOOL-2024" and contract.type == "shared_savings"
    assert str(contract.contract_value) == "600000.00"
    meter = regions.exec(select(Meter)).one()
    assert (meter.code, meter.register_type, meter.register_digits, str(meter.multiplier)) == (
        "T-SCH-1-E", "cumulative", 7, "40")
    year = regions.exec(select(InstitutionYear)).one()
    assert (year.year, year.energy_users) == (2023, 900)
    [comp] = regions.exec(select(ContractComponent)).all()
    assert comp.params["esco_share"] == ["0.85", "0.80", "0.70"]


def test_loading_the_same_file_twice_changes_nothing(regions: Session) -> None:
    load(regions, SMALL)
    audits, versions = count(regions, AuditEvent), count(regions, ContractVersion)
    again = load(regions, SMALL)
    assert again.action == "unchanged"
    assert (count(regions, AuditEvent), count(regions, ContractVersion)) == (audits, versions)


def test_changed_terms_without_amendment_are_refused_and_nothing_changes(regions: Session) -> None:
    load(regions, SMALL)
    changed = SMALL.replace("[0.85, 0.80, 0.70]", "[0.85, 0.75, 0.70]").replace("滨湖区测试小学", "改名小学")
    with pytest.raises(ContractFileError, match=r"small.toml: amendment: contract T-SCHOOL-2024 is loaded already"):
        load(regions, changed)
    regions.rollback()
    assert regions.exec(select(Institution.name)).one() == "滨湖区测试小学"
    assert count(regions, ContractVersion) == 1


def test_amendment_becomes_a_new_version_and_old_terms_stay(regions: Session) -> None:
    load(regions, SMALL)
    result = load(regions, AMENDED)
    assert (result.action, result.version) == ("amended", 2)
    contract = regions.exec(select(Contract)).one()
    assert contract.current_version == 2
    v1 = version_at(regions, contract, date(2024, 6, 30))
    v2 = version_at(regions, contract, date(2025, 1, 1))
    assert v1 is not None and v2 is not None
    assert (v1.version, v2.version) == (1, 2)
    assert components(regions, v1)[0].params["esco_share"][1] == "0.80"
    assert components(regions, v2)[0].params["esco_share"][1] == "0.75"
    event = regions.exec(select(AuditEvent).where(AuditEvent.action == "contract.amend")).one()
    assert event.reason.startswith("第二年分享比例") and "components" in event.after["changed"]
    assert load(regions, AMENDED).action == "unchanged"


def test_amendment_must_move_forward_in_time(regions: Session) -> None:
    load(regions, SMALL)
    load(regions, AMENDED)
    older = AMENDED.replace("0.70]", "0.65]").replace("effective = 2025-01-01", "effective = 2024-06-01")
    with pytest.raises(ContractFileError, match=r"amendment.effective: 2024-06-01 must be after version 2"):
        load(regions, older)


def test_unknown_region_names_the_key(regions: Session) -> None:
    with pytest.raises(ContractFileError, match=r"institutions\[0\] \(T-SCH-1\).region: region '329999' is not known"):
        load(regions, SMALL.replace('region = "320211"', 'region = "329999"'))
    regions.rollback()
    assert count(regions, Contract) == 0


def test_a_shared_meter_must_be_described_identically(regions: Session) -> None:
    load(regions, SMALL)
    other = SMALL.replace("T-SCHOOL-2024", "T-OTHER-2024").replace("multiplier = 40", "multiplier = 80")
    with pytest.raises(ContractFileError, match=r"meters\[0\] \(T-SCH-1-E\).*also under T-SCHOOL-2024.*multiplier"):
        load(regions, other)
