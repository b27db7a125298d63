"""Find what a command names on its command line (a contract by its code), or exit 1 saying it is unknown."""

from __future__ import annotations

from sqlmodel import Session, select

from emc.cli_kit import fail
from emc.contracts.models import Contract


def contract_by_code(session: Session, code: str) -> Contract:
    contract = session.exec(select(Contract).where(Contract.code == code)).first()
    if contract is None:
        fail(f"no contract {code!r}")
    return contract
