"""Rebuilding the carbon ledger from its sources: derived, never hand-edited, append-only.

A rebuild books, for every institution-month in the years asked, each utility's consumption (main meters'
monthly totals), PV generation (avoided grid electricity) and each contract's verified savings (from the latest
approved settlement of each period, spread over months by days, split over institutions by meter use, each
meter's reduction claimed once — :mod:`emc.carbon.core.rollup`), with the factors of the institution's ledger setting.
It then compares with the current entries, key by key:

* unchanged figures and factors → nothing written (a rebuild is idempotent);
* same quantity, other factors (a final factor published, a series choice changed) → ``restated``;
* other figures (a corrected reading, an adjustment settlement) → ``recomputed``;
* a key no longer produced → a zero ``removed`` entry.

Each change is a new revision of the key; the previous one is kept and marked not current, so a restatement
keeps both the provisional and the final figure and their difference can always be shown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from time import perf_counter
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, true, update
from sqlmodel import Session

from emc.audit import service as audit
from emc.dbtypes import utcnow
from emc.org.models import User

from .core.accounting import CARRIER_OF, AccountingError, Booking, LedgerPolicy, Usage, book
from .core.factors import FactorError
from .core.ledger_settings import nearest
from .core.rollup import Claim, attribute, resolve, spread_by_days
from .models import CarbonEntry
from .reads import inputs, reference

ZERO = Decimal(0)
CONSUMED = ("electricity", "water", "gas", "heat")


@dataclass
class RebuildReport:
    years: list[int]
    bookings: int = 0
    added: int = 0
    restated: int = 0
    recomputed: int = 0
    removed: int = 0
    unchanged: int = 0
    provisional: int = 0
    overlaps: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: (v[:200] if isinstance(v, list) and k != "years" else v) for k, v in self.__dict__.items()}

    def lines(self) -> list[str]:
        out = [f"ledger {', '.join(map(str, self.years)) or '(no data)'}: {self.bookings:,} bookings "
               f"({self.provisional:,} provisional); {self.added:,} added, {self.restated:,} restated, "
               f"{self.recomputed:,} recomputed, {self.removed:,} removed, {self.unchanged:,} unchanged "
               f"in {self.seconds:.2f} s"]
        out += [f"  overlap: {m}" for m in self.overlaps[:20]]
        out += [f"  problem: {m}" for m in self.problems[:50]]
        return out


def entry_key(institution: int, month: date, utility: str, kind: str, contract: int | None) -> str:
    return f"{institution}:{month:%Y-%m}:{utility}:{kind}:{contract or 0}"


def rebuild(session: Session, *, years: list[int] | None = None, actor: User | str = "system") -> RebuildReport:
    """Regenerate the ledger for ``years`` (default: every year with readings or settled savings)."""
    t0 = perf_counter()
    years = sorted(set(years)) if years else inputs.reading_years(session)
    report = RebuildReport(years)
    if not years:
        return report
    start, end = date(years[0], 1, 1), date(years[-1] + 1, 1, 1)
    wanted = set(years)
    insts = inputs.institutions(session)
    months = [m for m in inputs.meter_months(session, start, end) if m.month.year in wanted]
    usages = _consumption(months) + _savings(session, months, insts, start, end, wanted, report)
    factors = reference.factor_book(session)
    settings = reference.ledger_settings(session)
    policies: dict[str, LedgerPolicy | None] = {}
    bookings: dict[str, Booking] = {}
    blocked: set[tuple[int, int]] = set()  # (institution, year) with a problem: its entries are left as they are
    seen_problems: set[str] = set()
    for u in usages:
        inst = insts[u.institution]
        if inst.path not in policies:
            setting = nearest(inst.path, settings)
            policies[inst.path] = setting.policy() if setting else None
        policy = policies[inst.path]
        if policy is None:
            _problem(report, seen_problems, f"{inst.code}: no ledger setting for its region or any above it "
                                            f"({inst.path}); load one ([[ledger]] in a carbon data file)")
            blocked.add((u.institution, u.month.year))
            continue
        if u.utility == "gas" and inst.gas_heating_value is not None:
            u = replace(u, heating_value=inst.gas_heating_value)
        try:
            b = book(u, factors, policy)
        except (FactorError, AccountingError) as exc:
            _problem(report, seen_problems, f"{inst.code} {u.month:%Y-%m} {u.utility}: {exc}")
            blocked.add((u.institution, u.month.year))
            continue
        bookings[entry_key(u.institution, u.month, u.utility, u.kind, u.contract)] = b
    report.bookings = len(bookings)
    report.provisional = sum(1 for b in bookings.values() if b.provisional)
    _write(session, bookings, start, end, wanted, blocked, actor, report)
    report.seconds = perf_counter() - t0
    audit.record(session, actor=actor, action="carbon.rebuild", object_type="ledger",
                 object_id=f"{years[0]}-{years[-1]}", after={k: v for k, v in report.as_dict().items()
                                                             if k not in ("overlaps", "problems")} |
                 {"overlaps": len(report.overlaps), "problems": report.problems[:20]})
    return report


def _problem(report: RebuildReport, seen: set[str], message: str) -> None:
    if message not in seen:
        seen.add(message)
        report.problems.append(message)


def _consumption(months: list[inputs.MeterMonth]) -> list[Usage]:
    """Main meters' monthly totals per institution and utility; PV generation from every PV meter."""
    totals: dict[tuple[int, date, str], list[inputs.MeterMonth]] = defaultdict(list)
    for m in months:
        if (m.utility in CONSUMED and m.main) or m.utility == "pv":
            totals[(m.institution_id, m.month, m.utility)].append(m)
    out = []
    for (inst, month, utility), rows in totals.items():
        n = sum(r.readings for r in rows)
        est = sum(r.estimated for r in rows)
        source = f"readings: {len(rows)} meter(s), {n} reading(s)" + (f", {est} estimated" if est else "")
        out.append(Usage(inst, month, utility, sum((r.quantity for r in rows), ZERO),
                         "generation" if utility == "pv" else "consumption", source))
    return out


