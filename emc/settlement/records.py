"""A stored settlement read back: its lines, contract and terms in force, its JSON, the local day of an instant,
the inputs hash a statement's verification code is made of; and who acts (user or job name, role checks)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from emc.config import get_settings
from emc.contracts.models import Contract
from emc.org.models import Role, User
from emc.settlement.core.controls import SettlementError
from emc.settlement.models import (
    Settlement,
    SettlementLine,
)


def actor_name(actor: User | str) -> str:
    return actor.username if isinstance(actor, User) else actor


def require_role(actor: User | str, *roles: Role) -> None:
    if isinstance(actor, User) and Role(actor.role) not in roles:
        raise SettlementError(f"a {actor.role} user cannot do this")


def lines_of(session: Session, row: Settlement) -> list[SettlementLine]:
    return list(session.execute(select(SettlementLine).where(SettlementLine.settlement_id == row.id)
                                .order_by(SettlementLine.position)).scalars())


def contract_of(session: Session, row: Settlement) -> Contract:
    contract = session.get(Contract, row.contract_id)
    assert contract is not None
    return contract


def current_version_spec(session: Session, contract: Contract) -> dict[str, Any]:
    from emc.contracts.service import current_version

    return current_version(session, contract).spec


def local_day(instant: datetime | None) -> date | None:
    return instant.astimezone(ZoneInfo(get_settings().timezone)).date() if instant is not None else None


def inputs_hash(session: Session, row: Settlement) -> str:
    """SHA-256 over the frozen inputs and every line: what a statement's verification code is made of."""
    blob = json.dumps({"number": row.number, "inputs": row.inputs, "net": str(row.net_to_esco),
                       "lines": [line.detail for line in lines_of(session, row)]}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def find(session: Session, contract: Contract, kind: str, start: date, end: date,
         version: int = 1) -> Settlement | None:
    """The settlement stored for (contract, kind, period, version), if any."""
    return session.execute(select(Settlement).where(
        Settlement.contract_id == contract.id, Settlement.kind == kind, Settlement.period_start == start,
        Settlement.period_end == end, Settlement.version == version)).scalars().first()


def as_json(session: Session, row: Settlement) -> dict[str, Any]:
    return {"number": row.number, "contract": contract_of(session, row).code, "kind": row.kind,
            "period": [row.period_start.isoformat(), row.period_end.isoformat()], "contract_year": row.contract_year,
            "version": row.version, "status": row.status, "to_esco": str(row.to_esco), "from_esco": str(row.from_esco),
            "net_to_esco": str(row.net_to_esco), "inputs_hash": row.inputs_hash, "flagged": row.flagged,
            "warnings": row.warnings, "lines": [line.detail for line in lines_of(session, row)]}
