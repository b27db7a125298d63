"""Loading the carbon domain's data files (factors, ledger settings, targets, quotas) into their tables.

Idempotent: loading a file twice changes nothing. Factors and quotas are versioned (a changed figure needs a
new ``version``; the old one stays, because ledger entries and warnings name it); targets, references, ledger
settings and corrections are configuration, updated in place with an audit event. Like every service it
never commits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, SQLModel

from emc.audit import service as audit
from emc.audit.service import actor_name as _actor
from emc.dbtypes import utcnow
from emc.org.models import Institution, Region, User

from .core.carbon_file import CarbonData, CarbonFileError, DataProblem, load_data_file, seed_paths
from .core.factors import Factor
from .models import (
    CarbonFactor,
    CarbonInstitutionSetting,
    CarbonLedgerSetting,
    CarbonQuota,
    CarbonQuotaCorrection,
    CarbonReference,
    CarbonTarget,
)
from .reads.reference import factor_of, quota_of


@dataclass
class LoadReport:
    file: str
    added: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        kinds = sorted(set(self.added) | set(self.updated) | set(self.unchanged))
        return [f"{self.file}: " + ", ".join(
            f"{k} {self.added[k]} added, {self.updated[k]} updated, {self.unchanged[k]} unchanged" for k in kinds)]

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "added": dict(self.added), "updated": dict(self.updated),
                "unchanged": dict(self.unchanged)}




# -- loading ------------------------------------------------------------------------------------------------
def load_file(session: Session, path: Path | str, *, actor: User | str) -> LoadReport:
    """Load one carbon data file (any of its tables); :class:`CarbonFileError` lists every problem."""
    return load_data(session, load_data_file(path), actor=actor)


def load_seed(session: Session, *, actor: User | str) -> list[LoadReport]:
    """The shipped factors, Jiangsu ledger default, targets and (illustrative) quotas."""
    return [load_file(session, p, actor=actor) for p in seed_paths()]


def load_data(session: Session, data: CarbonData, *, actor: User | str) -> LoadReport:
    """Check a parsed file against the database (all problems at once), then add or update its rows."""
    regions = dict(session.execute(select(Region.code, Region.id)).all())
    wanted = {s.code for s in data.institutions} | {c.institution for c in data.corrections}
    institutions = dict(session.execute(select(Institution.code, Institution.id)
                                        .where(Institution.code.in_(wanted))).all()) if wanted else {}
    problems = [*_unknown_codes(data, regions, institutions), *_unknown_quotas(session, data),
                *_changed_versions(session, data)]
    if problems:
        raise CarbonFileError(problems)
    report = LoadReport(data.file)
    _add_versions(session, data, report, _actor(actor))
    _upsert_configuration(session, data, report, regions, institutions, actor)
    session.flush()
    if report.added or report.updated:
        audit.record(session, actor=actor, action="carbon.load", object_type="carbon_data",
                     object_id=Path(data.file).name[:60], after=report.as_dict())
    return report


def _unknown_codes(data: CarbonData, regions: dict[str, int], institutions: dict[str, int]) -> list[DataProblem]:
    """Regions and institutions the file names that are not loaded ("cn": the national level, no region)."""
    codes = {c for c in (*(s.region for s in data.ledgers), *(q.region for q in data.quotas),
                         *(t.region for t in data.targets), *(r.region for r in data.references)) if c != "cn"}
    wanted = {s.code for s in data.institutions} | {c.institution for c in data.corrections}
    return [*(DataProblem(data.file, f"region {code}", "", "is not loaded (emc regions load)")
              for code in sorted(codes - set(regions))),
            *(DataProblem(data.file, f"institution {code}", "", "no institution has this code")
              for code in sorted(wanted - set(institutions)))]


def _unknown_quotas(session: Session, data: CarbonData) -> list[DataProblem]:
    """Corrections of a quota neither loaded nor in the file."""
    quota_ids = {q.id for q in data.quotas} | set(session.execute(select(CarbonQuota.quota_id)).scalars())
    return [DataProblem(data.file, f"correction ({c.institution}, {c.quota})", "quota",
                        f"no quota {c.quota!r} is loaded or in the file")
            for c in data.corrections if c.quota not in quota_ids]


def _changed_versions(session: Session, data: CarbonData) -> list[DataProblem]:
    """Factor and quota versions already loaded with other figures: versioned data is never edited."""
    problems: list[DataProblem] = []
    for f in data.factors:
        row = _factor_row(session, f.id, f.version)
        if row is not None and not _same_factor(factor_of(row), f):
            problems.append(DataProblem(data.file, f"factor {f.ref}", "", "is already loaded with other figures: a "
                                        "changed figure is a new version (version = "
                                        f"{_next_version(session, CarbonFactor, CarbonFactor.factor_id, f.id)})"))
    for q in data.quotas:
        row = _quota_row(session, q.id, q.version)
        if row is not None and quota_of(row).model_dump() != q.model_dump():
            problems.append(DataProblem(data.file, f"quota {q.id}@v{q.version}", "", "is already loaded with other "
                                        "figures: give the changed quota a new version"))
    return problems


def _add_versions(session: Session, data: CarbonData, report: LoadReport, who: str) -> None:
    """New factor and quota versions are added; a version already loaded (with the same figures) is left."""
    for f in data.factors:
        if _factor_row(session, f.id, f.version) is not None:
            report.unchanged["factors"] += 1
            continue
        session.add(CarbonFactor(factor_id=f.id, version=f.version, kind=f.kind, carrier=str(f.carrier),
                                 series=f.series, region=f.region, data_year=f.data_year, value=f.value, unit=f.unit,
                                 status=f.status, source=f.source, tag=f.tag or "", valid_from=f.valid_from,
                                 valid_to=f.valid_to, heating_value=f.heating_value, note=f.note,
                                 source_file=_name(data.file), loaded_by=who))
        report.added["factors"] += 1
    for q in data.quotas:
        if _quota_row(session, q.id, q.version) is not None:
            report.unchanged["quotas"] += 1
            continue
        session.add(CarbonQuota(quota_id=q.id, version=q.version, region=q.region, category=q.category,
                                indicator=q.indicator, constraint=q.constraint, baseline=q.baseline, guide=q.guide,
                                year_from=q.year_from, year_to=q.year_to, tiers=[str(t) for t in q.tiers],
                                level=q.level, source=q.source, illustrative=q.illustrative,
                                source_file=_name(data.file)))
        report.added["quotas"] += 1


def _upsert_configuration(session: Session, data: CarbonData, report: LoadReport, regions: dict[str, int],
                          institutions: dict[str, int], actor: User | str) -> None:
    """Ledger and institution settings, targets, references and corrections: updated in place, audited."""
    now, source_file = utcnow(), _name(data.file)
    for s in data.ledgers:
        _upsert(session, report, "ledger settings", CarbonLedgerSetting, {"region_id": regions[s.region]},
                {"co2_series": s.co2_series, "co2_region": s.co2_region, "source": s.source,
                 "electricity_coal_series": s.electricity_coal_series, "gas_coal_series": s.gas_coal_series,
                 "source_file": source_file}, now, actor)
    for i in data.institutions:
        _upsert(session, report, "institution settings", CarbonInstitutionSetting,
                {"institution_id": institutions[i.code]},
                {"gas_heating_value": i.gas_heating_value, "source": i.source}, now, actor)
    for t in data.targets:
        _upsert(session, report, "targets", CarbonTarget, {"target_id": t.id},
                {"region": t.region, "indicator": t.indicator, "year": t.year, "base_year": t.base_year, "cut": t.cut,
                 "source": t.source, "tag": t.tag or "", "source_file": source_file}, now, actor)
    for r in data.references:
        _upsert(session, report, "references", CarbonReference, {"reference_id": r.id},
                {"region": r.region, "indicator": r.indicator, "year": r.year, "value": r.value, "source": r.source,
                 "tag": r.tag or "", "source_file": source_file}, now, actor)
    for c in data.corrections:
        _upsert(session, report, "corrections", CarbonQuotaCorrection,
                {"institution_id": institutions[c.institution], "quota_id": c.quota},
                {"factor": c.factor, "constraint": c.constraint, "baseline": c.baseline, "guide": c.guide,
                 "reason": c.reason, "source_file": source_file}, now, actor)


def _name(path: str) -> str:
    return path if len(path) <= 300 else Path(path).name[:300]


def _same_factor(a: Factor, b: Factor) -> bool:
    return a.model_dump(exclude={"id", "version"}) == b.model_dump(exclude={"id", "version"})


def _factor_row(session: Session, fid: str, version: int) -> CarbonFactor | None:
    return session.execute(select(CarbonFactor).where(CarbonFactor.factor_id == fid,
                                                      CarbonFactor.version == version)).scalars().first()


def _quota_row(session: Session, qid: str, version: int) -> CarbonQuota | None:
    return session.execute(select(CarbonQuota).where(CarbonQuota.quota_id == qid,
                                                     CarbonQuota.version == version)).scalars().first()


def _next_version(session: Session, model: type[SQLModel], column: Any, ident: str) -> int:
    from sqlalchemy import func

    return int(session.execute(select(func.max(model.version)).where(column == ident)).scalar_one() or 0) + 1  # type: ignore[attr-defined]


def _upsert(session: Session, report: LoadReport, what: str, model: type[SQLModel], key: dict[str, Any],
            values: dict[str, Any], now: Any, actor: User | str) -> None:
    row = session.execute(select(model).filter_by(**key)).scalars().first()
    if row is None:
        session.add(model(**key, **values, updated_at=now))
        report.added[what] += 1
        return
    changed = {k: (getattr(row, k), v) for k, v in values.items() if k != "source_file" and getattr(row, k) != v}
    if not changed:
        report.unchanged[what] += 1
        return
    for k, (_, v) in changed.items():
        setattr(row, k, v)
    row.updated_at = now  # type: ignore[attr-defined]
    audit.record(session, actor=actor, action="carbon.update", object_type=model.__tablename__,  # type: ignore[attr-defined]
                 object_id=":".join(str(v) for v in key.values())[:60],
                 before={k: str(a) for k, (a, _) in changed.items()},
                 after={k: str(b) for k, (_, b) in changed.items()})
    report.updated[what] += 1
