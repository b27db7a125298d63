"""The composition root: installs into the lower layers the answers only a module above every domain can give.

Data flows one way (docs/architecture.md): a domain never imports one above it. Two questions still need an
answer from above: which rows a user may see (:mod:`emc.scope_rules` joins every domain's tables), which
approved settlements priced with a tariff version (settlement records it; tariffs ask before a version
changes) and which used imported data (metering asks before a replace or revert). Importing this module
installs all three; every shell imports it once — the web app, the CLI (and so the
scheduler and the demo), the scripts and the tests' conftest. Until then both lookups refuse (fail closed).
"""

from __future__ import annotations

from sqlmodel import Session

from emc.contracts.models import Contract
from emc.metering import approved_use
from emc.metering.models import Meter
from emc.org import scope
from emc.scope_rules import rule_for
from emc.settlement import provenance
from emc.settlement.models import Settlement
from emc.tariffs import service as tariffs


def _tariff_users(session: Session, keys: list[str], within: scope.Scope | None) -> list[tariffs.PricedSettlement]:
    """One query over the provenance records (``settlement_source``, kind ``tariff``) written at approval."""
    clause = within.clause_for(Settlement) if within is not None else None
    return [tariffs.PricedSettlement(row.number, row.period_end)
            for row in provenance.using(session, "tariff", keys, within=clause)]


scope.install(scope.Rules(rule_for=rule_for, contract=Contract, meter=Meter))
tariffs.answer_priced_with(_tariff_users)
approved_use.install(provenance)  # type: ignore[arg-type]  (a module with the protocol's functions)
