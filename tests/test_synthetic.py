"""The synthetic portfolio generator on a real SQLite file: counts, shapes, determinism."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from emc.contracts.models import Contract, ContractInstitution, ContractMeter, ContractVersion
from emc.contracts.spec import ContractFile
from emc.db import make_engine, session_scope, upgrade
from emc.demo.portfolio import PortfolioSummary, SyntheticError, generate
from emc.demo.spec import PortfolioSpec
from emc.metering.models import Meter, Reading
from emc.org.models import Esco, Institution, Region

SHANGHAI = ZoneInfo("Asia/Shanghai")
SMALL = PortfolioSpec(institutions=40, contracts=15, meters=120, years=1, start=date(2022, 1, 1), seed=7)


def _portfolio(path: Path, spec: PortfolioSpec) -> tuple[Engine, PortfolioSummary]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with session_scope(engine) as session:
        summary = generate(session, spec)
    return engine, summary


def _terms(spec: dict) -> ContractFile:
    """Validate stored terms again, exactly as stored."""
    return ContractFile.model_validate(spec)


def _fingerprint(engine: Engine) -> tuple[str, float]:
    """A digest of every contract's terms, and the sum of all readings."""
    with Session(engine) as s:
        specs = s.exec(select(Contract.code, ContractVersion.spec)
                       .join(ContractVersion, ContractVersion.contract_id == Contract.id)
                       .order_by(Contract.code)).all()
        total = s.exec(select(func.sum(Reading.value))).one()
    blob = json.dumps([[code, spec] for code, spec in specs], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest(), round(float(total or 0), 3)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, PortfolioSummary]:
    return _portfolio(tmp_path_factory.mktemp("syn") / "t.db", SMALL)


def test_counts_are_the_ones_asked_for(small: tuple[Engine, PortfolioSummary]) -> None:
    engine, summary = small
    with Session(engine) as s:
        institutions = s.exec(select(func.count()).select_from(Institution)).one()
        contracts = s.exec(select(func.count()).select_from(Contract)).one()
        meters = s.exec(select(func.count()).select_from(Meter)).one()
        escos = s.exec(select(func.count()).select_from(Esco)).one()
    assert institutions == SMALL.institutions == summary.institutions
    assert contracts == SMALL.contracts == summary.contracts
    assert abs(meters - SMALL.meters) <= 0.1 * SMALL.meters and meters == summary.meters
    assert 2 <= escos == summary.escos < contracts


def test_every_contract_type_at_a_plausible_share(small: tuple[Engine, PortfolioSummary]) -> None:
    engine, _ = small
    with Session(engine) as s:
        types = Counter(s.exec(select(Contract.type)).all())
    assert set(types) == {"cost_custody", "shared_savings", "guaranteed_savings", "lease", "hybrid"}
    # Custody and shared savings are the common ones; no type crowds out the others.
    assert {t for t, _ in types.most_common(2)} == {"cost_custody", "shared_savings"}
    assert max(types.values()) <= 0.5 * SMALL.contracts


def test_every_contract_validates_and_is_version_one(small: tuple[Engine, PortfolioSummary]) -> None:
    engine, _ = small
    with Session(engine) as s:
        rows = s.exec(select(Contract, ContractVersion)
                      .join(ContractVersion, ContractVersion.contract_id == Contract.id)).all()
        assert len(rows) == SMALL.contracts  # one version each
        for contract, version in rows:
            spec = _terms(version.spec)
            assert contract.code.startswith("SYN-") and spec.contract.code == contract.code
            assert contract.current_version == version.version == 1
            assert spec.spec_hash() == version.spec_hash
            assert contract.contract_value is not None and contract.contract_value > 0
            if spec.baseline is not None:
                assert spec.baseline.use and spec.baseline.cost and spec.baseline.cost > 0
            meters = s.exec(select(func.count()).select_from(ContractMeter)
                            .where(ContractMeter.contract_id == contract.id)).one()
            assert meters == len(spec.meters) >= 1


def test_portfolio_has_the_shapes_of_a_city(small: tuple[Engine, PortfolioSummary]) -> None:
    engine, _ = small
    with Session(engine) as s:
        links = s.exec(select(ContractInstitution.contract_id, ContractInstitution.institution_id)).all()
        categories = Counter(s.exec(select(Institution.category)).all())
        city = s.exec(select(Region).where(Region.code == SMALL.city)).one()
        regions = {r.id: r for r in s.exec(select(Region)).all()}
        inst_regions = s.exec(select(Institution.region_id)).all()
        names = s.exec(select(Institution.name)).all()
    per_contract = Counter(c for c, _ in links)
    per_institution = Counter(i for _, i in links)
    assert max(per_contract.values()) >= 3  # a package covering several institutions
    assert 2 in per_institution.values()  # an institution with an energy and a water contract
    assert len(per_institution) < SMALL.institutions  # and institutions under no contract
    assert categories["organ"] == 18 and categories["school"] == 12  # 45 % and 30 % of 40
    assert all(regions[r].id == city.id or regions[r].parent_id == city.id for r in inst_regions)
    places = ["无锡"] + [r.name for r in regions.values() if r.parent_id == city.id]
    assert len(set(names)) == len(names) and all(any(p in n for p in places) for n in names)


