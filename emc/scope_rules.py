"""The scope rule of every table: its path to contract / institution / meter / ESCO / region.

This module sits above the domains (it imports their models, none of them imports it, nor does
:mod:`emc.org.scope`): :mod:`emc.wiring` installs :func:`rule_for` into :class:`emc.org.scope.Scope`, so a
service asks its scope for any table's rule without an import loop. A rule is a function
``Scope → WHERE clause`` over the table; most are a *path* (``via``): a foreign key into a table that
already has a rule. Tables that are not tenant data say so in :data:`SHARED` (every signed-in user may read
them) or :data:`OWN` (a user's own rows), with the reason. ``tests/test_scope_rules.py`` walks the metadata
and fails when a table is in none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, exists, false, not_, or_, select, true
from sqlmodel import col

from emc.audit.models import AuditEvent
from emc.baselines.models import Baseline, MVResult, NonRoutineAdjustment
from emc.carbon.models import (
    CarbonEntry,
    CarbonFactor,
    CarbonInstitutionSetting,
    CarbonLedgerSetting,
    CarbonQuota,
    CarbonQuotaCorrection,
    CarbonReference,
    CarbonTarget,
    CarbonView,
    CarbonWarning,
)
from emc.contracts.models import Contract, ContractComponent, ContractInstitution, ContractMeter, ContractVersion
from emc.metering.models import (
    ImportBatch,
    ImportBatchMeter,
    ImportProfile,
    Meter,
    MeterMonthTotal,
    Reading,
    ReadingRevision,
    WeatherObservation,
    WeatherRevision,
    WeatherStation,
)
from emc.notify.models import Notification, NotificationDelivery
from emc.org.models import ApiToken, Esco, Institution, InstitutionYear, Region, Role, User, UserSession
from emc.org.scope import Rule, Scope
from emc.settlement.models import (
    DraftStamp,
    LedgerEntry,
    Settlement,
    SettlementLine,
    SettlementPayment,
    SettlementSource,
    SettlementWait,
    StatementDigest,
    StatementSnapshot,
)
from emc.tariffs.models import Tariff

RULES: dict[type, Rule] = {}

# Not tenant data: published or installation-wide reference data every signed-in user may read.
SHARED: dict[type, str] = {
    Region: "administrative divisions (GB/T 2260) are public",
    WeatherStation: "public weather stations",
    WeatherObservation: "public weather observations (their import batches are scoped)",
    WeatherRevision: "corrections of public weather observations (their import batches are scoped)",
    CarbonFactor: "published emission factors (GB/T 2589, MEE/NBS)",
    CarbonLedgerSetting: "which published factor series a region's ledger uses",
    CarbonTarget: "published year-on-year targets",
    CarbonReference: "published national averages",
    CarbonQuota: "published quota standards (定额)",
}


def rule(*models: type) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for model in models:
            RULES[model] = fn
        return fn

    return register


def rule_for(model: type) -> Rule:
    found = RULES.get(model)
    if found is None:
        if model in SHARED:
            return _everyone
        raise TypeError(f"{model.__name__} has no scope rule; add one in emc/scope_rules.py, not at the call site")
    return found


def _everyone(scope: Scope) -> ColumnElement[bool]:
    return true()


def via(column: Any, target: type) -> Rule:
    """The row is in scope when the row its foreign key names is."""
    def clause(scope: Scope) -> ColumnElement[bool]:
        if scope.is_unrestricted:
            return true()
        return column.in_(select(target.id).where(rule_for(target)(scope)))  # type: ignore[attr-defined]

    return clause


def _subtree(scope: Scope) -> Any:
    assert scope.region_path is not None
    return select(col(Region.id)).where(col(Region.path).startswith(scope.region_path, autoescape=True))


# -- the three roots: contract, institution, meter -------------------------------------------------
@rule(Contract)
def _contracts(scope: Scope) -> ColumnElement[bool]:
    if scope.esco_id is not None:
        return col(Contract.esco_id) == scope.esco_id
    if scope.region_path is None:
        return true()
    return exists(
        select(col(ContractInstitution.contract_id))
        .join(Institution, col(Institution.id) == col(ContractInstitution.institution_id))
        .where(col(ContractInstitution.contract_id) == col(Contract.id),
               col(Institution.region_id).in_(_subtree(scope))))


@rule(Institution)
def _institutions(scope: Scope) -> ColumnElement[bool]:
    if scope.esco_id is not None:
        return exists(
            select(col(ContractInstitution.contract_id))
            .join(Contract, col(Contract.id) == col(ContractInstitution.contract_id))
            .where(col(ContractInstitution.institution_id) == col(Institution.id),
                   col(Contract.esco_id) == scope.esco_id))
    if scope.region_path is None:
        return true()
    return col(Institution.region_id).in_(_subtree(scope))


@rule(Meter)
def _meters(scope: Scope) -> ColumnElement[bool]:
    """An ESCO sees only the meters its contracts cover (not every meter of the institution)."""
    if scope.esco_id is not None:
        if scope.esco_id < 0:
            return false()
        return exists(
            select(col(ContractMeter.meter_id))
            .join(Contract, col(Contract.id) == col(ContractMeter.contract_id))
            .where(col(ContractMeter.meter_id) == col(Meter.id), col(Contract.esco_id) == scope.esco_id))
    if scope.region_path is None:
        return true()
    in_region = select(col(Institution.id)).where(col(Institution.region_id).in_(_subtree(scope)))
    return col(Meter.institution_id).in_(in_region)


@rule(Esco)
def _escos(scope: Scope) -> ColumnElement[bool]:
    """An ESCO sees itself; the bureau the ESCOs holding a contract in its region."""
    if scope.esco_id is not None:
        return col(Esco.id) == scope.esco_id
    if scope.region_path is None:
        return true()
    return col(Esco.id).in_(select(col(Contract.esco_id)).where(_contracts(scope)))


# -- paths to a contract ---------------------------------------------------------------------------
_model: Any
for _model in (ContractInstitution, ContractMeter, ContractVersion, Baseline, NonRoutineAdjustment, MVResult,
               Settlement, LedgerEntry, SettlementWait, DraftStamp):
    RULES[_model] = via(_model.contract_id, Contract)
RULES[ContractComponent] = via(col(ContractComponent.version_id), ContractVersion)
RULES[SettlementLine] = via(col(SettlementLine.settlement_id), Settlement)
for _model in (StatementDigest, StatementSnapshot, SettlementPayment, SettlementSource):
    RULES[_model] = via(_model.settlement_id, Settlement)

# -- paths to an institution -----------------------------------------------------------------------
for _model in (InstitutionYear, CarbonInstitutionSetting, CarbonQuotaCorrection, CarbonWarning):
    RULES[_model] = via(_model.institution_id, Institution)

# -- paths to a meter ------------------------------------------------------------------------------
RULES[Reading] = via(col(Reading.meter_id), Meter)
RULES[ReadingRevision] = via(col(ReadingRevision.meter_id), Meter)
RULES[MeterMonthTotal] = via(col(MeterMonthTotal.meter_id), Meter)


@rule(CarbonEntry)
def _carbon_entries(scope: Scope) -> ColumnElement[bool]:
    """The institution's ledger rows; an ESCO sees its own contracts' savings there, not another ESCO's."""
    if scope.is_unrestricted:
        return true()
    clause = via(col(CarbonEntry.institution_id), Institution)(scope)
    if scope.is_esco:
        clause = and_(clause, or_(col(CarbonEntry.contract_id).is_(None),
                                  col(CarbonEntry.contract_id).in_(select(col(Contract.id)).where(_contracts(scope)))))
    return clause


