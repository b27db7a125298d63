"""Every table, imported once so the metadata (and Alembic) sees the whole schema."""

from emc.audit.models import AuditEvent
from emc.contracts.models import (
    Contract,
    ContractComponent,
    ContractInstitution,
    ContractMeter,
    ContractVersion,
)
from emc.metering.models import Meter, Reading
from emc.org.models import ApiToken, Esco, Institution, InstitutionYear, Region, User

__all__ = [
    "ApiToken", "AuditEvent", "Contract", "ContractComponent", "ContractInstitution", "ContractMeter",
    "ContractVersion", "Esco", "Institution", "InstitutionYear", "Meter", "Reading", "Region", "User",
]
