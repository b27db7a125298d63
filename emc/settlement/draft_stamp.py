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

from emc.baselines.fingerprint import batches_stamps, weather_stamp
from emc.baselines.models import AdjustmentStatus, Baseline, BaselineStatus, NonRoutineAdjustment
from emc.baselines.series import stations_of
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
    """The stamp of the inputs of ``contract``'s drafts now; ``code``: as computed by other code than this
    (what an older release stored)."""
    return inputs_stamps(session, [contract], code=code)[contract.id]  # type: ignore[index]


def inputs_stamps(session: Session, contracts: list[Contract], *, code: str | None = None) -> dict[int, str]:
    """Each contract's :func:`inputs_stamp`, with one query per part for all of them (the drafting job's
    chunks) and one per station for the weather."""
    ids = [c.id for c in contracts if c.id is not None]
    stations = stations_of(session, ids)
    meters: dict[int, list[list[Any]]] = {cid: [] for cid in ids}
    for cid, *meter in session.execute(
            select(col(ContractMeter.contract_id), col(Meter.id), col(Meter.utility), col(Meter.unit),
                   col(Meter.sub_item)).join(ContractMeter, col(ContractMeter.meter_id) == col(Meter.id))
            .where(col(ContractMeter.contract_id).in_(ids)).order_by(col(ContractMeter.contract_id), col(Meter.id))):
        meters[cid].append(list(meter))
    batches = batches_stamps(session, ids)
    weather = {station: weather_stamp(session, station) for station in set(stations.values()) if station}
    baselines = _ids_by_contract(session, Baseline, ids, col(Baseline.status) == BaselineStatus.approved)
    adjustments = _ids_by_contract(session, NonRoutineAdjustment, ids,
                                   col(NonRoutineAdjustment.status) == AdjustmentStatus.approved)
    amendments = {cid: [n, last] for cid, n, last in session.execute(
        select(col(Settlement.contract_id), func.count(), func.max(col(Settlement.id))).where(
            col(Settlement.contract_id).in_(ids), col(Settlement.version) > 1).group_by(col(Settlement.contract_id)))}
    tariffs = list(session.execute(select(func.count(col(Tariff.id)), func.max(col(Tariff.updated_at)))).one())
    stamps = {}
    for contract in contracts:
        cid = contract.id
        assert cid is not None  # a stored contract
        station = stations[cid]  # none: the periods wait; naming one later changes the stamp
        parts: dict[str, Any] = {
            "code": code if code is not None else code_revision(),
            "contract": [cid, contract.current_version, contract.start_date.isoformat(),
                         contract.end_date.isoformat()],
            "meters": meters[cid],
            "batches": batches.get(cid, []),
            "weather": weather[station] if station else None,
            "baselines": baselines.get(cid, []),
            "adjustments": adjustments.get(cid, []),
            "amendments": amendments.get(cid, [0, None]),
            "tariffs": tariffs,
        }
        stamps[cid] = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return stamps


def _ids_by_contract(session: Session, model: Any, ids: list[int], *where: Any) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for cid, row_id in session.execute(select(model.contract_id, model.id).where(model.contract_id.in_(ids), *where)
                                       .order_by(model.contract_id, model.id)):
        found.setdefault(cid, []).append(row_id)
    return found


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
