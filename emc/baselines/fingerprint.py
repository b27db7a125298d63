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
from emc.baselines.series import stations_of
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


def batches_stamps(session: Session, contract_ids: list[int]) -> dict[int, list[list[Any]]]:
    """Per contract, (status, batches, highest batch id) of the committed and of the reverted meter import
    batches that touch any of its meters, in one query: changes with every write of their readings, and with
    nothing else (emc.settlement.draft_stamp)."""
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


Pair = tuple[Contract, str, Baseline, "Baseline | None", "Iterable[NonRoutineAdjustment]"]


def result_fingerprint(session: Session, contract: Contract, utility: str, shown: Baseline,
                       approved: Baseline | None, adjustments: Iterable[NonRoutineAdjustment]) -> str:
    """The fingerprint of the M&V result of (``contract``, ``utility``) showing baseline ``shown`` with savings
    against ``approved`` (None: no savings) and the approved ones of ``adjustments``. Five small queries,
    whatever the number of meters, readings or batches."""
    return result_fingerprints(session, [(contract, utility, shown, approved, adjustments)])[
        (contract.id, utility)]  # type: ignore[index]


def result_fingerprints(session: Session, pairs: list[Pair]) -> dict[tuple[int, str], str]:
    """:func:`result_fingerprint` of many pairs, with one query per part for all of them and two per station
    (the M&V results' refresh job checks every viewed or approved pair)."""
    ids = sorted({c.id for c, *_ in pairs if c.id is not None})
    utilities = sorted({u for _, u, *_ in pairs})
    stations = stations_of(session, ids)
    main = (col(ContractMeter.contract_id).in_(ids), col(Meter.utility).in_(utilities), col(Meter.sub_item) == "total")
    groups = {(cid, u): [n, top] for cid, u, n, top in session.execute(
        select(col(ContractMeter.contract_id), col(Meter.utility), func.count(), func.max(col(Meter.id)))
        .join(ContractMeter, col(ContractMeter.meter_id) == col(Meter.id)).where(*main)
        .group_by(col(ContractMeter.contract_id), col(Meter.utility)))}
    batches: dict[tuple[int, str], list[list[Any]]] = {}
    for cid, u, *row in session.execute(
            select(col(ContractMeter.contract_id), col(Meter.utility), col(ImportBatch.status),
                   func.count(func.distinct(col(ImportBatch.id))), func.max(col(ImportBatch.id)))
            .join(ImportBatchMeter, col(ImportBatchMeter.batch_id) == col(ImportBatch.id))
            .join(ContractMeter, col(ContractMeter.meter_id) == col(ImportBatchMeter.meter_id))
            .join(Meter, col(Meter.id) == col(ImportBatchMeter.meter_id))
            .where(*main, col(ImportBatch.kind) != "weather",
                   col(ImportBatch.status).in_((BatchStatus.committed, BatchStatus.reverted)))
            .group_by(col(ContractMeter.contract_id), col(Meter.utility), col(ImportBatch.status))
            .order_by(col(ContractMeter.contract_id), col(Meter.utility), col(ImportBatch.status))).all():
        batches.setdefault((cid, u), []).append(list(row))
    weather = {station: weather_stamp(session, station) for station in set(stations.values()) if station}
    out: dict[tuple[int, str], str] = {}
    for contract, utility, shown, approved, adjustments in pairs:
        assert contract.id is not None  # a stored contract
        key = (contract.id, utility)
        station = stations.get(contract.id)  # none: the result says so (a problem); naming one later changes it
        parts = {
            "contract": [contract.id, contract.current_version, contract.start_date.isoformat(),
                         contract.end_date.isoformat()],
            "utility": utility,
            "shown": [shown.id, shown.status],
            "approved": approved.id if approved is not None else None,
            "adjustments": sorted(a.id for a in adjustments if a.status == AdjustmentStatus.approved and a.id),
            # [meter count, highest meter id, (status, batches, highest batch id) per committed/reverted status]
            "readings": [*groups.get(key, [0, None]), *batches.get(key, [])],
            "weather": weather[station] if station else None,
        }
        out[key] = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return out