def _savings(session: Session, months: list[inputs.MeterMonth], insts: dict[int, inputs.InstitutionInfo],
             start: date, end: date, wanted: set[int], report: RebuildReport) -> list[Usage]:
    """Each settled period's savings, by month (days) and institution (meter use), claimed once per meter."""
    contracts = inputs.contracts(session)
    use = {(m.meter_id, m.month): m.quantity for m in months}
    institution_of = inputs.meter_institutions(session)  # meters without readings still belong somewhere
    claims: list[Claim] = []
    pending: list[tuple[inputs.SettledSavings, date, Decimal]] = []
    for s in inputs.settled_savings(session, start, end):
        if s.utility == "pv" or s.utility not in CARRIER_OF:
            continue  # PV is booked from its generation meter: counting its "savings" too would count it twice
        c = contracts[s.contract_id]
        for month, qty in spread_by_days(s.savings, s.start, s.end).items():
            if month.year not in wanted:
                continue
            claims.append(Claim(c.id, s.utility, month, c.meters.get(s.utility, frozenset()), (c.start, c.code)))
            pending.append((s, month, qty))
    kept, overlaps = resolve(claims)
    report.overlaps += [o.message().replace(f"contract {o.contract}", f"contract {contracts[o.contract].code}", 1)
                        .replace(f"contract {o.kept_by}", f"contract {contracts[o.kept_by].code}") for o in overlaps]
    merged: dict[tuple[int, date, str, int], tuple[Decimal, list[str]]] = {}
    for s, month, qty in pending:
        c = contracts[s.contract_id]
        meters = kept[(c.id, s.utility, month)]
        if not meters:
            if not c.meters.get(s.utility):
                report.problems.append(f"{c.code}: no {s.utility} meter, so its savings of {month:%Y-%m} cannot be "
                                       "attributed to an institution")
            continue
        label = f"settlement {s.number}" + (f" (v{s.version})" if s.version > 1 else "")
        for inst, part in attribute(qty, meters, {m: use.get((m, month), ZERO) for m in meters},
                                    institution_of).items():
            key = (inst, month, s.utility, c.id)
            total, labels = merged.get(key, (ZERO, []))
            merged[key] = (total + part, labels + [label])
    out = []
    for (inst, month, utility, cid), (qty, labels) in merged.items():
        c = contracts[cid]
        out.append(Usage(inst, month, utility, qty, "savings", "; ".join(dict.fromkeys(labels))[:500], cid,
                         c.carbon_rights, c.esco_share))  # type: ignore[arg-type]
    return out


