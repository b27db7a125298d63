"""Read side of baselines: every version of a contract's baselines, by utility then newest first."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import Session, col

from emc.baselines.models import Baseline
from emc.contracts.models import Contract


def all_versions(session: Session, contract: Contract) -> Sequence[Baseline]:
    return session.execute(select(Baseline).where(col(Baseline.contract_id) == contract.id)
                           .order_by(col(Baseline.utility), col(Baseline.version).desc())).scalars().all()