@rule(CarbonView)
def _carbon_views(scope: Scope) -> ColumnElement[bool]:
    """Prepared figures are read by a key made from the reader's own scope (emc.carbon.prepared) and computed
    through that scope; no user lists the table itself."""
    return false()


# -- import batches: by the ESCO that uploaded them, or by every meter they touch -----------------
@rule(ImportBatch)
def _batches(scope: Scope) -> ColumnElement[bool]:
    """An ESCO sees its own uploads, and a meter batch someone else (the bureau, the demo) imported when
    every meter it touches is one of its contracts' meters and the batch was committed: the data of its own
    contracts, never another's, and never the bureau's unfinished previews or failed attempts. A region sees
    a batch it uploaded, a meter batch when every meter it touches lies in the region (a file spanning two
    districts belongs to neither district manager: reverting it would delete the other district's readings),
    and a weather batch whose stations serve one of its institutions."""
    links = select(col(ImportBatchMeter.meter_id)).where(col(ImportBatchMeter.batch_id) == col(ImportBatch.id))
    if scope.esco_id is not None:
        if scope.esco_id < 0:
            return false()
        return or_(col(ImportBatch.esco_id) == scope.esco_id, and_(
            col(ImportBatch.kind) != "weather", col(ImportBatch.status).in_(("committed", "reverted")),
            exists(links), not_(exists(links.where(not_(
                col(ImportBatchMeter.meter_id).in_(select(col(Meter.id)).where(_meters(scope)))))))))
    if scope.region_path is None:
        return true()
    stations = select(col(WeatherObservation.station_id)).join(
        WeatherStation, col(WeatherStation.id) == col(WeatherObservation.station_id)).where(
        col(WeatherObservation.batch_id) == col(ImportBatch.id),
        col(WeatherStation.code).in_(select(col(Institution.weather_station)).where(_institutions(scope))))
    return or_(
        col(ImportBatch.uploaded_by_id) == scope.user_id if scope.user_id is not None else false(),
        and_(col(ImportBatch.kind) == "weather", exists(stations)),
        and_(col(ImportBatch.kind) != "weather", exists(links), not_(exists(links.where(not_(
            col(ImportBatchMeter.meter_id).in_(select(col(Meter.id)).where(_meters(scope)))))))),
    )