_FIGURES = ("quantity", "kgce", "kgco2", "esco_kgce", "esco_kgco2")


def _write(session: Session, bookings: dict[str, Booking], start: date, end: date, wanted: set[int],
           blocked: set[tuple[int, int]], actor: User | str, report: RebuildReport) -> None:
    """Append the new revisions (append-only: the old row is only marked not current) and retire the rest."""
    t = CarbonEntry.__table__  # type: ignore[attr-defined]
    existing = {r.key: r for r in session.execute(
        select(t.c.id, t.c.key, t.c.revision, t.c.change, t.c.institution_id, t.c.month, t.c.utility, t.c.kind,
               t.c.contract_id, t.c.carrier, t.c.unit, t.c.coal_factor, t.c.co2_factor, t.c.provisional,
               *(t.c[f] for f in _FIGURES))
        .where(t.c.current == true(), t.c.month >= start, t.c.month < end)).all() if r.month.year in wanted}
    who = actor.username if isinstance(actor, User) else actor
    now = utcnow()
    rows, retired = _revisions(bookings, existing, who, now, report)
    for key, old in existing.items():
        if key in bookings or old.change == "removed" or (old.institution_id, old.month.year) in blocked:
            continue
        rows.append(_removal(key, old, who, now))
        retired.append({"old_id": old.id})
        report.removed += 1
    if retired:
        session.execute(update(t).where(t.c.id == bindparam("old_id")).values(current=False)
                        .execution_options(synchronize_session=False), retired)
    for i in range(0, len(rows), 5000):
        session.execute(insert(t), rows[i:i + 5000])
    if len(rows) > 1000 and session.get_bind().dialect.name == "postgresql":
        # fresh statistics: without them the planner takes a freshly filled ledger for an empty one and the
        # dashboard's roll-ups run as nested loops (5× slower); ANALYZE is transactional and takes milliseconds
        session.execute(text("ANALYZE carbon_entry"))
    for obj in list(session.identity_map.values()):  # the bulk update bypassed loaded entries: reload them
        if isinstance(obj, CarbonEntry):
            session.expire(obj)


def _revisions(bookings: dict[str, Booking], existing: dict[str, Any], who: str, now: Any,
               report: RebuildReport) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """New rows for new and changed bookings, and the ids they retire: restated when only the factors
    changed, recomputed when the quantity did."""
    rows: list[dict[str, Any]] = []
    retired: list[dict[str, Any]] = []
    for key, b in bookings.items():
        old = existing.get(key)
        if old is None:
            rows.append(_row(key, 1, "new", b, who, now))
            report.added += 1
            continue
        same = tuple(getattr(old, f) for f in _FIGURES) == b.figures
        if same and (old.coal_factor, old.co2_factor, old.provisional) == (b.coal_factor, b.co2_factor, b.provisional):
            report.unchanged += 1
            continue
        refs_changed = (old.coal_factor, old.co2_factor) != (b.coal_factor, b.co2_factor)
        change = "restated" if old.quantity == b.quantity and refs_changed and old.change != "removed" else "recomputed"
        rows.append(_row(key, old.revision + 1, change, b, who, now))
        retired.append({"old_id": old.id})
        report.restated += change == "restated"
        report.recomputed += change == "recomputed"
    return rows, retired


