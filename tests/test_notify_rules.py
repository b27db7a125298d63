"""The pure core of notifications: who is told of what, from plain data (emc/notify/rules.py)."""

from __future__ import annotations

from datetime import date

from emc.notify import rules
from emc.notify.rules import ImportState, Person, Place, SettlementState, WarningState

TODAY = date(2026, 12, 4)
JIANGSU, WUXI, BINHU, CHANGZHOU = "/320000/", "/320000/320200/", "/320000/320200/320211/", "/320000/320400/"
MANAGER = Person(1, "manager", "manager", JIANGSU)
MANAGER2 = Person(2, "manager2", "manager", JIANGSU)
BINHU_MGR = Person(3, "binhu", "manager", BINHU)
FINANCE = Person(4, "finance", "finance", JIANGSU)
VIEWER = Person(5, "viewer", "viewer", WUXI)
ESCO = Person(6, "esco", "esco", esco_id=10)
ESCO2 = Person(7, "esco2", "esco", esco_id=20)
ADMIN = Person(8, "admin", "admin")
PEOPLE = [MANAGER, MANAGER2, BINHU_MGR, FINANCE, VIEWER, ESCO, ESCO2, ADMIN]
IN_BINHU = Place(10, frozenset({BINHU}))
IN_CHANGZHOU = Place(20, frozenset({CHANGZHOU + "320404/"}))


def who(found: dict, kind: str, subject_id: int) -> set[str]:
    names = {p.id: p.username for p in PEOPLE}
    return {names[e.user_id] for e in found.values() if e.kind == kind and e.subject_id == subject_id}


def test_a_draft_is_for_the_managers_who_see_it_and_a_submitted_one_for_the_other_manager_only() -> None:
    draft = SettlementState(1, "WX-1", "draft", IN_BINHU, changed_by="scheduler")
    submitted = SettlementState(2, "WX-2", "submitted", IN_BINHU, submitted_by="manager", changed_by="scheduler",
                                submitted_on=TODAY)
    found = rules.expected(PEOPLE, [draft, submitted], [], [], TODAY)
    assert who(found, "to_submit", 1) == {"manager", "manager2", "binhu"}
    # four eyes: manager submitted it, so manager2 and binhu approve; manager is not asked to approve his own
    assert who(found, "to_approve", 2) == {"manager2", "binhu"}
    assert not who(found, "overdue_approval", 2)
    # whoever last changed the inputs may not approve either
    recomputed = SettlementState(3, "WX-3", "submitted", IN_BINHU, submitted_by="manager", changed_by="manager2",
                                 submitted_on=TODAY)
    assert who(rules.expected(PEOPLE, [recomputed], [], [], TODAY), "to_approve", 3) == {"binhu"}
    # with four eyes switched off (EMC_FOUR_EYES=false) the submitter is asked too
    assert "manager" in who(rules.expected(PEOPLE, [submitted], [], [], TODAY, four_eyes=False), "to_approve", 2)


def test_a_district_manager_is_told_only_of_their_district() -> None:
    other = SettlementState(4, "CZ-1", "draft", IN_CHANGZHOU)
    found = rules.expected(PEOPLE, [other], [], [], TODAY)
    assert who(found, "to_submit", 4) == {"manager", "manager2"}  # Jiangsu's managers, not Binhu's


def test_issued_statements_go_to_finance_to_pay_and_to_their_own_esco_to_countersign() -> None:
    wuxi = SettlementState(5, "WX-5", "issued", IN_BINHU, due_on=date(2026, 12, 31))
    hospital = SettlementState(6, "CZ-6", "issued", IN_CHANGZHOU, due_on=date(2026, 11, 30))
    found = rules.expected(PEOPLE, [wuxi, hospital], [], [], TODAY)
    assert who(found, "to_pay", 5) == {"finance"} and who(found, "to_pay", 6) == {"finance"}
    assert who(found, "to_countersign", 5) == {"esco"} and who(found, "to_countersign", 6) == {"esco2"}
    assert not who(found, "overdue_payment", 5) and who(found, "overdue_payment", 6) == {"finance"}
    # paid but not countersigned: the ESCO is still asked; countersigned: no one
    paid = SettlementState(7, "WX-7", "paid", IN_BINHU)
    signed = SettlementState(8, "WX-8", "paid", IN_BINHU, countersigned=True)
    found = rules.expected(PEOPLE, [paid, signed], [], [], TODAY)
    assert who(found, "to_countersign", 7) == {"esco"} and not [e for e in found.values() if e.subject_id == 8]


