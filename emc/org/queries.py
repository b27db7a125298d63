"""Read side of org: users with their region and ESCO codes, a user by name, and the region tree's parts a
page filters by."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import Session, col

from emc.org.models import Esco, Region, User


def users_with_places(session: Session) -> list[tuple[User, str | None, str | None]]:
    """Every user by name, with the codes of their region and ESCO (None where they have none)."""
    rows = session.execute(
        select(User, col(Region.code), col(Esco.code)).outerjoin(Region, col(Region.id) == col(User.region_id))
        .outerjoin(Esco, col(Esco.id) == col(User.esco_id)).order_by(col(User.username))).all()
    return [(u, r, e) for u, r, e in rows]


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
