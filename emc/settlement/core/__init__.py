"""Settlement core: the pure part that turns contract terms + verified savings + bills into money lines.

Plain data in, plain data out: no database, no web, no clock. The service layer loads the contract versions,
M&V results, bills, tariffs and approved changes, calls :func:`settle_period` / :func:`settle_contract_year`,
and stores the :class:`SettlementResult` (lines, inputs, warnings, state for the next period) as a
``Settlement`` row (:mod:`emc.settlement.models`).

Modules, one job each:

``periods``         contract years and settlement periods in the local calendar; splitting at amendments
``lines``           the line item, the one money rounding point, totals, formatting of formulas
``inputs``          M&V savings, bills, custody changes, contract versions (plain dataclasses)
``valuation``       savings → value: baseline price with escalation, average cost within limits, TOU
``shared_savings``  GB/T 24915-2020 App. A / GB/T 34149-2017 节水效益分享型
``guaranteed``      GB/T 24915-2020 App. B / GB/T 34149-2017 节水效果保证型 (per period + year-end true-up)
``custody``         GB/T 24915-2020 App. C / 用水费用托管型 / JS/T 301-2024 (fee, changes, reconciliation, penalty)
``lease``           finance-lease annuity and schedule
``fixed_fee``       fixed and O&M fees with escalation
``engine``          compose the components of a (hybrid) contract into one statement
``adjustments``     difference lines between an approved settlement and a recomputation
``economics``       ESCO NPV / IRR / payback (numpy-financial conventions, stated)
``state``           what a component carries from one period to the next (caps, carry-forward, fee state)
``controls``        checks on money the workflow runs before it writes (four eyes, confirmation, payments)
``guarantee_status`` a contract's guarantee status from the year-end measurement only

Tariff versions and pricing live in :mod:`emc.tariffs.book` (pure); re-exported here for the engine's callers.
"""

from emc.tariffs.book import TariffBook, TariffVersion, Tier, TouSeason, TouWindow, WaterCharges

from .adjustments import adjustment_lines
from .economics import (
    CashFlow,
    Economics,
    IRRResult,
    Metrics,
    contract_economics,
    discounted_payback,
    esco_cash_flows,
    irr,
    npv,
    projected_flows,
    simple_payback,
    yearly_flows,
)
from .engine import SettlementResult, settle_contract_year, settle_period, settle_sequence
from .inputs import Bill, CustodyChange, PeriodData, SettlementInputError, TermsVersion, UtilitySavings
from .lease import LeaseRow, LeaseSchedule, lease_schedule, level_instalment
from .lines import ESCO, INSTITUTION, LESSOR, Line, SettlementWarning, check_lines, line_amount, net, totals
from .periods import (
    ContractYear,
    Period,
    add_months,
    contract_year,
    contract_year_of,
    contract_years,
    period_containing,
    settlement_periods,
    split_period,
)
from .state import ComponentState, SettlementState
from .valuation import average_cost_price, escalated_price, value_savings

__all__ = [
    "ESCO", "INSTITUTION", "LESSOR", "Bill", "CashFlow", "ComponentState", "ContractYear", "CustodyChange",
    "Economics", "IRRResult", "LeaseRow", "LeaseSchedule", "Line", "Metrics", "Period", "PeriodData",
    "SettlementResult", "SettlementInputError", "SettlementState", "SettlementWarning", "TariffBook", "TariffVersion",
    "TermsVersion", "Tier", "TouSeason", "TouWindow", "UtilitySavings", "WaterCharges", "add_months",
    "adjustment_lines", "average_cost_price", "check_lines", "contract_economics", "contract_year", "contract_year_of",
    "contract_years", "discounted_payback", "escalated_price", "esco_cash_flows", "irr", "lease_schedule",
    "level_instalment", "line_amount", "net", "npv", "period_containing", "projected_flows", "settle_contract_year",
    "settle_period", "settle_sequence", "settlement_periods", "simple_payback", "split_period", "totals",
    "value_savings", "yearly_flows",
]
