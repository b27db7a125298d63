"""Read side of org: users with their region and ESCO codes, a user by name, and the region tree's parts a
page filters by."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlmodel import Session, col

from emc.org.models import Esco, Region, User


def users_with_places(session: Session) -> list[tuple[User, Region | None, Esco | None]]:
    """Every user by name, with their region and ESCO (None where they have none): one statement."""
    rows = session.execute(
        select(User, Region, Esco).outerjoin(Region, col(Region.id) == col(User.region_id))
        .outerjoin(Esco, col(Esco.id) == col(User.esco_id)).order_by(col(User.username))).all()
    return [(u, r, e) for u, r, e in rows]


def user_names(session: Session) -> dict[str, tuple[str, str]]:
    """username → (display name, role) of every user: what a picker of people shows."""
    return {name: (display or name, role) for name, display, role in session.execute(
        select(col(User.username), col(User.display_name), col(User.role)))}


def all_regions(session: Session) -> list[Region]:
    """Every region in tree order (province, its cities, each city's districts): a picker's choices."""
    return list(session.execute(select(Region).order_by(col(Region.path))).scalars())


def all_escos(session: Session) -> list[Esco]:
    return list(session.execute(select(Esco).order_by(col(Esco.code))).scalars())


def active_admins(session: Session) -> int:
    """How many active administrators there are (the last one may not be demoted or deactivated)."""
    return int(session.execute(select(func.count(col(User.id))).where(
        col(User.role) == "admin", col(User.is_active).is_(True))).scalar_one())


def user_named(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(col(User.username) == username)).scalar_one_or_none()


def top_region(session: Session) -> Region | None:
    """The root of the region tree (the first by code if several)."""
    return session.execute(select(Region).where(col(Region.parent_id).is_(None))
                           .order_by(col(Region.code))).scalars().first()


def regions_under(session: Session, root: Region) -> list[Region]:
    """``root`` and every region below it, in tree order."""
    return list(session.execute(select(Region).where(col(Region.path).startswith(root.path, autoescape=True))
                                .order_by(col(Region.path))).scalars().all())


def regions_by_code(session: Session, codes: Sequence[str]) -> dict[str, Region]:
    return {r.code: r for r in session.execute(select(Region).where(col(Region.code).in_(list(codes)))).scalars()}
