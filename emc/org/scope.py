"""Who may see what: the one place tenant data is scoped.

Every list or load of tenant data goes through a :class:`Scope` (design.md §8). A bureau manager sees
the contracts, institutions and meters in their region subtree; an ESCO user only its own company's
contracts and what hangs off them; finance and viewers their region if they have one, else all;
admin everything. Objects outside the scope are reported as *not found*, never as forbidden, so an
ESCO cannot learn that another ESCO's contract exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, exists, false, select, true
from sqlmodel import Session
from sqlmodel import select as select_model

from emc.contracts.models import Contract, ContractInstitution, ContractMeter
from emc.metering.models import Meter
from emc.org.models import Institution, Region, Role, User

T = TypeVar("T")


class NotFound(LookupError):
    """The object does not exist or is outside the user's scope (the two are not told apart)."""


@dataclass(frozen=True)
class Scope:
    role: Role
    region_path: str | None = None
    esco_id: int | None = None

    @classmethod
    def of(cls, session: Session, user: User) -> Scope:
        role = Role(user.role)
        if not user.is_active:
            return cls(role=role, esco_id=-1)  # sees nothing
        path = None
        if user.region_id is not None:
            region = session.get(Region, user.region_id)
            path = region.path if region else "/nowhere/"
        if role == Role.esco:
            return cls(role=role, esco_id=user.esco_id if user.esco_id is not None else -1)
        if role == Role.admin:
            return cls(role=role)
        return cls(role=role, region_path=path)

    @classmethod
    def everything(cls) -> Scope:
        """For the CLI and scheduled jobs, which act for the whole installation."""
        return cls(role=Role.admin)

    @property
    def is_esco(self) -> bool:
        return self.esco_id is not None

    def _institution_in_region(self, institution_id: Any) -> ColumnElement[bool]:
        assert self.region_path is not None
        return exists(
            select(Institution.id)
            .join(Region, Region.id == Institution.region_id)
            .where(Institution.id == institution_id, Region.path.startswith(self.region_path, autoescape=True))
        )

    def contracts(self) -> ColumnElement[bool]:
        """A WHERE clause over :class:`Contract`."""
        if self.esco_id is not None:
            return Contract.esco_id == self.esco_id
        if self.region_path is None:
            return true()
        return exists(
            select(ContractInstitution.contract_id)
            .join(Institution, Institution.id == ContractInstitution.institution_id)
            .join(Region, Region.id == Institution.region_id)
            .where(ContractInstitution.contract_id == Contract.id,
                   Region.path.startswith(self.region_path, autoescape=True))
        )

    def institutions(self) -> ColumnElement[bool]:
        """A WHERE clause over :class:`Institution`."""
        if self.esco_id is not None:
            return exists(
                select(ContractInstitution.contract_id)
                .join(Contract, Contract.id == ContractInstitution.contract_id)
                .where(ContractInstitution.institution_id == Institution.id, Contract.esco_id == self.esco_id)
            )
        if self.region_path is None:
            return true()
        # not _institution_in_region(Institution.id): over Institution itself that EXISTS would correlate with
        # the outer row and pass every institution
        return Institution.region_id.in_(select(Region.id).where(Region.path.startswith(self.region_path,
                                                                                        autoescape=True)))

    def meters(self) -> ColumnElement[bool]:
        """A WHERE clause over :class:`Meter`: an ESCO sees only meters its contracts cover."""
        if self.esco_id is not None:
            if self.esco_id < 0:
                return false()
            return exists(
                select(ContractMeter.meter_id)
                .join(Contract, Contract.id == ContractMeter.contract_id)
                .where(ContractMeter.meter_id == Meter.id, Contract.esco_id == self.esco_id)
            )
        if self.region_path is None:
            return true()
        return self._institution_in_region(Meter.institution_id)

    def clause_for(self, model: type) -> ColumnElement[bool]:
        if model is Contract:
            return self.contracts()
        if model is Institution:
            return self.institutions()
        if model is Meter:
            return self.meters()
        raise TypeError(f"{model.__name__} has no scope rule; add one here, not at the call site")

    def find(self, session: Session, model: type[T], *where: Any) -> T:
        """Load one object matching ``where``, or raise :class:`NotFound` if absent or out of scope."""
        obj = session.exec(select_model(model).where(*where, self.clause_for(model))).first()
        if obj is None:
            raise NotFound(model.__name__)
        return obj