RULES[ImportBatchMeter] = via(col(ImportBatchMeter.batch_id), ImportBatch)


@rule(ImportProfile)
def _profiles(scope: Scope) -> ColumnElement[bool]:
    if scope.esco_id is not None:
        return col(ImportProfile.esco_id) == scope.esco_id
    return or_(col(ImportProfile.esco_id).is_(None), via(col(ImportProfile.esco_id), Esco)(scope))


# -- tariffs: by the region whose price notice they are ---------------------------------------------
@rule(Tariff)
def _tariffs(scope: Scope) -> ColumnElement[bool]:
    """Readable where the price applies: installation-wide versions, the scope's own region, its ancestors
    (a city's price applies to its districts) and its subtree; an ESCO the regions of its institutions.
    Who may *change* a version is stricter: :meth:`Scope.covers_region` of its region."""
    if scope.is_unrestricted:
        return true()
    owner = Region.__table__.alias("tariff_region")
    if scope.esco_id is not None:
        inside = select(col(Region.path)).join(Institution, col(Institution.region_id) == col(Region.id)).where(
            _institutions(scope))
        applies: ColumnElement[bool] = exists(select(owner.c.id).where(owner.c.id == col(Tariff.region_id),
                                                  inside.where(col(Region.path).startswith(owner.c.path)).exists()))
    else:
        path = scope.region_path
        assert path is not None
        applies = col(Tariff.region_id).in_(select(owner.c.id).where(or_(
            owner.c.path.startswith(path, autoescape=True), _literal_startswith(path, owner.c.path))))
    return or_(col(Tariff.region_id).is_(None), applies)


def _literal_startswith(value: str, prefix_column: Any) -> ColumnElement[bool]:
    """``value`` starts with the column's value (an ancestor's path is a prefix of ours)."""
    from sqlalchemy import func, literal

    return func.substr(literal(value), 1, func.length(prefix_column)) == prefix_column


# -- users, their sessions and tokens; audit events --------------------------------------------------
@rule(User)
def _users(scope: Scope) -> ColumnElement[bool]:
    if scope.role == Role.admin:
        return true()
    return col(User.id) == scope.user_id if scope.user_id is not None else false()


def _own(column: Any) -> Rule:
    def clause(scope: Scope) -> ColumnElement[bool]:
        if scope.role == Role.admin:
            return true()
        return column == scope.user_id if scope.user_id is not None else false()  # type: ignore[no-any-return]

    return clause


RULES[ApiToken] = _own(col(ApiToken.user_id))
RULES[UserSession] = _own(col(UserSession.user_id))

# audit object types whose object_id is the code / number / id of a scoped row
_AUDITED: dict[str, Any] = {
    "contract": (Contract, Contract.code), "meter": (Meter, Meter.code), "institution": (Institution, Institution.code),
    "esco": (Esco, Esco.code), "settlement": (Settlement, Settlement.number),
    "import_batch": (ImportBatch, cast(ImportBatch.id, String)),
}


@rule(AuditEvent)
def _audit(scope: Scope) -> ColumnElement[bool]:
    """Events of objects in scope, and the user's own actions; everything else (users, jobs, tariffs,
    installation settings) only for an administrator."""
    if scope.role == Role.admin:
        return true()
    clauses = [and_(col(AuditEvent.object_type) == kind,
                    col(AuditEvent.object_id).in_(select(key).where(rule_for(model)(scope))))
               for kind, (model, key) in _AUDITED.items()]
    if scope.user_id is not None:
        clauses.append(col(AuditEvent.actor_id) == scope.user_id)
    return or_(*clauses)


# -- notifications: the user's own, and only while the user may see what each points to -------------
_SUBJECTS: dict[str, type] = {"settlement": Settlement, "import_batch": ImportBatch, "institution": Institution}


@rule(Notification)
def _notifications(scope: Scope) -> ColumnElement[bool]:
    """A user's own notifications whose subject is in their scope (a notification is scoped like the thing it
    points to: an ESCO moved off a contract, a manager moved to another district, no longer see its news)."""
    if scope.user_id is None:
        return false()
    return and_(col(Notification.user_id) == scope.user_id, or_(*(
        and_(col(Notification.subject_type) == kind,
             col(Notification.subject_id).in_(select(model.id).where(rule_for(model)(scope))))  # type: ignore[attr-defined]
        for kind, model in _SUBJECTS.items())))


@rule(NotificationDelivery)
def _deliveries(scope: Scope) -> ColumnElement[bool]:
    """The outbox (addresses, message texts, errors): an administrator's operations record."""
    return true() if scope.role == Role.admin else false()


def tenant_tables() -> dict[str, str]:
    """Every table and how it is scoped ("rule", "shared: why") — for the structural test and the docs."""
    out = {m.__tablename__: "rule" for m in RULES}  # type: ignore[attr-defined]
    out.update({m.__tablename__: f"shared: {why}" for m, why in SHARED.items()})  # type: ignore[attr-defined]
    return out
