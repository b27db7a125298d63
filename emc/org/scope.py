"""Who may see what: the one place tenant data is scoped.

Every list or load of tenant data goes through a :class:`Scope` (docs/design.md §8). A bureau manager sees
the contracts, institutions and meters in their region subtree; an ESCO user only its own company's
contracts and what hangs off them; finance and viewers their region if they have one, else all;
admin everything. Objects outside the scope are reported as *not found*, never as forbidden, so an
ESCO cannot learn that another ESCO's contract exists.

Each table's rule (its path to contract / institution / meter / ESCO / region) lives in
:mod:`emc.scope_rules`, which sits above the domains it joins; this module knows none of them. The rules are
installed here once (:func:`install`, by :mod:`emc.wiring`, which every shell imports) and
``clause_for(Model)`` looks them up, so no call site writes its own variant. A table without a rule is
refused, and so is every restricted scope's lookup before the rules are installed (``tests/test_scope_rules.py``
fails when a new table has none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, true
from sqlmodel import Session
from sqlmodel import select as select_model

from emc.errors import DomainError
from emc.org.models import Institution, Region, Role, User

T = TypeVar("T")
Rule = Callable[["Scope"], ColumnElement[bool]]


@dataclass(frozen=True)
class Rules:
    """Every table's scope rule, and the two roots above org that :class:`Scope` names (contracts, meters)."""

    rule_for: Callable[[type], Rule]
    contract: type
    meter: type


_installed: list[Rules] = []


def install(rules: Rules) -> None:
    """Install the rules (emc.wiring does, once, for every shell)."""
    _installed[:] = [rules]


def _rules() -> Rules:
    if not _installed:  # fail closed: an unwired process must not read a tenant's data unscoped
        raise RuntimeError("no scope rules are installed: the entry point imports emc.wiring")
    return _installed[0]


class NotFound(DomainError, LookupError, status=404, key="error.not_found", public=False):
    """The object does not exist or is outside the user's scope (the two are not told apart)."""


@dataclass(frozen=True)
class Scope:
    role: Role
    region_path: str | None = None
    esco_id: int | None = None
    user_id: int | None = None

    @classmethod
    def of(cls, session: Session, user: User) -> Scope:
        role = Role(user.role)
        if not user.is_active:
            return cls(role=role, esco_id=-1, user_id=user.id)  # sees nothing
        path = None
        if user.region_id is not None:
            region = session.get(Region, user.region_id)
            path = region.path if region else "/nowhere/"
        if role == Role.esco:
            return cls(role=role, esco_id=user.esco_id if user.esco_id is not None else -1, user_id=user.id)
        if role == Role.admin:
            return cls(role=role, user_id=user.id)
        return cls(role=role, region_path=path, user_id=user.id)

    @classmethod
    def everything(cls) -> Scope:
        """For the CLI and scheduled jobs, which act for the whole installation."""
        return cls(role=Role.admin)

    @property
    def is_esco(self) -> bool:
        return self.esco_id is not None

    @property
    def is_unrestricted(self) -> bool:
        """Sees every tenant object (admin, or a bureau role without a region)."""
        return self.esco_id is None and self.region_path is None

    def covers_region(self, region: Region | None) -> bool:
        """May this scope act on objects placed in ``region`` (its subtree)? ``None``: installation-wide
        objects, which only an unrestricted scope changes."""
        if self.is_esco:
            return False
        if self.region_path is None:
            return True
        return region is not None and region.path.startswith(self.region_path)

    def regions_below(self) -> ColumnElement[bool]:
        """A WHERE clause over :class:`Region`: the scope's own subtree (its choices in region filters)."""
        if self.region_path is None:
            return true()
        return Region.path.startswith(self.region_path, autoescape=True)

    @property
    def sees_everything(self) -> bool:
        """The installation-wide scope (an administrator, the CLI, jobs): every rule passes every row to it, so
        its clauses need no rules — a job run by import path in a bare process is scoped without wiring."""
        return self.role == Role.admin and self.is_unrestricted

    def contracts(self) -> ColumnElement[bool]:
        """A WHERE clause over ``Contract``."""
        return true() if self.sees_everything else self.clause_for(_rules().contract)

    def institutions(self) -> ColumnElement[bool]:
        """A WHERE clause over :class:`Institution`."""
        return self.clause_for(Institution)

    def meters(self) -> ColumnElement[bool]:
        """A WHERE clause over ``Meter``: an ESCO sees only meters its contracts cover."""
        return true() if self.sees_everything else self.clause_for(_rules().meter)

    def clause_for(self, model: type) -> ColumnElement[bool]:
        if self.sees_everything:
            return true()
        return _rules().rule_for(model)(self)

    def find(self, session: Session, model: type[T], *where: Any) -> T:
        """Load one object matching ``where``, or raise :class:`NotFound` if absent or out of scope."""
        obj = session.exec(select_model(model).where(*where, self.clause_for(model))).first()
        if obj is None:
            raise NotFound(model.__name__)
        return obj