def _removal(key: str, old: Any, who: str, now: Any) -> dict[str, Any]:
    """The zero revision of an entry whose source is gone."""
    return {"key": key, "revision": old.revision + 1, "current": True, "change": "removed",
            "institution_id": old.institution_id, "month": old.month, "utility": old.utility,
            "kind": old.kind, "contract_id": old.contract_id, "carrier": old.carrier, "quantity": ZERO,
            "unit": old.unit, "kgce": ZERO, "kgco2": ZERO, "scope": 0, "in_energy": False,
            "owner": "institution", "esco_kgce": ZERO, "esco_kgco2": ZERO, "coal_factor": "",
            "co2_factor": "", "provisional": False, "series": "", "source": "no longer in the sources",
            "notes": [], "created_at": now, "created_by": who}


def _row(key: str, revision: int, change: str, b: Booking, who: str, now: Any) -> dict[str, Any]:
    return {"key": key, "revision": revision, "current": True, "change": change, "institution_id": b.institution,
            "month": b.month, "utility": b.utility, "kind": b.kind, "contract_id": b.contract,
            "carrier": str(b.carrier), "quantity": b.quantity, "unit": b.unit, "kgce": b.kgce, "kgco2": b.kgco2,
            "scope": b.scope, "in_energy": b.in_energy, "owner": b.owner, "esco_kgce": b.esco_kgce,
            "esco_kgco2": b.esco_kgco2, "coal_factor": b.coal_factor, "co2_factor": b.co2_factor,
            "provisional": b.provisional, "series": b.series, "source": b.source[:500], "notes": list(b.notes),
            "created_at": now, "created_by": who}


def changed_years(session: Session) -> list[int] | None:
    """The years whose sources changed since the last rebuild: meter imports committed or reverted, and
    settlements approved, after it. None: never rebuilt, or a revert (its rows are gone) — rebuild everything."""
    from zoneinfo import ZoneInfo

    from emc.audit.models import AuditEvent
    from emc.config import get_settings
    from emc.metering.models import ImportBatch, Reading
    from emc.settlement.models import Settlement

    last = session.execute(select(func.max(AuditEvent.at)).where(
        AuditEvent.action == "carbon.rebuild")).scalar_one()
    if last is None:
        return None
    if session.execute(select(ImportBatch.id).where(ImportBatch.kind == "meter", ImportBatch.reverted_at > last)
                       ).first():
        return None
    years: set[int] = set()
    batches = select(ImportBatch.id).where(ImportBatch.kind == "meter", ImportBatch.committed_at > last)
    lo, hi = session.execute(select(func.min(Reading.period_start), func.max(Reading.period_start)).where(
        Reading.batch_id.in_(batches))).one()
    if lo is not None:  # instants in UTC; the ledger's months are local
        tz = ZoneInfo(get_settings().timezone)
        years.update(range(lo.astimezone(tz).year, hi.astimezone(tz).year + 1))
    for start, end in session.execute(select(Settlement.period_start, Settlement.period_end).where(
            Settlement.approved_at > last)).all():
        years.update(range(start.year, end.year + 1))
    return sorted(years)


def refresh(session: Session, *, actor: User | str = "system") -> RebuildReport:
    """Rebuild only the years whose readings or settlements changed since the last rebuild (the frequent job;
    the nightly full rebuild catches anything else)."""
    years = changed_years(session)
    if years == []:
        return RebuildReport([])
    return rebuild(session, years=years, actor=actor)


def restate_on_final_factors(session: Session, *, actor: User | str = "system") -> RebuildReport:
    """Rebuild the years that hold provisional entries: once a year's final factor is loaded, each provisional
    entry gets a restated revision (both kept)."""
    years = sorted({m.year for m in session.execute(select(CarbonEntry.month).where(
        CarbonEntry.current == true(), CarbonEntry.provisional.is_(True)).distinct()).scalars()})
    return rebuild(session, years=years, actor=actor) if years else RebuildReport([])
