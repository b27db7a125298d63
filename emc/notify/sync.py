"""The shell of notifications: load the state, ask the rules, open the new and resolve the gone — idempotently.

:func:`sync` reads in a fixed number of queries whatever the portfolio's size (the active users; the open
settlements with their contracts' ESCOs; those contracts' institution regions; recent import results; open quota
warnings; the notifications open now), then writes only the difference: an upsert on the unique (user, kind,
subject) — a new one inserted, a resolved one reopened, an open one untouched, so a second run, or a second
process at once, changes nothing — and one UPDATE resolving those no longer called for. Each notification
opened is queued for delivery (:mod:`emc.notify.delivery`).

Called with ``subjects`` after an action on those subjects (the web routes do, in the action's transaction), and
without, for the whole installation, by the scheduler (time makes statements overdue and import news old).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, case, false, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from emc.carbon.models import CarbonWarning
from emc.config import get_settings
from emc.contracts.models import Contract, ContractInstitution
from emc.dbtypes import utcnow
from emc.metering.models import ImportBatch
from emc.notify import delivery, rules
from emc.notify.models import Notification
from emc.org.models import Institution, Region, User
from emc.settlement.models import Settlement

CHUNK = 500
OPEN_SETTLEMENT = ("draft", "submitted", "approved", "issued")


@dataclass
class SyncReport:
    opened: int = 0
    resolved: int = 0
    queued: int = 0
    expected: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"opened": self.opened, "resolved": self.resolved, "queued": self.queued, "expected": self.expected}


@dataclass
class Subjects:
    """What a sync looks at: ``None`` for every subject of a type, else those ids (empty: none of that type)."""

    settlement: list[int] | None = None
    import_batch: list[int] | None = None
    institution: list[int] | None = None  # institutions whose quota warnings changed
    everything: bool = field(default=True)

    @classmethod
    def only(cls, settlement: Iterable[int] = (), import_batch: Iterable[int] = (),
             institution: Iterable[int] = ()) -> Subjects:
        return cls(list(settlement), list(import_batch), list(institution), everything=False)


def _filter(column: Any, ids: list[int] | None) -> Any:
    return true() if ids is None else (col(column).in_(ids) if ids else false())


def people(session: Session) -> tuple[list[rules.Person], dict[int, User]]:
    """Every active user with their region path (one query)."""
    rows = session.execute(select(User, col(Region.path)).outerjoin(Region, col(Region.id) == col(User.region_id))
                           .where(col(User.is_active) == true()).order_by(col(User.id))).all()
    out = [rules.Person(u.id, u.username, u.role,
                        (path or "/nowhere/") if u.region_id is not None else None,
                        (u.esco_id if u.esco_id is not None else -1) if u.role == "esco" else None)
           for u, path in rows]
    return out, {u.id: u for u, _ in rows}


def _places(session: Session, contract_ids: Any) -> dict[int, set[str]]:
    rows = session.execute(select(col(ContractInstitution.contract_id), col(Region.path))
                           .join(Institution, col(Institution.id) == col(ContractInstitution.institution_id))
                           .join(Region, col(Region.id) == col(Institution.region_id))
                           .where(col(ContractInstitution.contract_id).in_(contract_ids))).all()
    out: dict[int, set[str]] = defaultdict(set)
    for contract_id, path in rows:
        out[contract_id].add(path)
    return out


def settlements(session: Session, ids: list[int] | None) -> list[rules.SettlementState]:
    """Settlements that may call for a notification (two queries: the rows, their contracts' regions)."""
    s = Settlement
    where = and_(_filter(s.id, ids), or_(col(s.status).in_(OPEN_SETTLEMENT) if ids is None else true(),
                                         and_(col(s.status) == "paid", col(s.countersigned_at).is_(None))))
    rows = session.execute(select(*(col(c) for c in (s.id, s.number, s.status, s.contract_id, Contract.esco_id,
                                                      s.submitted_by, s.inputs_changed_by, s.created_by,
                                                      s.submitted_at, s.due_on, s.countersigned_at)))
                           .join(Contract, col(Contract.id) == col(s.contract_id)).where(where)).all()
    places = _places(session, select(col(s.contract_id)).where(where))
    tz = get_settings().tz
    return [rules.SettlementState(
        id=r.id, number=r.number, status=r.status,
        place=rules.Place(r.esco_id, frozenset(places.get(r.contract_id, ()))),
        submitted_by=r.submitted_by, changed_by=r.inputs_changed_by or r.created_by,
        submitted_on=r.submitted_at.astimezone(tz).date() if r.submitted_at else None,
        due_on=r.due_on, countersigned=r.countersigned_at is not None) for r in rows]


def imports(session: Session, ids: list[int] | None, today: date) -> list[rules.ImportState]:
    b = ImportBatch
    since = utcnow() - timedelta(days=rules.RECENT_DAYS + 1)
    recent = true() if ids is not None else or_(col(b.committed_at) >= since, col(b.created_at) >= since)
    rows = session.execute(select(*(col(c) for c in (b.id, b.file_name, b.status, b.uploaded_by_id, b.committed_at,
                                                      b.created_at)))
                           .where(_filter(b.id, ids), recent)).all()
    tz = get_settings().tz
    return [rules.ImportState(r.id, r.file_name, r.status, r.uploaded_by_id,
                              (r.committed_at or r.created_at).astimezone(tz).date()) for r in rows]


def warnings(session: Session, ids: list[int] | None) -> list[rules.WarningState]:
    """Institutions with quota warnings, and whether every one is acknowledged (one query)."""
    w = CarbonWarning
    pending = func.sum(case((col(w.acknowledged_at).is_(None), 1), else_=0))
    query = (select(col(Institution.id), col(Institution.code), col(Institution.name), col(Region.path),
                    pending.label("pending"))
             .join(Institution, col(Institution.id) == col(w.institution_id))
             .join(Region, col(Region.id) == col(Institution.region_id))
             .where(_filter(Institution.id, ids))
             .group_by(col(Institution.id), col(Institution.code), col(Institution.name), col(Region.path)))
    if ids is None:
        query = query.having(pending > 0)
    return [rules.WarningState(r.id, r.name, r.code, rules.Place(None, frozenset({r.path})), not r.pending)
            for r in session.execute(query).all()]


def _open_now(session: Session, subjects: Subjects) -> dict[tuple, int]:
    n = Notification
    if subjects.everything:
        where: Any = true()
    else:
        where = or_(*(and_(col(n.subject_type) == kind, col(n.subject_id).in_(ids))
                      for kind, ids in (("settlement", subjects.settlement), ("import_batch", subjects.import_batch),
                                        ("institution", subjects.institution)) if ids), false())
    rows = session.execute(select(*(col(c) for c in (n.id, n.user_id, n.kind, n.subject_type, n.subject_id)))
                           .where(col(n.resolved_at).is_(None), where)).all()
    return {(r.user_id, r.kind, r.subject_type, r.subject_id): r.id for r in rows}


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _open(session: Session, items: list[rules.Expected], now: datetime) -> list[Any]:
    """Insert new notifications and reopen resolved ones; returns the rows actually opened by this call."""
    table = Notification.__table__  # type: ignore[attr-defined]
    opened: list[Any] = []
    for start in range(0, len(items), CHUNK):
        values = [{"user_id": e.user_id, "kind": e.kind, "subject_type": e.subject_type, "subject_id": e.subject_id,
                   "ref": e.ref[:200], "link": e.link[:300], "opened_at": now, "read_at": None, "resolved_at": None}
                  for e in items[start:start + CHUNK]]
        stmt = _insert(session)(table).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id", "kind", "subject_type", "subject_id"],
            set_={"opened_at": stmt.excluded.opened_at, "read_at": None, "resolved_at": None,
                  "ref": stmt.excluded.ref, "link": stmt.excluded.link},
            where=table.c.resolved_at.is_not(None))
        opened += session.execute(stmt.returning(table.c.id, table.c.user_id, table.c.kind, table.c.subject_type,
                                                 table.c.subject_id, table.c.ref, table.c.link)).all()
    return opened