def test_overdue_approval_after_five_days() -> None:
    late = SettlementState(9, "WX-9", "submitted", IN_BINHU, submitted_by="manager", submitted_on=date(2026, 11, 28))
    on_time = SettlementState(10, "WX-10", "submitted", IN_BINHU, submitted_by="manager",
                              submitted_on=date(2026, 11, 29))
    found = rules.expected(PEOPLE, [late, on_time], [], [], TODAY)
    assert who(found, "overdue_approval", 9) == {"manager2", "binhu"} and not who(found, "overdue_approval", 10)


def test_import_results_go_to_the_uploader_while_recent_and_quota_warnings_to_managers_in_region() -> None:
    imports = [ImportState(1, "a.csv", "committed", ESCO.id, TODAY), ImportState(2, "b.csv", "rejected", BINHU_MGR.id,
                                                                                 TODAY),
               ImportState(3, "old.csv", "committed", ESCO.id, date(2026, 10, 1)),
               ImportState(4, "c.csv", "previewed", ESCO.id, TODAY),
               ImportState(5, "gone.csv", "committed", 99, TODAY)]  # uploader deactivated: not among the people
    warnings = [WarningState(1, "市民中心 2026", "WX-SMZX", IN_BINHU, False),
                WarningState(2, "医院 2026", "CZ-ZLRMYY", IN_CHANGZHOU, False),
                WarningState(3, "市民中心 2025", "WX-SMZX", IN_BINHU, True)]
    found = rules.expected(PEOPLE, [], imports, warnings, TODAY)
    assert who(found, "import_committed", 1) == {"esco"} and who(found, "import_rejected", 2) == {"binhu"}
    assert not [e for e in found.values() if e.subject_type == "import_batch" and e.subject_id in (3, 4, 5)]
    assert {e.subject_type for e in found.values() if e.kind == "quota_warning"} == {"institution"}
    assert who(found, "quota_warning", 1) == {"manager", "manager2", "binhu"}
    assert who(found, "quota_warning", 2) == {"manager", "manager2"}
    assert not who(found, "quota_warning", 3)
    link = next(e.link for e in found.values() if e.kind == "quota_warning")
    assert link.startswith("/carbon/institutions/")


def test_an_esco_user_without_a_company_and_a_region_user_see_nothing_of_others() -> None:
    lost = Person(9, "lost", "esco", esco_id=-1)
    assert not rules.sees(lost, IN_BINHU) and not rules.sees(ESCO2, IN_BINHU) and rules.sees(ESCO, IN_BINHU)
    assert rules.sees(ADMIN, IN_CHANGZHOU) and rules.sees(VIEWER, IN_BINHU) and not rules.sees(VIEWER, IN_CHANGZHOU)


def test_diff_opens_the_missing_and_resolves_the_gone_and_nothing_twice() -> None:
    draft = SettlementState(1, "WX-1", "draft", IN_BINHU)
    wanted = rules.expected(PEOPLE, [draft], [], [], TODAY)
    first = rules.diff(wanted, {})
    assert len(first.open) == 3 and first.resolve == []
    open_now = {e.key: i for i, e in enumerate(first.open, start=1)}
    assert rules.diff(wanted, open_now) == rules.Changes([], [])  # a re-run changes nothing
    submitted = SettlementState(1, "WX-1", "submitted", IN_BINHU, submitted_by="manager", submitted_on=TODAY)
    after = rules.diff(rules.expected(PEOPLE, [submitted], [], [], TODAY), open_now)
    assert sorted(after.resolve) == [1, 2, 3] and {e.kind for e in after.open} == {"to_approve"}
