"""Prepared carbon figures: what the carbon pages show, computed once per state of what it stands on (issue 15).

A province's dashboard folds one grouped ledger row per institution and utility for two years, rolls them up
the region tree and assesses the targets: about 0.8 s of Python per view at 5× Wuxi, which under fifty users
queued every other page behind it. A leaderboard and a district's table of institutions do the same over
fewer rows. Those figures change only when what they are computed from changes, so each is stored in
``carbon_view`` under

* a **key**: the view, the arguments, and the reader's scope as far as it changes the figures (below);
* a **stamp** of everything the figures are computed from, read in one statement of index probes.

A view reads the stored payload while its stamp is current; on a miss it computes the figures through the
reader's own scope, stores them (on the primary, in a transaction of its own: a page's GET may run on the read
replica) and shows what it computed. :func:`refresh` recomputes the stored views whose stamp moved and the
province's default views; it runs after every ledger rebuild or refresh and every ten minutes
(emc.jobs.scheduler), so the first view after a booking reads a prepared figure too.

What the stamp holds, and why each part changes with every change of its input and with nothing else:

* the ledger's highest entry id: the ledger is append-only and every change — a new entry, a restatement, a
  removal — inserts a row (emc.carbon.ledger._write);
* (count, highest id) of the statistics forms (``institution_year``, only ever added), institutions, regions,
  meters, contracts, and the count of contract links (institutions and meters a contract covers);
* the id of the newest audited change of an institution, meter, contract or ESCO: every update of those goes
  through a service that records it (emc.org.service.upsert, emc.contracts.service);
* (count, latest ``updated_at``) of targets and quota corrections, (count, highest id) of quotas (versions are
  added, never changed);
* the day: coverage counts the months that have ended, so a view is computed again on the first view of a
  new day.

Scope: a bureau scope (manager, finance, viewer, administrator) is its region subtree and nothing else
(emc/scope_rules.py), so the figures of a region inside it are the same for every bureau user: they share
one prepared view per region. A region outside the reader's subtree (the JSON API lets anyone name a code)
is keyed by the reader's own subtree, and an ESCO's views by the ESCO: never shared.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from emc import clock
from emc.audit.models import AuditEvent
from emc.contracts.models import Contract, ContractInstitution, ContractMeter
from emc.db import session_scope
from emc.dbtypes import utcnow
from emc.metering.models import Meter
from emc.org.models import Institution, InstitutionYear, Region, Role
from emc.org.scope import Scope

from .models import CarbonEntry, CarbonQuota, CarbonQuotaCorrection, CarbonTarget, CarbonView
from .reads import dashboard, figures, standing

log = logging.getLogger(__name__)
FORMAT = 1  # the payload's layout: a view stored under another layout is computed again
AUDITED = ("institution", "meter", "contract", "esco")


# -- the stamp ----------------------------------------------------------------------------------------------
def _count_and_max(model: Any, column: Any) -> list[Any]:
    return [select(func.count()).select_from(model).scalar_subquery(),
            select(func.max(column)).scalar_subquery()]


def stamp(session: Session, as_of: date | None = None) -> str:
    """The stamp of everything a prepared view is computed from (the module docstring says why each part)."""
    parts = [select(func.max(col(CarbonEntry.id))).scalar_subquery(),
             *_count_and_max(InstitutionYear, col(InstitutionYear.id)),
             *_count_and_max(Institution, col(Institution.id)),
             *_count_and_max(Region, col(Region.id)),
             *_count_and_max(Meter, col(Meter.id)),
             *_count_and_max(Contract, col(Contract.id)),
             select(func.count()).select_from(ContractInstitution).scalar_subquery(),
             select(func.count()).select_from(ContractMeter).scalar_subquery(),
             *_count_and_max(CarbonTarget, col(CarbonTarget.updated_at)),
             *_count_and_max(CarbonQuota, col(CarbonQuota.id)),
             *_count_and_max(CarbonQuotaCorrection, col(CarbonQuotaCorrection.updated_at)),
             # one index probe each (ix_audit_event_object_type_id)
             *(select(func.max(col(AuditEvent.id))).where(col(AuditEvent.object_type) == kind).scalar_subquery()
               for kind in AUDITED)]
    values = list(session.execute(select(*parts)).one())
    text = json.dumps([FORMAT, (as_of or clock.today()).isoformat(), *values], default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- keys ---------------------------------------------------------------------------------------------------
def scope_args(session: Session, scope: Scope, region_code: str | None) -> dict[str, Any]:
    """The part of the reader's scope that changes the figures of ``region_code`` (see the module docstring)."""
    if scope.is_esco:
        return {"esco_id": scope.esco_id}
    if scope.region_path is None:
        return {}
    if region_code is not None:
        found = session.execute(select(col(Region.path)).where(col(Region.code) == region_code)).scalar()
        if found is not None and found.startswith(scope.region_path):
            return {}
    return {"region_path": scope.region_path}


def scope_of(args: dict[str, Any]) -> Scope:
    """A scope that reads what a reader with these scope arguments reads (the refresh job's reader)."""
    if "esco_id" in args:
        return Scope(role=Role.esco, esco_id=args["esco_id"])
    if "region_path" in args:
        return Scope(role=Role.manager, region_path=args["region_path"])
    return Scope.everything()