def _resolve(session: Session, ids: list[int], now: datetime) -> int:
    done = 0
    for start in range(0, len(ids), CHUNK):
        stmt = update(Notification).where(col(Notification.id).in_(ids[start:start + CHUNK]),
                                          col(Notification.resolved_at).is_(None)).values(resolved_at=now)
        done += cast(CursorResult[Any], session.execute(stmt.execution_options(synchronize_session=False))).rowcount
    return done


def sync(session: Session, today: date, subjects: Subjects | None = None,
         settings: delivery.DeliverySettings | None = None) -> SyncReport:
    """Bring the notifications of ``subjects`` (default: everything) in line with the data. Never commits."""
    subjects = subjects or Subjects()
    everyone, users = people(session)
    wanted = rules.expected(
        everyone,
        settlements(session, subjects.settlement) if subjects.settlement != [] else [],
        imports(session, subjects.import_batch, today) if subjects.import_batch != [] else [],
        warnings(session, subjects.institution) if subjects.institution != [] else [],
        today, four_eyes=get_settings().four_eyes)
    changes = rules.diff(wanted, _open_now(session, subjects))
    now = utcnow()
    opened = _open(session, changes.open, now)
    report = SyncReport(opened=len(opened), resolved=_resolve(session, changes.resolve, now), expected=len(wanted))
    report.queued = delivery.enqueue(session, opened, users, now, settings)
    return report

