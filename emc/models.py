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
from emc.org.models import ApiToken, Esco, Institution, InstitutionYear, Region, User, UserSession
from emc.settlement.models import LedgerEntry, Settlement, SettlementLine, SettlementWait, StatementDigest
from emc.tariffs.models import Tariff

__all__ = [
    "ApiToken", "AuditEvent", "ImportBatchMeter", "StatementDigest", "UserSession", "Baseline", "NonRoutineAdjustment", "Contract", "ContractComponent", "ContractInstitution", "ContractMeter",
    "ContractVersion", "Esco", "ImportBatch", "ImportProfile", "ReadingRevision", "WeatherObservation",
    "WeatherStation", "Institution", "InstitutionYear", "Meter", "Reading", "LedgerEntry", "Region", "Settlement", "SettlementLine", "SettlementWait", "Tariff", "User",
    "CarbonEntry", "CarbonFactor", "CarbonInstitutionSetting", "CarbonLedgerSetting", "CarbonQuota",
    "CarbonQuotaCorrection", "CarbonReference", "CarbonTarget", "CarbonWarning",
]
