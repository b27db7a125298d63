"""The pure core of notifications: the state of the things that wait → the notifications each user should have.

Plain data in, plain data out (no session, no clock: ``today`` is given). Who is told mirrors who may act and who
may see (emc/scope_rules.py): an ESCO user is told only of its own company's statements; a bureau user of a
subject placed in their region subtree (a settlement's contract has an institution there; a warning's institution
is there); a user without a region of everything. The inbox reads notifications through the scope rule as well,
so a notification never shows what its subject's scope would hide.

Kinds, and when each is *resolved* (no longer expected):

==================  ==========================================  =====================================  ================
kind                expected while                              for                                    resolved when
==================  ==========================================  =====================================  ================
to_submit           a settlement is a draft                     managers who see it                    submitted
to_approve          it is submitted                             managers who see it and may approve    approved/returned
                                                                (four eyes: not the submitter, not
                                                                whoever last changed its inputs)
overdue_approval    submitted more than APPROVAL_DAYS ago       as to_approve                          approved/returned
to_issue            it is approved                              managers who see it                    issued
to_pay              it is issued                                finance users who see it               paid
overdue_payment     issued and past its due day                 finance users who see it               paid
to_countersign      issued or paid, not countersigned           the ESCO's users                       countersigned
import_committed    an upload committed in the last RECENT_DAYS the uploader                           read + aged out
import_rejected     an upload rejected at commit, same window   the uploader                           read + aged out
quota_warning       an institution has unacknowledged warnings  managers who see the institution        all acknowledged
==================  ==========================================  =====================================  ================
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from emc.settlement.core.controls import four_eyes_conflict

APPROVAL_DAYS = 5  # as emc.settlement.workflow.APPROVAL_DAYS: the settlements page's reminder agrees
RECENT_DAYS = 14  # an import's result is news for this long

KINDS = ("to_submit", "to_approve", "overdue_approval", "to_issue", "to_pay", "overdue_payment", "to_countersign",
         "import_committed", "import_rejected", "quota_warning")
# kinds a bureau's group robot is told of (an ESCO's or an uploader's own news is not the group's)
GROUP_KINDS = frozenset({"to_approve", "overdue_approval", "to_issue", "to_pay", "overdue_payment",
                         "quota_warning"})


@dataclass(frozen=True)
class Person:
    """An active user, as far as notifications need them."""

    id: int
    username: str
    role: str  # admin | manager | finance | viewer | esco
    region_path: str | None = None  # None: no region (sees every region)
    esco_id: int | None = None


@dataclass(frozen=True)
class Place:
    """Where a subject lies: the ESCO that holds it and the region paths of its institutions."""

    esco_id: int | None
    region_paths: frozenset[str]


@dataclass(frozen=True)
class SettlementState:
    id: int
    number: str
    status: str
    place: Place
    submitted_by: str = ""
    changed_by: str = ""  # who last drafted or recomputed its figures (inputs_changed_by, else created_by)
    submitted_on: date | None = None
    due_on: date | None = None
    countersigned: bool = False


@dataclass(frozen=True)
class ImportState:
    id: int
    file_name: str
    status: str  # committed | rejected | previewed | reverted
    uploader_id: int | None
    on: date  # committed (or rejected) on


@dataclass(frozen=True)
class WarningState:
    """An institution with over-quota warnings: one notification per institution, open while any of its warnings
    is not acknowledged (a tier crossed per quota and level would otherwise repeat the institution)."""

    institution_id: int
    ref: str  # the institution's name, as shown
    institution_code: str
    place: Place
    acknowledged: bool  # every one of its warnings is


@dataclass(frozen=True)
class Expected:
    """One notification that should exist (and be open)."""

    user_id: int
    kind: str
    subject_type: str
    subject_id: int
    ref: str
    link: str

    @property
    def key(self) -> tuple[int, str, str, int]:
        return (self.user_id, self.kind, self.subject_type, self.subject_id)


def sees(person: Person, place: Place) -> bool:
    """The scope rule of a contract (or institution) for this person, over plain data."""
    if person.role == "esco":
        return person.esco_id is not None and person.esco_id == place.esco_id
    if person.region_path is None:
        return True
    return any(path.startswith(person.region_path) for path in place.region_paths)


def _managers(people: Iterable[Person], place: Place) -> Iterator[Person]:
    return (p for p in people if p.role == "manager" and sees(p, place))


def _approvers(row: SettlementState, people: list[Person], four_eyes: bool) -> Iterator[Person]:
    """Managers who see it and may approve it (four eyes: not the submitter, not whoever last changed it)."""
    return (p for p in _managers(people, row.place)
            if not (four_eyes and four_eyes_conflict(p.username, row.submitted_by, row.changed_by)))


def _by_status(row: SettlementState, people: list[Person], today: date,
               four_eyes: bool) -> Iterator[tuple[Person, str]]:
    if row.status == "draft":
        yield from ((p, "to_submit") for p in _managers(people, row.place))
    elif row.status == "submitted":
        late = row.submitted_on is not None and (today - row.submitted_on).days > APPROVAL_DAYS
        kinds = ("to_approve", "overdue_approval") if late else ("to_approve",)
        yield from ((p, kind) for p in _approvers(row, people, four_eyes) for kind in kinds)
    elif row.status == "approved":
        yield from ((p, "to_issue") for p in _managers(people, row.place))
    elif row.status == "issued":
        late = row.due_on is not None and row.due_on < today
        kinds = ("to_pay", "overdue_payment") if late else ("to_pay",)
        payers = (p for p in people if p.role == "finance" and sees(p, row.place))
        yield from ((p, kind) for p in payers for kind in kinds)


def settlement_kinds(row: SettlementState, people: list[Person], today: date, *,
                     four_eyes: bool = True) -> Iterator[tuple[Person, str]]:
    """(person, kind) for one settlement."""
    yield from _by_status(row, people, today, four_eyes)
    if row.status in ("issued", "paid") and not row.countersigned:
        yield from ((p, "to_countersign") for p in people if p.role == "esco" and sees(p, row.place))


def expected(people: list[Person], settlements: Iterable[SettlementState], imports: Iterable[ImportState],
             warnings: Iterable[WarningState], today: date, *, four_eyes: bool = True) -> dict[tuple, Expected]:
    """Every notification the state calls for, by its key (user, kind, subject type, subject id)."""
    out: dict[tuple, Expected] = {}

    def add(person_id: int, kind: str, subject_type: str, subject_id: int, ref: str, link: str) -> None:
        item = Expected(person_id, kind, subject_type, subject_id, ref, link)
        out[item.key] = item

    for s in settlements:
        for person, kind in settlement_kinds(s, people, today, four_eyes=four_eyes):
            add(person.id, kind, "settlement", s.id, s.number, f"/settlements/{s.number}")
    ids = {p.id for p in people}
    for b in imports:
        if b.uploader_id in ids and b.status in ("committed", "rejected") and (today - b.on).days <= RECENT_DAYS:
            add(b.uploader_id, f"import_{b.status}", "import_batch", b.id, b.file_name, f"/imports/{b.id}")
    for w in warnings:
        if not w.acknowledged:
            for person in _managers(people, w.place):
                add(person.id, "quota_warning", "institution", w.institution_id, w.ref,
                    f"/carbon/institutions/{w.institution_code}")
    return out


@dataclass(frozen=True)
class Changes:
    """What a sync writes: notifications to open (new or reopened) and open ones to resolve (by id)."""

    open: list[Expected]
    resolve: list[int]


def diff(wanted: dict[tuple, Expected], open_now: dict[tuple, int]) -> Changes:
    """Compare what should be open with what is open (key → notification id)."""
    return Changes(open=[e for k, e in wanted.items() if k not in open_now],
                   resolve=sorted(i for k, i in open_now.items() if k not in wanted))
