"""The fingerprint of what an M&V result of one (contract, utility) was computed from, read cheaply.

A result (the M&V page's baseline chart and savings, emc.baselines.results) depends on the contract's term
and current terms, the baseline shown and the approved one, the approved non-routine adjustments, the
readings of the utility's main meters and the weather of the contract's station. Hashing the readings
themselves (as ``Baseline.data_hash`` does for the readings a model was fitted on, read once per fit) would
cost the page the very read the cache saves, so the data part is a *version stamp* instead, read from a few
indexed aggregates:

* readings change only through meter import batches (commit, replace-mode correction, revert;
  emc.metering.service / emc.metering.revert), and every batch names the meters it touches
  (``import_batch_meter``). A commit adds a committed batch, a revert moves one from committed to
  reverted, so (count, highest id) of the committed and of the reverted batches that touch the meters
  changes with every write and with nothing else (previews, rejected files and other meters' batches are
  not counted). Readings written outside imports (the demo's synthetic portfolio) are written once, when
  the database is built.
* weather observations are only ever added (ids grow), corrected or restored through a revision row
  (``weather_revision``), or deleted by a revert: (count, highest id) of the station's observations and
  of its revisions change with every write, and two states with equal stamps hold the same data (a revert
  of the newest batch gives back the stamp, and the data, from before it).

The stamp is hashed with the rest into 64 hex digits: a different fingerprint is a different result; the
same fingerprint is the same data, so a stored result is valid for as long as its fingerprint is current.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from emc.baselines.models import AdjustmentStatus, Baseline, NonRoutineAdjustment
from emc.baselines.series import station_of
from emc.contracts.models import Contract, ContractMeter
from emc.metering.models import (
    BatchStatus,
    ImportBatch,
    ImportBatchMeter,
    Meter,
    WeatherObservation,
    WeatherRevision,
    WeatherStation,
)


def _group(contract: Contract, utility: str) -> Any:
    """The contract's main meters of ``utility`` (as emc.baselines.series.group_meters), as a subquery."""
    return select(col(Meter.id)).join(ContractMeter, col(ContractMeter.meter_id) == col(Meter.id)).where(
        col(ContractMeter.contract_id) == contract.id, col(Meter.utility) == utility, col(Meter.sub_item) == "total")


def readings_stamp(session: Session, contract: Contract, utility: str) -> list[Any]:
    """[meter count, highest meter id, (status, batches, highest batch id) per committed/reverted status]."""
    group = _group(contract, utility).subquery()
    meters = list(session.execute(select(func.count(), func.max(group.c.id))).one())
    return [*meters, *batches_stamp(session, select(group.c.id))]


def batches_stamp(session: Session, meters: Any) -> list[list[Any]]:
    """(status, batches, highest batch id) of the committed and of the reverted meter import batches that touch
    ``meters`` (a subquery of meter ids): changes with every write of their readings, and with nothing else."""
    return [list(row) for row in session.execute(
        select(col(ImportBatch.status), func.count(func.distinct(col(ImportBatch.id))), func.max(col(ImportBatch.id)))
        .join(ImportBatchMeter, col(ImportBatchMeter.batch_id) == col(ImportBatch.id))
        .where(col(ImportBatchMeter.meter_id).in_(meters), col(ImportBatch.kind) != "weather",
               col(ImportBatch.status).in_((BatchStatus.committed, BatchStatus.reverted)))
        .group_by(col(ImportBatch.status)).order_by(col(ImportBatch.status))).all()]


def batches_stamps(session: Session, contract_ids: list[int]) -> dict[int, list[list[Any]]]:
    """:func:`batches_stamp` of each contract's meters (all of them), in one query."""
    found: dict[int, list[list[Any]]] = {}
    for cid, *row in session.execute(
            select(col(ContractMeter.contract_id), col(ImportBatch.status),
                   func.count(func.distinct(col(ImportBatch.id))), func.max(col(ImportBatch.id)))
            .join(ImportBatchMeter, col(ImportBatchMeter.batch_id) == col(ImportBatch.id))
            .join(ContractMeter, col(ContractMeter.meter_id) == col(ImportBatchMeter.meter_id))
            .where(col(ContractMeter.contract_id).in_(contract_ids), col(ImportBatch.kind) != "weather",
                   col(ImportBatch.status).in_((BatchStatus.committed, BatchStatus.reverted)))
            .group_by(col(ContractMeter.contract_id), col(ImportBatch.status))
            .order_by(col(ContractMeter.contract_id), col(ImportBatch.status))).all():
        found.setdefault(cid, []).append(list(row))
    return found


def weather_stamp(session: Session, station: str) -> list[Any]:
    """[station, (count, highest id) of its observations, (count, highest id) of its revisions]."""
    sid = select(col(WeatherStation.id)).where(col(WeatherStation.code) == station).scalar_subquery()
    observed = session.execute(select(func.count(), func.max(col(WeatherObservation.id))).where(
        col(WeatherObservation.station_id) == sid)).one()
    revised = session.execute(select(func.count(), func.max(col(WeatherRevision.id))).where(
        col(WeatherRevision.station_id) == sid)).one()
    return [station, list(observed), list(revised)]


def result_fingerprint(session: Session, contract: Contract, utility: str, shown: Baseline,
                       approved: Baseline | None, adjustments: Iterable[NonRoutineAdjustment]) -> str:
    """The fingerprint of the M&V result of (``contract``, ``utility``) showing baseline ``shown`` with savings
    against ``approved`` (None: no savings) and the approved ones of ``adjustments``. Five small queries,
    whatever the number of meters, readings or batches."""
    try:
        station = station_of(session, contract)
    except ValueError:  # no station: the result says so (a problem), and a station named later changes it
        station = ""
    parts = {
        "contract": [contract.id, contract.current_version, contract.start_date.isoformat(),
                     contract.end_date.isoformat()],
        "utility": utility,
        "shown": [shown.id, shown.status],
        "approved": approved.id if approved is not None else None,
        "adjustments": sorted(a.id for a in adjustments if a.status == AdjustmentStatus.approved and a.id),
        "readings": readings_stamp(session, contract, utility),
        "weather": weather_stamp(session, station) if station else None,
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
