"""Load contract files into the database: idempotent, and a change of terms is an amendment.

Loading the same terms twice changes nothing. Changed terms need an ``[amendment]`` with an
effective date after the current version's; they become a new :class:`ContractVersion`, so the terms
an earlier settlement used stay readable. Services never commit; the caller does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, select

from emc.audit import service as audit
from emc.contracts.models import (
    Contract,
    ContractComponent,
    ContractInstitution,
    ContractMeter,
    ContractVersion,
)
from emc.contracts.spec import ContractFile, ContractFileError
from emc.datafiles import SpecProblem
from emc.dbtypes import utcnow
from emc.metering.models import Meter
from emc.org import service as org
from emc.org.models import Esco, Institution, Region, User
from emc.org.scope import Scope

EVERYTHING = Scope.everything()


@dataclass
class LoadResult:
    code: str
    action: str  # created | amended | unchanged
    version: int
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code}: {self.action} (version {self.version})"


def _problem(source: str, key: str, message: str) -> ContractFileError:
    return ContractFileError([SpecProblem(source, key, message)])


def load_contract(session: Session, spec: ContractFile, *, source: str, actor: User | str,
                  scope: Scope = EVERYTHING) -> LoadResult:
    """Create the contract, amend it, or do nothing if these exact terms are already loaded.

    ``scope`` is the loader's (a web upload passes the user's): every object the file creates or touches —
    the contract, its institutions and their regions, its meters, its ESCO — must lie in it, and a refusal
    says the same whether the object exists elsewhere or not, so nothing outside the scope is revealed."""
    head = spec.contract
    digest = spec.spec_hash()
    contract = session.exec(select(Contract).where(Contract.code == head.code)).first()
    _check_scope(session, spec, contract, source, scope)
    latest = None
    if contract is not None:
        latest = session.exec(select(ContractVersion).where(ContractVersion.contract_id == contract.id)
                              .order_by(ContractVersion.version.desc())).first()
        if latest is not None and latest.spec_hash == digest:
            return LoadResult(head.code, "unchanged", latest.version)
        _check_amendment(spec, latest, source)

    esco = org.upsert_esco(session, spec.esco.code, {
        "name": spec.esco.name, "name_en": spec.esco.name_en, "credit_code": spec.esco.credit_code,
        "contact": spec.esco.contact}, actor=actor)
    institutions = _load_institutions(session, spec, source, actor)
    meters = _load_meters(session, spec, institutions, head.code, source, actor)
    action = "created" if contract is None else "amended"
    contract, version = _write_version(session, spec, contract, latest, esco, source, actor)
    _link_parties(session, contract, institutions.values(), meters)

    before = {"version": latest.version, "spec_hash": latest.spec_hash} if latest else None
    audit.record(session, actor=actor, action=f"contract.{'create' if action == 'created' else 'amend'}",
                 object_type="contract", object_id=head.code, before=before,
                 after={"version": version.version, "spec_hash": digest,
                        "effective_from": version.effective_from.isoformat(),
                        "source": source, "changed": _changed_keys(latest.spec if latest else {}, version.spec)},
                 reason=version.reason)
    session.flush()
    return LoadResult(head.code, action, version.version)


def _check_amendment(spec: ContractFile, latest: ContractVersion | None, source: str) -> None:
    """Changed terms of a loaded contract are a dated amendment inside the term, after the current version."""
    head = spec.contract
    if spec.amendment is None:
        raise _problem(source, "amendment",
                       f"contract {head.code} is loaded already (version {latest.version if latest else '?'}) and "
                       "these terms differ; add [amendment] with effective = <date> and reason = '…' "
                       "so the change is a dated amendment, not a silent rewrite")
    if latest is not None and spec.amendment.effective <= latest.effective_from:
        raise _problem(source, "amendment.effective",
                       f"{spec.amendment.effective} must be after version {latest.version}'s effective date "
                       f"{latest.effective_from}")
    if not head.start <= spec.amendment.effective <= head.end:
        raise _problem(source, "amendment.effective",
                       f"{spec.amendment.effective} is outside the term {head.start}..{head.end}")


def _write_version(session: Session, spec: ContractFile, contract: Contract | None, latest: ContractVersion | None,
                   esco: Esco, source: str, actor: User | str) -> tuple[Contract, ContractVersion]:
    """The contract row (created, or its header amended) and its new version with the components."""
    head = spec.contract
    header: dict[str, Any] = {
        "name": head.name, "name_en": head.name_en, "type": head.type, "esco_id": esco.id,
        "start_date": head.start, "end_date": head.end, "settlement_frequency": head.settlement_frequency,
        "contract_value": head.contract_value, "esco_investment": head.esco_investment,
        "carbon_rights": head.carbon_rights, "source_file": source,
    }
    if contract is None:
        contract = Contract(code=head.code, current_version=1, **header)
        session.add(contract)
        session.flush()
        version_no, effective, reason = 1, head.start, ""
    else:
        assert spec.amendment is not None
        for key, value in header.items():
            setattr(contract, key, value)
        version_no = (latest.version if latest else 0) + 1
        effective, reason = spec.amendment.effective, spec.amendment.reason
        contract.current_version = version_no
        contract.updated_at = utcnow()

    version = ContractVersion(contract_id=contract.id, version=version_no, effective_from=effective, reason=reason,
                              spec=spec.canonical(), spec_hash=spec.spec_hash(), source_file=source,
                              created_by=actor.username if isinstance(actor, User) else actor)
    session.add(version)
    session.flush()
    for position, comp in enumerate(spec.components):
        params = comp.model_dump(mode="json", exclude={"key", "kind", "utilities"}, exclude_none=True)
        session.add(ContractComponent(version_id=version.id, position=position, key=comp.key, kind=comp.kind,
                                      utilities=[str(u) for u in comp.utilities], params=params))
    return contract, version


def _link_parties(session: Session, contract: Contract, institutions: Iterable[Institution],
                  meters: Iterable[Meter]) -> None:
    """Parties and meters are the current ones; what each version covered stays in its spec."""
    session.exec(delete(ContractInstitution).where(ContractInstitution.contract_id == contract.id))
    session.exec(delete(ContractMeter).where(ContractMeter.contract_id == contract.id))
    session.flush()
    for inst in institutions:
        session.add(ContractInstitution(contract_id=contract.id, institution_id=inst.id))
    for meter in meters:
        session.add(ContractMeter(contract_id=contract.id, meter_id=meter.id))


def _not_available(source: str, key: str, what: str) -> ContractFileError:
    return _problem(source, key, f"{what} is not available to you: another one of that code exists outside your "
                                 "scope, or your scope does not cover it; ask an administrator")


def _check_scope(session: Session, spec: ContractFile, contract: Contract | None, source: str, scope: Scope) -> None:
    """Refuse a file that would create or change anything outside ``scope`` (before anything is written)."""
    if scope.is_unrestricted:
        return
    if scope.is_esco:
        raise _not_available(source, "contract.code", f"contract {spec.contract.code}")
    problems: list[SpecProblem] = []
    if contract is not None and session.exec(select(Contract.id).where(
            Contract.id == contract.id, scope.clause_for(Contract))).first() is None:
        problems += _not_available(source, "contract.code", f"contract {spec.contract.code}").problems
    for i, item in enumerate(spec.institutions):
        key = f"institutions[{i}] ({item.code})"
        region = org.region_by_code(session, item.region)
        if region is not None and not scope.covers_region(region):
            problems += _not_available(source, f"{key}.region", f"region {item.region}").problems
        existing = session.exec(select(Institution).where(Institution.code == item.code)).first()
        if existing is not None and not scope.covers_region(session.get(Region, existing.region_id)):
            problems += _not_available(source, key, f"institution {item.code}").problems
    for i, item in enumerate(spec.meters):
        existing_meter = session.exec(select(Meter).where(Meter.code == item.code)).first()
        if existing_meter is not None and session.exec(select(Meter.id).where(
                Meter.id == existing_meter.id, scope.clause_for(Meter))).first() is None:
            problems += _not_available(source, f"meters[{i}] ({item.code})", f"meter {item.code}").problems
    esco = session.exec(select(Esco).where(Esco.code == spec.esco.code)).first()
    if esco is not None:
        values = {"name": spec.esco.name, "name_en": spec.esco.name_en, "credit_code": spec.esco.credit_code,
                  "contact": spec.esco.contact}
        if any(getattr(esco, k) != v for k, v in values.items()):
            problems.append(SpecProblem(source, "esco", f"ESCO {spec.esco.code} is registered with other details; "
                                        "only an administrator changes a company's name, credit code or contact"))
    if problems:
        raise ContractFileError(problems)


def _load_institutions(session: Session, spec: ContractFile, source: str,
                       actor: User | str) -> dict[str, Institution]:
    found: dict[str, Institution] = {}
    for i, item in enumerate(spec.institutions):
        region = org.region_by_code(session, item.region)
        if region is None:
            raise _problem(source, f"institutions[{i}] ({item.code}).region",
                           f"region {item.region!r} is not known; load it with `emc regions load`")
        inst = org.upsert_institution(session, item.code, {
            "name": item.name, "name_en": item.name_en, "category": item.category, "region_id": region.id,
            "timezone": item.timezone, "weather_station": item.weather_station, "address": item.address,
        }, actor=actor)
        if item.floor_area_m2 is not None and item.energy_users is not None and spec.baseline is not None:
            org.ensure_institution_year(session, inst, spec.baseline.start.year, item.floor_area_m2,
                                        item.energy_users)
        found[item.code] = inst
    return found


def _load_meters(session: Session, spec: ContractFile, institutions: dict[str, Institution], contract_code: str,
                 source: str, actor: User | str) -> list[Meter]:
    meters = []
    for i, item in enumerate(spec.meters):
        values = {
            "name": item.name, "institution_id": institutions[item.institution].id, "utility": item.utility,
            "unit": item.unit, "multiplier": item.multiplier, "register_type": item.register_type,
            "register_digits": item.digits, "sub_item": item.sub_item,
        }
        existing = session.exec(select(Meter).where(Meter.code == item.code)).first()
        if existing is not None:
            others = session.exec(
                select(Contract.code).join(ContractMeter, ContractMeter.contract_id == Contract.id)
                .where(ContractMeter.meter_id == existing.id, Contract.code != contract_code)).all()
            differs = [k for k, v in values.items() if getattr(existing, k) != v]
            if others and differs:
                raise _problem(source, f"meters[{i}] ({item.code})",
                               f"meter is also under {', '.join(others)} with different {', '.join(differs)}; "
                               "a shared meter must be described identically in every contract file")
        meter = existing
        if meter is None:
            meter = Meter(code=item.code, **values)
            session.add(meter)
            session.flush()
            audit.record(session, actor=actor, action="meter.create", object_type="meter", object_id=item.code,
                         after={k: str(v) for k, v in values.items()})
        else:
            before, after = org.apply_changes(meter, values)
            if after:
                audit.record(session, actor=actor, action="meter.update", object_type="meter",
                             object_id=item.code, before=before, after=after)
        meters.append(meter)
    return meters


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Top-level and second-level keys whose values differ, for the audit trail."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict) and not prefix:
            keys.extend(_changed_keys(a, b, prefix=f"{key}."))
        else:
            keys.append(prefix + key)
    return keys


def version_at(session: Session, contract: Contract, day: date) -> ContractVersion | None:
    """The terms in force on ``day``: the latest version effective on or before it."""
    return session.exec(
        select(ContractVersion).where(ContractVersion.contract_id == contract.id,
                                      ContractVersion.effective_from <= day)
        .order_by(ContractVersion.effective_from.desc(), ContractVersion.version.desc())).first()


def current_version(session: Session, contract: Contract) -> ContractVersion:
    version = session.exec(select(ContractVersion).where(
        ContractVersion.contract_id == contract.id, ContractVersion.version == contract.current_version)).one()
    return version


def components(session: Session, version: ContractVersion) -> list[ContractComponent]:
    return list(session.exec(select(ContractComponent).where(ContractComponent.version_id == version.id)
                             .order_by(ContractComponent.position)).all())


def count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Contract)).one()


def esco_of(session: Session, contract: Contract) -> Esco:
    esco = session.get(Esco, contract.esco_id)
    assert esco is not None
    return esco
