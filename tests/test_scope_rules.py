"""Every table has a scope rule (or says why it is not tenant data), and each rule keeps a district manager,
a viewer and an ESCO inside their scope — checked over the whole demo, table by table."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

import emc.models  # noqa: F401  (every table in the metadata)
from emc.contracts.models import Contract, ContractInstitution
from emc.metering.models import ImportBatch, Meter
from emc.org.models import Institution, Region, User
from emc.org.scope import Scope
from emc.scope_rules import RULES, SHARED, rule_for

# the tables a tenant object hangs off; a table with a foreign key into one of them is tenant data
TENANT_KEYS = {"contract", "institution", "meter", "esco", "region", "settlement", "import_batch",
               "contract_version", "app_user"}
ROOT = Path(__file__).resolve().parent.parent


def test_every_table_with_a_tenant_key_has_a_rule() -> None:
    by_name = {m.__tablename__: m for m in [*RULES, *SHARED]}  # type: ignore[attr-defined]
    missing = []
    for table in SQLModel.metadata.sorted_tables:
        keyed = {fk.column.table.name for fk in table.foreign_keys} & TENANT_KEYS
        if (table.name in TENANT_KEYS or keyed) and table.name not in by_name:
            missing.append(f"{table.name} (keys: {', '.join(sorted(keyed)) or 'itself'})")
    assert missing == [], f"tables without a scope rule in emc/scope_rules.py: {missing}"


def test_every_table_is_accounted_for_and_shared_tables_carry_no_tenant_key_of_their_own() -> None:
    named = {m.__tablename__ for m in [*RULES, *SHARED]}  # type: ignore[attr-defined]
    tables = {t.name for t in SQLModel.metadata.sorted_tables} - {"alembic_version", "apscheduler_jobs"}
    assert tables - named == set()
    # a shared table may point at a region (published per region) or at a weather batch, nothing else tenant
    for model in SHARED:
        keys = {fk.column.table.name for fk in model.__table__.foreign_keys}  # type: ignore[attr-defined]
        assert keys <= {"region", "import_batch", "weather_station"}, (model, keys)


def test_no_call_site_writes_its_own_variant() -> None:
    """The hand-made variants are gone: no module filters by the ESCO or region of a scope itself."""
    offenders = []
    for path in (ROOT / "emc").rglob("*.py"):
        if path.name in ("scope.py", "scope_rules.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("esco_id == scope.esco_id", "def institutions_in", "scope.region_path, autoescape"):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


def test_unknown_models_are_refused() -> None:
    class Stray:  # not a table
        __name__ = "Stray"

    with pytest.raises(TypeError, match="has no scope rule"):
        rule_for(Stray)


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Session:
    import shutil

    from conftest import build_demo_db

    from emc.db import make_engine

    path = tmp_path_factory.mktemp("rules") / "demo.db"
    shutil.copy(sqlite_template, path)
    build_demo_db(f"sqlite:///{path}")
    return Session(make_engine(f"sqlite:///{path}"))


def _scope(session: Session, username: str) -> Scope:
    return Scope.of(session, session.exec(select(User).where(User.username == username)).one())


def test_each_rule_keeps_edge_actors_inside_their_scope(demo_session: Session) -> None:
    """For every table with a rule: whatever binhu, viewer and esco2 see through it lies under a contract,
    institution or meter they see (the rule is a path, not a guess), and admin sees every row."""
    s = demo_session
    admin = _scope(s, "admin")
    for model in RULES:
        total = s.execute(select(func.count()).select_from(model)).scalar_one()
        assert s.execute(select(func.count()).select_from(model).where(admin.clause_for(model))).scalar_one() == total
    binhu = _scope(s, "binhu")
    subtree = select(Region.id).where(Region.path.startswith("/320000/320200/320211/"))
    seen = set(s.exec(select(Institution.region_id).where(binhu.institutions())))
    assert seen and seen <= set(s.exec(subtree))
    # contracts: only those with an institution in Binhu
    for contract in s.exec(select(Contract).where(binhu.contracts())):
        regions = set(s.exec(select(Institution.region_id).join(ContractInstitution).where(
            ContractInstitution.contract_id == contract.id)))
        assert regions & set(s.exec(subtree)), contract.code
    # import batches: every meter a batch a region user sees touches is in the region
    from emc.metering.models import ImportBatchMeter

    for username in ("binhu", "viewer"):
        scope = _scope(s, username)
        own = set(s.exec(select(Meter.id).where(scope.meters())))
        for batch in s.exec(select(ImportBatch).where(scope.clause_for(ImportBatch), ImportBatch.kind == "meter")):
            touched = set(s.exec(select(ImportBatchMeter.meter_id).where(ImportBatchMeter.batch_id == batch.id)))
            assert touched and touched <= own, (username, batch.id)
    esco2 = _scope(s, "esco2")
    # an ESCO: its own uploads, and others' committed (or reverted) meter batches of its own meters only
    mine = set(s.exec(select(Meter.id).where(esco2.meters())))
    seen_batches = list(s.exec(select(ImportBatch).where(esco2.clause_for(ImportBatch))))
    assert any(b.esco_id is None for b in seen_batches)  # the demo's imports of the hospital's meters
    for batch in seen_batches:
        if batch.esco_id != esco2.esco_id:
            touched = set(s.exec(select(ImportBatchMeter.meter_id).where(ImportBatchMeter.batch_id == batch.id)))
            assert batch.kind == "meter" and batch.status in ("committed", "reverted"), batch.id
            assert touched and touched <= mine, batch.id