def test_daily_readings_cover_every_meter_and_day(small: tuple[Engine, PortfolioSummary]) -> None:
    engine, summary = small
    days = (date(2023, 1, 1) - SMALL.start).days
    with Session(engine) as s:
        meters = s.exec(select(func.count()).select_from(Meter)).one()
        count, lowest, first = s.exec(select(func.count(), func.min(Reading.value),
                                             func.min(Reading.period_start))).one()
        per_meter = set(s.exec(select(func.count()).select_from(Reading).group_by(Reading.meter_id)).all())
    assert count == summary.readings == meters * days
    assert per_meter == {days}
    assert lowest >= 0
    assert first == datetime(2021, 12, 31, 16, tzinfo=UTC)  # local midnight in Asia/Shanghai


def test_a_second_run_on_the_same_database_is_refused(small: tuple[Engine, PortfolioSummary]) -> None:
    engine, summary = small
    before = _fingerprint(engine)
    refused = pytest.raises(SyntheticError, match="already holds a synthetic portfolio")
    with refused, session_scope(engine) as s:
        generate(s, SMALL)
    assert _fingerprint(engine) == before


def test_same_seed_same_portfolio_other_seed_other(tmp_path: Path,
                                                   small: tuple[Engine, PortfolioSummary]) -> None:
    engine, summary = small
    again, again_summary = _portfolio(tmp_path / "again.db", SMALL)
    other, other_summary = _portfolio(tmp_path / "other.db", PortfolioSpec(**{**SMALL.__dict__, "seed": 8}))
    assert _fingerprint(again) == _fingerprint(engine)
    assert again_summary.spec_digest == summary.spec_digest
    digest, total = _fingerprint(other)
    assert digest != _fingerprint(engine)[0] and total != _fingerprint(engine)[1]
    assert other_summary.spec_digest != summary.spec_digest


def test_baselines_agree_with_the_readings_and_savings_follow_the_start(tmp_path: Path) -> None:
    spec = PortfolioSpec(institutions=30, contracts=12, meters=60, years=3, interval="monthly", seed=3)
    engine, summary = _portfolio(tmp_path / "m.db", spec)
    assert summary.readings == summary.meters * 36
    checked = 0
    with Session(engine) as s:
        rows = s.exec(select(Contract, ContractVersion)
                      .join(ContractVersion, ContractVersion.contract_id == Contract.id)).all()
        for contract, version in rows:
            terms = _terms(version.spec)
            if terms.baseline is None or terms.baseline.start < spec.start:
                continue
            for utility, use in terms.baseline.use.items():
                ids = [m.id for m in _meters_of(s, contract.id)
                       if m.utility == utility and m.sub_item == "total"]
                lo = datetime.combine(terms.baseline.start, time(), SHANGHAI)
                hi = datetime.combine(terms.contract.start, time(), SHANGHAI)
                metered = s.exec(select(func.sum(Reading.value)).where(
                    Reading.meter_id.in_(ids), Reading.period_start >= lo, Reading.period_start < hi)).one()
                assert metered == pytest.approx(float(use), rel=0.03)
                checked += 1
    assert checked >= 3


def _meters_of(s: Session, contract_id: int) -> list[Meter]:
    return list(s.exec(select(Meter).join(ContractMeter, ContractMeter.meter_id == Meter.id)
                       .where(ContractMeter.contract_id == contract_id)).all())


def test_hourly_and_none(tmp_path: Path) -> None:
    tiny = PortfolioSpec(institutions=6, contracts=2, meters=4, years=1, interval="hourly", seed=5)
    _, summary = _portfolio(tmp_path / "h.db", tiny)
    assert summary.periods == 365 * 24 and summary.readings == summary.meters * 365 * 24
    _, none = _portfolio(tmp_path / "n.db", PortfolioSpec(**{**tiny.__dict__, "interval": "none"}))
    assert none.readings == 0 and none.spec_digest == summary.spec_digest  # structure ignores the interval


def test_the_demo_city_meters_every_institution_up_to_the_last_full_month(tmp_path: Path) -> None:
    """Issue 13: the demo's city has readings for every institution from January of last year to the last full
    month before the day it is built, and institutions of a category differ as real ones do."""
    from emc.demo.spec import demo_spec

    spec = demo_spec(6, date(2026, 12, 4))
    assert (spec.start, spec.end, spec.months) == (date(2025, 1, 1), date(2026, 12, 1), 23)
    engine, summary = _portfolio(tmp_path / "d.db", spec)
    assert summary.institutions == 12 and summary.readings == summary.meters * 23
    with Session(engine) as s:
        metered = set(s.exec(select(Meter.institution_id).distinct()).all())
        assert metered == set(s.exec(select(Institution.id)).all())  # under contract or not
        last = s.exec(select(func.max(Reading.period_end))).one()
        assert last.astimezone(SHANGHAI).date() == date(2026, 12, 1)  # type: ignore[union-attr]
        use = []
        for inst in s.exec(select(Institution)).all():
            ids = [m.id for m in s.exec(select(Meter).where(Meter.institution_id == inst.id,
                                                            Meter.utility == "electricity",
                                                            Meter.sub_item == "total")).all()]
            kwh = s.exec(select(func.sum(Reading.value)).where(Reading.meter_id.in_(ids))).one() or 0
            use.append(kwh)
    assert len({round(v) for v in use}) == len(use)  # no two institutions alike
