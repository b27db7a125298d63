"""The drafting job reads a chunk of contracts at once (emc.settlement.due_plan, emc.baselines.series_bulk):
over the whole settled demo (the examples, billing and daily baselines, synthetic contracts), every
contract's bulk reads equal its own reads — the same series, data hash, temperatures, savings and errors,
the same stamp — and a contract whose data is untidy (no station, no meters, no readings in the span, no
approved baseline) gets the error its own read gives, without stopping the others."""

from __future__ import annotations

from datetime import date

import pandas as pd
from conftest import LiveServer
from sqlalchemy import delete, select
from sqlmodel import Session, col

from emc.baselines import service as baselines
from emc.baselines.models import Baseline, BaselineStatus
from emc.baselines.series import SeriesError
from emc.contracts.models import Contract, ContractInstitution, ContractMeter
from emc.settlement import draft_stamp, due_plan
from emc.settlement.period_inputs import bill_utilities, bills, load_bills, periods_of, terms

SPANS = [(date(2019, 1, 1), date(2019, 12, 31)), (date(2023, 3, 1), date(2023, 3, 31))]


def _own(session: Session, contract: Contract, utility: str, start: date, end: date) -> object:
    try:
        return baselines.prepare_reporting(session, contract, utility, start, end)
    except (baselines.BaselineError, SeriesError) as exc:
        return exc


def _same(own: object, bulk: object) -> None:
    if isinstance(own, Exception):
        assert type(bulk) is type(own) and str(bulk) == str(own)
        return
    assert isinstance(own, baselines.Reporting) and isinstance(bulk, baselines.Reporting)
    assert bulk.baseline.id == own.baseline.id and bulk.adjustments == own.adjustments
    assert bulk.data.data_hash == own.data.data_hash and bulk.data.meters == own.data.meters
    assert (bulk.data.station, bulk.data.granularity, bulk.data.notes) == \
        (own.data.station, own.data.granularity, own.data.notes)
    pd.testing.assert_frame_equal(bulk.data.frame, own.data.frame)
    pd.testing.assert_series_equal(bulk.data.temperature, own.data.temperature)
    mine = baselines.savings_from(own, own.start, own.end).result.periods
    theirs = baselines.savings_from(bulk, bulk.start, bulk.end).result.periods
    pd.testing.assert_frame_equal(theirs, mine)
    assert repr(baselines.records(mine)) == repr(mine.to_dict(orient="records"))  # the rows drafting reads


def _pairs(session: Session) -> list[tuple[Contract, str]]:
    contracts = list(session.execute(select(Contract).order_by(Contract.code)).scalars())
    utilities = {(b.contract_id, b.utility) for b in session.execute(select(Baseline)).scalars()}
    return [(c, u) for c in contracts for u in sorted({u for cid, u in utilities if cid == c.id} | {"gas"})]


def test_bulk_reads_equal_each_contracts_own_over_the_whole_demo(settled_demo_server: LiveServer) -> None:
    with Session(settled_demo_server.engine) as session:
        pairs = _pairs(session)
        assert len(pairs) > 20
        approved = {(b.contract_id, b.utility, b.granularity) for b in session.execute(select(Baseline).where(
            col(Baseline.status) == BaselineStatus.approved)).scalars()}
        assert {g for *_, g in approved} >= {"daily", "billing"}  # both reads (bills run into the span) covered
        for start, end in SPANS:
            bulk = baselines.prepare_reporting_many(session, [(c, u, (start, end)) for c, u in pairs])
            assert len(bulk) == len(pairs)
            kinds = set()
            for contract, utility in pairs:
                own = _own(session, contract, utility, start, end)
                kinds.add(type(own).__name__)
                _same(own, bulk[(contract.id, utility)])  # type: ignore[index]
            assert kinds >= {"Reporting", "BaselineError"}  # a utility without a baseline says so
        contracts = [c for c, _ in pairs]
        assert draft_stamp.inputs_stamps(session, contracts) == \
            {c.id: draft_stamp.inputs_stamp(session, c) for c in contracts}
        load_bills(session, contracts)  # the chunk's bills, then each contract's own read in a fresh session
        with Session(settled_demo_server.engine) as fresh:
            for contract in contracts:
                own_contract = fresh.get(Contract, contract.id)
                assert own_contract is not None
                for period in periods_of(session, contract)[:30]:
                    billed = bill_utilities(terms(session, contract))
                    assert bills(session, contract, period, billed) == bills(fresh, own_contract, period, billed)


def test_untidy_contracts_get_their_own_errors_and_do_not_stop_the_others(settled_demo_server: LiveServer) -> None:
    with Session(settled_demo_server.engine) as session:
        approved = list(session.execute(select(Baseline).where(col(Baseline.status) == BaselineStatus.approved)
                                        .order_by(Baseline.id)).scalars())
        firsts: dict[int, Baseline] = {}
        for b in approved:
            firsts.setdefault(b.contract_id, b)  # one utility of each of four contracts
        chosen = [(session.get(Contract, cid), b.utility, (b.period_start, b.period_end))
                  for cid, b in firsts.items()][:4]
        assert len(chosen) == 4 and len({c.id for c, _, _ in chosen}) == 4  # type: ignore[union-attr]
        (no_station, u1, s1), (no_meters, u2, s2), (healthy, u3, s3), (no_data, u4, _) = chosen
        try:
            session.execute(delete(ContractInstitution).where(col(ContractInstitution.contract_id) == no_station.id))
            session.execute(delete(ContractMeter).where(col(ContractMeter.contract_id) == no_meters.id))
            span = (date(2031, 1, 1), date(2031, 1, 31))  # no readings in it
            wanted = [(no_station, u1, s1), (no_meters, u2, s2), (healthy, u3, s3), (no_data, u4, span)]
            bulk = baselines.prepare_reporting_many(session, wanted)  # type: ignore[arg-type]
            for contract, utility, (start, end) in wanted:
                own = _own(session, contract, utility, start, end)  # type: ignore[arg-type]
                _same(own, bulk[(contract.id, utility)])  # type: ignore[union-attr]
            assert "names a weather station" in str(bulk[(no_station.id, u1)])  # type: ignore[union-attr]
            assert "has no main (total) meter" in str(bulk[(no_meters.id, u2)])  # type: ignore[union-attr]
            assert "no " + u4 + " readings" in str(bulk[(no_data.id, u4)])  # type: ignore[union-attr]
            assert isinstance(bulk[(healthy.id, u3)], baselines.Reporting)  # type: ignore[union-attr]
            # the chunk's plan reads the same way: each contract's stamp, and the others' data
            plan = due_plan.plan(session, [c for c, _, _ in wanted], date(2031, 1, 1))  # type: ignore[misc]
            assert set(plan.stamps) == {c.id for c, _, _ in wanted}  # type: ignore[union-attr]
        finally:
            session.rollback()
