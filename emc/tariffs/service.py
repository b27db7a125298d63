"""Tariff versions in the database: load files, add a version from a new price notice, build the book.

A version is identified by (code, utility, version). Loading the same entry again changes nothing; a changed
entry replaces the stored one only while no approved settlement has priced with it (then it is history, and
the change must be a new version). Services never commit; the caller does, or rolls back on an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlmodel import Session

from emc.audit import service as audit
from emc.audit.service import actor_name as _actor
from emc.contracts.spec import SpecProblem, problems_of, read_spec_text
from emc.dbtypes import utcnow
from emc.org.models import Region, Role, User
from emc.org.scope import Scope
from emc.settlement.models import Settlement

from .book import TariffBook, TariffError, TariffVersion, close_open_ends
from .files import (
    TariffFileError,
    TariffSpec,
    canonical,
    parse_tariffs,
    spec_hash,
    to_version,
    version_from_spec,
    with_prices,
)
from .models import Tariff


class TariffInUse(TariffFileError):
    """A version that approved settlements priced with cannot change."""


@dataclass(frozen=True)
class Saved:
    key: str
    action: str  # created | updated | unchanged

    def __str__(self) -> str:
        return f"{self.key}: {self.action}"


def _require_manager(actor: User | str) -> None:
    if isinstance(actor, User) and Role(actor.role) not in (Role.admin, Role.manager):
        raise PermissionError(f"a {actor.role} user cannot change tariffs")


EVERYTHING = Scope.everything()


def used_by(session: Session, key: str, scope: Scope = EVERYTHING) -> list[str]:
    """Numbers of the approved (issued, paid) settlements in ``scope`` that priced with version ``key``: read
    from what each recorded at approval (settlement_source)."""
    from emc.settlement import provenance

    return [row.number for row in provenance.using(session, "tariff", [key], within=scope.clause_for(Settlement))]


def _repriced(session: Session, spec: TariffSpec, key: str) -> list[Settlement]:
    """Approved settlements a version starting at ``spec.effective_from`` would reprice: those priced with an
    earlier-starting version of the same tariff over a period that ends after that date (the new version
    would shorten the version they used)."""
    from emc.settlement import provenance

    earlier = [r.key for r in session.execute(select(Tariff).where(
        Tariff.code == spec.code, Tariff.utility == str(spec.utility),
        Tariff.effective_from < spec.effective_from)).scalars() if r.key != key]
    return [row for row in provenance.using(session, "tariff", earlier) if row.period_end > spec.effective_from]


def find(session: Session, code: str, utility: str, version: str) -> Tariff | None:
    return session.execute(select(Tariff).where(Tariff.code == code, Tariff.utility == utility,
                                                Tariff.version == version)).scalars().first()


def _owner(session: Session, spec: TariffSpec, row: Tariff | None, source: str, where: str,
           scope: Scope) -> int | None:
    """The owning region's id, once the scope may write both the stored version's region and the new one.
    One refusal for "not yours" whatever the version holds, so a refusal reveals nothing of it."""
    refused = TariffFileError([SpecProblem(source, where, "this tariff is not one you may "
                                           "change: its region is outside your scope (or installation-wide)")])
    if row is not None and not scope.covers_region(session.get(Region, row.region_id) if row.region_id else None):
        raise refused
    code = spec.region
    if code is None and row is None and scope.region_path:  # a manager's new tariff is their region's
        code = scope.region_path.strip("/").split("/")[-1]
    if code is None:
        region_id = row.region_id if row is not None else None
    else:
        region = session.execute(select(Region).where(Region.code == code)).scalars().first()
        if region is None:
            raise TariffFileError([SpecProblem(source, f"{where}.region", f"region {code!r} is not known; load it with "
                                               "`emc regions load`")])
        region_id = region.id
    if not scope.covers_region(session.get(Region, region_id) if region_id else None):
        raise refused
    return region_id


def save(session: Session, spec: TariffSpec, *, actor: User | str, source_file: str = "",
         where: str = "", scope: Scope = EVERYTHING) -> Saved:
    """Store one version (idempotent by content) owned by ``spec.region``; ``scope`` must cover the region."""
    _require_manager(actor)
    data = canonical(spec)
    digest = spec_hash(data)
    version = to_version(spec)
    row = find(session, spec.code, str(spec.utility), spec.version)
    region_id = _owner(session, spec, row, source_file or "<form>", where or spec.code, scope)
    if row is not None and row.spec_hash == digest and row.region_id == region_id:
        return Saved(row.key, "unchanged")
    key = f"{spec.code}/{spec.utility}@{spec.version}"
    repriced = _repriced(session, spec, key)
    if repriced:
        last = max(r.period_end for r in repriced)
        raise TariffInUse([SpecProblem(source_file or "<form>", where or "effective_from",
                                       f"{key} would start on {spec.effective_from}, inside periods already priced "
                                       f"and approved ({', '.join(r.number for r in repriced[:5])}"
                                       f"{' …' if len(repriced) > 5 else ''}); a new version may start on "
                                       f"{last} at the earliest")])
    if row is not None:
        users = used_by(session, row.key)
        if users:
            raise TariffInUse([SpecProblem(source_file or "<form>", where or row.key,
                                           f"{row.key} priced approved settlements ({', '.join(users[:5])}"
                                           f"{' …' if len(users) > 5 else ''}); give the new prices a new version")])
        before = {"spec": row.spec}
    else:
        row = Tariff(code=spec.code, utility=str(spec.utility), version=spec.version, created_by=_actor(actor),
                     kind=version.kind, unit=version.unit, effective_from=spec.effective_from, source=spec.source,
                     spec=data, spec_hash=digest)
        before = None
    row.name, row.kind, row.unit, row.region_id = spec.name, version.kind, version.unit, region_id
    row.effective_from, row.effective_to, row.source = spec.effective_from, spec.effective_to, spec.source
    row.spec, row.spec_hash, row.source_file, row.updated_at = data, digest, source_file, utcnow()
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="tariff.update" if before else "tariff.create", object_type="tariff",
                 object_id=row.key, before=before, after={"spec": data, "source_file": source_file})
    session.info.pop("emc.tariffs.book", None)
    return Saved(row.key, "updated" if before else "created")


def _check_book(session: Session, filename: str) -> None:
    try:
        book(session)
    except TariffError as exc:
        raise TariffFileError([SpecProblem(filename, "", str(exc))]) from exc


def load_text(session: Session, text: str, filename: str, *, actor: User | str,
              scope: Scope = EVERYTHING) -> list[Saved]:
    """Load every version of a tariff file; on any problem nothing of it should be committed."""
    _require_manager(actor)
    saved = [save(session, spec, actor=actor, source_file=filename, where=f"tariffs[{i}] ({spec.code})",
                  scope=scope)
             for i, (spec, _) in enumerate(parse_tariffs(text, filename))]
    _check_book(session, filename)
    return saved


def load_file(session: Session, path: Path | str, *, actor: User | str) -> list[Saved]:
    return load_text(session, read_spec_text(path, TariffFileError), Path(path).name, actor=actor)


def new_version(session: Session, base: Tariff, *, version: str, effective_from: date, source: str,
                prices: dict[str, str], actor: User | str, scope: Scope = EVERYTHING) -> Saved:
    """A new price notice for an existing tariff: same structure (TOU windows, tiers), new prices, in force
    from ``effective_from`` (the previous version then ends there)."""
    _require_manager(actor)
    if find(session, base.code, base.utility, version) is not None:
        raise TariffFileError([SpecProblem("<form>", "version", f"{base.code}/{base.utility} already has a "
                                           f"version {version!r}")])
    try:
        data = with_prices(base.spec, prices, version=version, effective_from=effective_from.isoformat(),
                           source=source)
        if base.region_id is not None:  # the new price notice is the same region's
            data["region"] = session.get(Region, base.region_id).code  # type: ignore[union-attr]
        spec = TariffSpec.model_validate(data)
        to_version(spec)
    except ValidationError as exc:
        raise TariffFileError(problems_of(exc, data, "<form>")) from exc
    except TariffError as exc:
        raise TariffFileError([SpecProblem("<form>", "", str(exc))]) from exc
    saved = save(session, spec, actor=actor, source_file="form", scope=scope)
    _check_book(session, "<form>")
    return saved


def book(session: Session) -> TariffBook:
    """Every stored version as the settlement engine reads it (open ends closed by the next version).
    Built once per session and rebuilt when a version is saved."""
    memo = session.info.get("emc.tariffs.book")
    stamp = session.execute(select(func.count(Tariff.id), func.max(Tariff.updated_at))).one()
    if memo is None or memo[0] != tuple(stamp):
        rows = session.execute(select(Tariff)).scalars().all()
        memo = (tuple(stamp), TariffBook(close_open_ends(version_from_spec(r.spec) for r in rows)))
        session.info["emc.tariffs.book"] = memo
    return memo[1]


def versions(session: Session, code: str | None = None, scope: Scope = EVERYTHING) -> list[Tariff]:
    query = select(Tariff).where(scope.clause_for(Tariff)).order_by(Tariff.code, Tariff.utility,
                                                                   Tariff.effective_from.desc())
    if code:
        query = query.where(Tariff.code == code)
    return list(session.execute(query).scalars())


def as_json(row: Tariff, end: date | None = None) -> dict[str, Any]:
    return {"id": row.key, "code": row.code, "utility": row.utility, "version": row.version, "name": row.name,
            "kind": row.kind, "unit": row.unit, "effective_from": row.effective_from.isoformat(),
            "effective_to": (row.effective_to or end).isoformat() if (row.effective_to or end) else None,
            "source": row.source, "spec": row.spec}


def effective_ends(rows: list[Tariff]) -> dict[int, date | None]:
    """Each version's end as the book applies it (written end, else the next version's start)."""
    closed = {v.id: v.effective_to for v in close_open_ends(version_from_spec(r.spec) for r in rows)}
    return {r.id: closed.get(r.key) for r in rows if r.id is not None}


__all__ = ["Saved", "TariffInUse", "TariffVersion", "as_json", "book", "effective_ends", "find", "load_file",
           "load_text", "new_version", "save", "used_by", "versions"]
