"""Every table, imported once so the metadata (and Alembic) sees the whole schema."""

from emc.audit.models import AuditEvent
from emc.baselines.models import Baseline, NonRoutineAdjustment
from emc.carbon.models import (
    CarbonEntry,
    CarbonFactor,
    CarbonInstitutionSetting,
    CarbonLedgerSetting,
    CarbonQuota,
    CarbonQuotaCorrection,
    CarbonReference,
    CarbonTarget,
    CarbonWarning,
)
from emc.contracts.models import (
    Contract,
    ContractComponent,
    ContractInstitution,
    ContractMeter,
    ContractVersion,
)
from emc.metering.models import (
    ImportBatch,
    ImportBatchMeter,
    ImportProfile,
    Meter,
    Reading,
    ReadingRevision,
    WeatherObservation,
    WeatherStation,
)
from emc.notify.models import Notification, NotificationDelivery
from emc.org.models import ApiToken, Esco, Institution, InstitutionYear, Region, User, UserSession
from emc.settlement.models import LedgerEntry, Settlement, SettlementLine, SettlementWait, StatementDigest
from emc.tariffs.models import Tariff

__all__ = [
    "ApiToken", "AuditEvent", "Baseline", "CarbonEntry", "CarbonFactor", "CarbonInstitutionSetting",
    "CarbonLedgerSetting", "CarbonQuota", "CarbonQuotaCorrection", "CarbonReference", "CarbonTarget",
    "CarbonWarning", "Contract", "ContractComponent", "ContractInstitution", "ContractMeter", "ContractVersion",
    "Esco", "ImportBatch", "ImportBatchMeter", "ImportProfile", "Institution", "InstitutionYear", "LedgerEntry",
    "Meter", "NonRoutineAdjustment",
    "Notification", "NotificationDelivery", "Reading", "ReadingRevision", "Region", "Settlement", "SettlementLine",
    "SettlementWait", "StatementDigest", "Tariff", "User", "UserSession", "WeatherObservation", "WeatherStation",
]