def key_of(view: str, args: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([FORMAT, view, args], sort_keys=True, default=str).encode()).hexdigest()


# -- the views ----------------------------------------------------------------------------------------------
def _dashboard(session: Session, scope: Scope, a: dict[str, Any]) -> Any:
    return dashboard.dashboard_figures(session, scope, region_code=a["region"], year=a["year"])


def _institutions(session: Session, scope: Scope, a: dict[str, Any]) -> Any:
    return figures.statistics_rows(session, scope, a["year"], region_code=a["region"])


def _leaderboard(session: Session, scope: Scope, a: dict[str, Any]) -> Any:
    return standing.leaderboard(session, scope, a["year"], category=a["category"], indicator=a["indicator"],
                                region_code=a["region"])


VIEWS: dict[str, Callable[[Session, Scope, dict[str, Any]], Any]] = {
    "dashboard": _dashboard, "institutions": _institutions, "leaderboard": _leaderboard}


def _plain(value: Any) -> Any:
    """As stored and read back (JSON): a fresh computation and a stored one give the page the same values."""
    return json.loads(json.dumps(value, default=str))


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _store(writer: Engine, key: str, view: str, args: dict[str, Any], fingerprint: str, payload: Any) -> None:
    try:
        with session_scope(writer) as write:
            values = {"key": key, "view": view, "args": args, "fingerprint": fingerprint,
                      "computed_at": utcnow(), "payload": payload}
            statement = _insert(write)(CarbonView).values(values)
            write.execute(statement.on_conflict_do_update(
                index_elements=["key"], set_={k: statement.excluded[k] for k in
                                              ("fingerprint", "computed_at", "payload", "args")}))
    except OperationalError as exc:  # SQLite busy behind a long writer: the next view stores it
        log.warning("prepared carbon view %s not stored: %s", view, exc)


def prepared(session: Session, scope: Scope, view: str, *, writer: Engine, **args: Any) -> Any:
    """The ``view``'s figures for ``args`` as ``scope`` sees them: stored while current, else computed through
    ``scope`` and stored (``session`` only reads; ``writer`` is the primary)."""
    full = {**args, "scope": scope_args(session, scope, args.get("region"))}
    key = key_of(view, full)
    fingerprint = stamp(session)
    row = session.execute(select(col(CarbonView.fingerprint), col(CarbonView.payload)).where(
        col(CarbonView.key) == key)).first()
    if row is not None and row.fingerprint == fingerprint:
        return row.payload
    payload = _plain(VIEWS[view](session, scope, args))
    _store(writer, key, view, full, fingerprint, payload)
    return payload


# -- the job ------------------------------------------------------------------------------------------------
def default_views(session: Session) -> list[tuple[str, dict[str, Any]]]:
    """What the province's users open first: the top region's dashboard and each region's directly below it,
    and the top region's first leaderboard, for the year the pages open on (the last complete year with data)."""
    from emc.carbon.ledger_years import ledger_years
    from emc.kinds import InstitutionCategory

    years = ledger_years(session)
    this = clock.today().year
    year = next((y for y in years if y < this), years[0] if years else None)
    top = session.execute(select(Region).where(col(Region.parent_id).is_(None)).order_by(Region.code)).scalars().first()
    if year is None or top is None:
        return []
    children = session.execute(select(col(Region.code)).where(col(Region.parent_id) == top.id).order_by(Region.code)
                               ).scalars().all()
    out: list[tuple[str, dict[str, Any]]] = [("dashboard", {"region": code, "year": year})
                                             for code in [top.code, *children]]
    out.append(("leaderboard", {"year": year, "category": next(iter(InstitutionCategory)).value,
                                "indicator": "energy_per_area", "region": top.code}))
    return out


def refresh(session: Session, *, writer: Engine, limit: int = 50) -> dict[str, int]:
    """Compute the stored views whose stamp moved, then the default views not yet stored (at most ``limit``
    computations; the rest wait for the next run or their first view)."""
    fingerprint = stamp(session)
    stale = session.execute(select(col(CarbonView.view), col(CarbonView.args)).where(
        col(CarbonView.fingerprint) != fingerprint).order_by(col(CarbonView.computed_at).desc())).all()
    stored = set(session.execute(select(col(CarbonView.key))).scalars())
    wanted = [(view, {**args, "scope": {}}) for view, args in default_views(session)]
    todo = [(v, dict(a)) for v, a in stale] + [(v, a) for v, a in wanted if key_of(v, a) not in stored]
    computed = 0
    for view, args in todo[:limit]:
        scope = scope_of(args.pop("scope", {}))
        prepared(session, scope, view, writer=writer, **args)
        computed += 1
    return {"stale": len(stale), "computed": computed, "left": max(0, len(todo) - limit)}


def refresh_job() -> dict[str, int]:
    """The scheduled job (emc.jobs.scheduler)."""
    from emc.db import get_engine

    engine = get_engine()
    with Session(engine) as session:
        return refresh(session, writer=engine)
