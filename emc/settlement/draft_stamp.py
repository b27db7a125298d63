"""The stamp of everything a contract's drafts are computed from, so the drafting job recomputes its
still-draft periods only when something they depend on changed.

A draft is recomputable: every run of ``emc settle --due`` used to recompute every draft not yet submitted and
compare it with the stored one, so that a correction, a late bill or an engine fix reaches the drafts before
anyone opens them. At province scale that was 38 % of a month's run (README, Performance), and it grew with
every draft left waiting. A draft's figures depend only on (emc.settlement.period_inputs, drafting):

* the contract's terms (its current version) and the tariffs it prices with;
* its meters (which ones, their utility, unit and role) and their readings and bills — readings change only
  through import batches, so (count, highest id) of the committed and reverted batches touching them change
  with every write (the reasoning of emc.baselines.fingerprint);
* the weather of its station (observations and their revisions);
* its approved baselines and approved non-routine adjustments;
* the adjustment settlements (versions > 1, read by the year-end true-up); version 1 rows change only
  through this job's own drafting, which is what the stamp gates;
* the code that computes them (the source of the engine, M&V and the inputs' readers).

Read in a handful of indexed aggregates per contract, hashed into 64 hex digits. The job stores the stamp
after a contract's run (``DraftStamp``); the next run skips the recomputation when the stamp is the same, and
recomputes (and compares, as before) when it is not. A stamp read before the data changed under a running
job is only ever older than the data, so the next run recomputes: the skip can be late, never wrong.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from emc.baselines.fingerprint import batches_stamp, weather_stamp
from emc.baselines.models import AdjustmentStatus, Baseline, BaselineStatus, NonRoutineAdjustment
from emc.baselines.series import station_of
from emc.contracts.models import Contract, ContractMeter
from emc.dbtypes import utcnow
from emc.metering.models import Meter
from emc.settlement.models import DraftStamp, Settlement
from emc.tariffs.models import Tariff

_PACKAGE = Path(__file__).resolve().parents[1]
# what computes a draft from its inputs: a change here (an engine fix) must reach the drafts
_CODE = ("settlement/core", "settlement/period_inputs.py", "settlement/drafting.py", "mv",
         "baselines/service.py", "baselines/series.py", "tariffs")


@cache
def code_revision() -> str:
    """A digest of the source that computes drafts (read once per process)."""
    digest = hashlib.sha256()
    for part in _CODE:
        path = _PACKAGE / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(_PACKAGE).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def inputs_stamp(session: Session, contract: Contract, *, code: str | None = None) -> str:
    """The stamp of the inputs of ``contract``'s drafts now (seven small queries); ``code``: as computed by
    other code than this (what an older release stored)."""
    meters = select(col(ContractMeter.meter_id)).where(col(ContractMeter.contract_id) == contract.id)
    try:
        station = station_of(session, contract)
    except ValueError:  # no station: the periods wait; naming one later changes the stamp
        station = ""
    parts: dict[str, Any] = {
        "code": code if code is not None else code_revision(),
        "contract": [contract.id, contract.current_version, contract.start_date.isoformat(),
                     contract.end_date.isoformat()],
        "meters": [list(r) for r in session.execute(
            select(col(Meter.id), col(Meter.utility), col(Meter.unit), col(Meter.sub_item))
            .where(col(Meter.id).in_(meters)).order_by(col(Meter.id))).all()],
        "batches": batches_stamp(session, meters),
        "weather": weather_stamp(session, station) if station else None,
        "baselines": list(session.execute(select(col(Baseline.id)).where(
            col(Baseline.contract_id) == contract.id, col(Baseline.status) == BaselineStatus.approved)
            .order_by(col(Baseline.id))).scalars()),
        "adjustments": list(session.execute(select(col(NonRoutineAdjustment.id)).where(
            col(NonRoutineAdjustment.contract_id) == contract.id,
            col(NonRoutineAdjustment.status) == AdjustmentStatus.approved).order_by(col(NonRoutineAdjustment.id)))
            .scalars()),
        "amendments": list(session.execute(select(func.count(), func.max(col(Settlement.id))).where(
            col(Settlement.contract_id) == contract.id, col(Settlement.version) > 1)).one()),
        "tariffs": list(session.execute(select(func.count(col(Tariff.id)), func.max(col(Tariff.updated_at)))).one()),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def stored(session: Session, contract: Contract) -> str | None:
    return session.execute(select(col(DraftStamp.stamp)).where(col(DraftStamp.contract_id) == contract.id)
                           ).scalar_one_or_none()


def store(session: Session, contract: Contract, stamp: str) -> None:
    """Record that ``contract``'s drafts are now computed from the inputs ``stamp`` names (in the caller's
    transaction: it commits with the drafts)."""
    row = session.get(DraftStamp, contract.id)
    if row is None:
        savepoint = session.begin_nested()  # another process may stamp the same contract first
        try:
            session.add(DraftStamp(contract_id=contract.id, stamp=stamp))  # type: ignore[arg-type]
            savepoint.commit()
            return
        except IntegrityError:
            savepoint.rollback()
            row = session.get(DraftStamp, contract.id, populate_existing=True)
            assert row is not None
    if row.stamp != stamp:
        row.stamp, row.stamped_at = stamp, utcnow()
        session.flush()
