"""The one scoping helper: managers see their region subtree, ESCOs only their own contracts."""

from pathlib import Path

import pytest
from sqlmodel import Session, select

from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.contracts.spec import parse_contract
from emc.metering.models import Meter
from emc.org.models import Esco, Institution, User
from emc.org.scope import NotFound, Scope
from emc.org.service import UserCreate, create_user, load_regions

SMALL = (Path(__file__).parent / "data" / "small-shared.toml").read_text(encoding="utf-8")
# The same contract shape for a second ESCO in Changzhou (钟楼区 320404).
OTHER = (SMALL.replace("T-SCHOOL-2024", "T-CZ-2024").replace('code = "T-ESCO"', 'code = "T-ESCO-2"')
         .replace("T-SCH-1", "T-CZ-1").replace('region = "320211"', 'region = "320404"'))


@pytest.fixture
def portfolio(session: Session) -> Session:
    load_regions(session)
    for name, text in (("a.toml", SMALL), ("b.toml", OTHER)):
        load_contract(session, parse_contract(text, name), source=name, actor="test")
    session.commit()
    return session


def scope_for(session: Session, **kwargs: str) -> Scope:
    user = create_user(session, UserCreate(username=kwargs.pop("username"), password="long-enough", **kwargs),
                       actor="test")
    return Scope.of(session, user)


def codes(session: Session, scope: Scope) -> set[str]:
    return set(session.exec(select(Contract.code).where(scope.contracts())).all())


def test_manager_sees_region_subtree(portfolio: Session) -> None:
    assert codes(portfolio, scope_for(portfolio, username="wx", role="manager", region="320200")) == {"T-SCHOOL-2024"}
    assert codes(portfolio, scope_for(portfolio, username="js", role="manager", region="320000")) == {
        "T-SCHOOL-2024", "T-CZ-2024"}
    assert codes(portfolio, scope_for(portfolio, username="lx", role="manager", region="320213")) == set()
    # institutions too: a Wuxi manager sees the Wuxi school, not Changzhou's institution
    wx = Scope.of(portfolio, portfolio.exec(select(User).where(User.username == "wx")).one())
    assert set(portfolio.exec(select(Institution.code).where(wx.institutions())).all()) == {"T-SCH-1"}
    cz = portfolio.exec(select(Institution).where(Institution.code == "T-CZ-1")).one()
    with pytest.raises(NotFound):
        wx.find(portfolio, Institution, Institution.id == cz.id)


def test_esco_sees_only_its_contracts_institutions_and_meters(portfolio: Session) -> None:
    scope = scope_for(portfolio, username="e2", role="esco", esco="T-ESCO-2")
    assert codes(portfolio, scope) == {"T-CZ-2024"}
    assert set(portfolio.exec(select(Institution.code).where(scope.institutions())).all()) == {"T-CZ-1"}
    assert set(portfolio.exec(select(Meter.code).where(scope.meters())).all()) == {"T-CZ-1-E"}
    other = portfolio.exec(select(Contract).where(Contract.code == "T-SCHOOL-2024")).one()
    with pytest.raises(NotFound):
        scope.find(portfolio, Contract, Contract.id == other.id)


def test_admin_sees_all_and_a_deactivated_user_nothing(portfolio: Session) -> None:
    assert len(codes(portfolio, Scope.everything())) == 2
    user = create_user(portfolio, UserCreate(username="gone", password="long-enough", role="viewer"), actor="t")
    user.is_active = False
    assert codes(portfolio, Scope.of(portfolio, user)) == set()


def test_scope_must_fit_the_role(portfolio: Session) -> None:
    with pytest.raises(ValueError, match="an ESCO user needs the ESCO code"):
        UserCreate(username="xx", password="long-enough", role="esco")
    with pytest.raises(ValueError, match="a manager needs the region"):
        UserCreate(username="xx", password="long-enough", role="manager")
    assert portfolio.exec(select(Esco)).all()


def test_a_browser_session_names_its_user_only_while_it_lives(session: Session) -> None:
    """The cookie's session id (one statement before every signed-in page): the user while the session is
    unexpired and the user active; nobody once it expired, the user was deactivated or signed out."""
    from datetime import timedelta

    from emc.dbtypes import utcnow
    from emc.org.models import Role
    from emc.org.service import end_session, session_user, start_session

    load_regions(session)
    user = create_user(session, UserCreate(username="mgr", password="mgr-password-1", role=Role.manager,
                                           region="320000"), actor="t")
    raw = start_session(session, user, max_age_s=3600)
    session.commit()
    assert session_user(session, raw) == user
    assert session_user(session, raw, now=utcnow() + timedelta(seconds=3601)) is None  # expired
    assert session_user(session, raw + "x") is None  # unknown
    user.is_active = False
    session.commit()
    assert session_user(session, raw) is None  # deactivated
    user.is_active = True
    end_session(session, raw)
    session.commit()
    assert session_user(session, raw) is None  # signed out
