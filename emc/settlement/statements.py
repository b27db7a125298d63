"""A settlement as the PDF statement finance receives: assembled from the approved settlement and its contract,
frozen as a snapshot at approval (so the approved rendering never moves), rendered by emc.reports.statement."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from emc.baselines.models import AdjustmentStatus, NonRoutineAdjustment
from emc.config import get_settings
from emc.contracts.allocation import allocation_of
from emc.contracts.models import Contract, ContractInstitution
from emc.contracts.service import current_version
from emc.contracts.spec import ContractFile
from emc.i18n import Translator
from emc.i18n.messages import warning_text
from emc.org.models import Esco, Institution
from emc.reports import statement as st
from emc.settlement import records
from emc.settlement import statements_allocation as allocation
from emc.settlement.core import controls
from emc.settlement.core.lines import ESCO, LESSOR, PARTY_ZH
from emc.settlement.models import Settlement, SettlementLine, StatementSnapshot
from emc.tariffs.book import BAND_ZH

TYPE_ZH = {"shared_savings": ("节能效益分享型", "shared savings"),
           "guaranteed_savings": ("节能量保证型", "guaranteed savings"),
           "cost_custody": ("能源费用托管型", "energy-cost custody"), "lease": ("融资租赁型", "finance lease"),
           "hybrid": ("混合型", "hybrid")}
UTILITY = {"electricity": ("电", "Electricity", "kWh"), "water": ("水", "Water", "m³"), "gas": ("天然气", "Gas", "m³"),
           "heat": ("热", "Heat", "GJ")}


def verification_code(row: Settlement) -> str:
    """Printed on the statement: the first 16 hex digits of the frozen inputs' hash, grouped."""
    code = row.inputs_hash[:16].upper()
    return "-".join(code[i:i + 4] for i in range(0, 16, 4))


def build(session: Session, row: Settlement) -> st.Statement:
    """The statement of an approved settlement from today's data: parties, savings, money lines and notes."""
    contract = records.contract_of(session, row)
    spec = current_version(session, contract).spec
    stored = records.lines_of(session, row)
    institutions = _institutions(session, contract)
    terms = ContractFile.model_validate(spec)
    paying = allocation.paying_side(session, allocation_of(terms), institutions)
    sides = _sides(session, contract, stored, institutions, paying)
    lines = _line_items(sides)
    split = _split(session, contract, terms, row, institutions, lines)
    zh_type, en_type = TYPE_ZH.get(contract.type, (contract.type, contract.type))
    # frozen at approval: the statement carries the approval date; the issue and due dates live on the issue
    # record (settlement.issued_at, due_on), so the bytes never depend on when it is issued or downloaded
    approved = records.local_day(row.approved_at or row.created_at)
    assert approved is not None
    days = int(spec.get("contract", {}).get("payment_days", 30))
    base = get_settings().public_url.rstrip("/")
    rates = _contract_rates(spec, contract.current_version) + _tariff_rates(stored)
    return st.Statement(
        number=row.number, bureau="机关事务管理局", bureau_en="Government Offices Administration Bureau",
        institutions=sides.institutions, esco=sides.esco, contract_code=contract.code, contract_name=contract.name,
        contract_type=zh_type, contract_type_en=en_type, period_start=row.period_start,
        period_end=row.period_end - timedelta(days=1), issue_date=approved, savings=_savings(row.inputs),
        lines=lines, payer=sides.payer, payee=sides.payee, due_date=None,
        date_label="批准日期 Approval date",
        due_text=f"开具后 {days} 日内 Within {days} days of issue",
        payment_terms=f"收到结算单后 {days} 日内支付 Payable within {days} days of issue",
        verification_code=verification_code(row) if row.inputs_hash else "DRAFT",
        verification_url=f"{base}/verify/{row.number}", rates=rates,
        notes=_notes(row, sides.third) + ([split.problem] if split.problem else []),
        adjustments=_adjustments(session, contract.id, row), allocation=split.rows, allocation_basis=split.basis,
        allocation_rule=split.rule,
        signatories=allocation.signatories(paying, sides.esco))


def _split(session: Session, contract: Contract, terms: ContractFile, row: Settlement,
           institutions: list[Institution], lines: list[st.LineItem]) -> allocation.Split:
    """The statement's amount split among its institutions. A single institution pays the whole: one row, which
    the PDF and the page do not print (nothing to split) but the allocation export lists."""
    total = sum((line.amount for line in lines), Decimal("0.00"))
    if len(institutions) <= 1:
        rows = [st.AllocationRow(i.code, i.name, i.name_en, None, "", Decimal("100.00"), total) for i in institutions]
        return allocation.Split(rows, "", "whole:")
    assert contract.id is not None
    return allocation.split(session, contract.id, terms, institutions, (row.period_start, row.period_end), total,
                            UTILITY)


@dataclasses.dataclass(frozen=True)
class _Sides:
    """Who the statement is between, and which stored lines are its own."""

    institutions: list[st.Party]
    esco: st.Party
    other: str  # the counterparty's party code: ESCO, or LESSOR for a finance lease without an ESCO line
    payer: st.Party
    payee: st.Party
    mine: list[SettlementLine]  # lines between the institution and the counterparty
    third: list[SettlementLine]  # lines with a third party: listed in the notes, not in the total
    sign: Decimal  # +1 when the institution pays on balance, −1 when it receives


def _institutions(session: Session, contract: Contract) -> list[Institution]:
    return list(session.execute(select(Institution).join(
        ContractInstitution, col(ContractInstitution.institution_id) == Institution.id)
        .where(col(ContractInstitution.contract_id) == contract.id).order_by(col(Institution.code))).scalars())


def _sides(session: Session, contract: Contract, stored: list[SettlementLine], institutions: list[Institution],
           paying: st.Signatory | None) -> _Sides:
    """A statement is between the institution (several: who signs for them, ``paying``) and one counterparty:
    the ESCO if any line involves it, else the lessor of a finance lease. Lines with a third party (a lease's
    instalments beside an ESCO's fee) are not part of this statement's total: they are listed in its notes,
    with their own amounts."""
    esco = session.get(Esco, contract.esco_id)
    assert esco is not None
    inst_parties = [st.Party(i.name, i.name_en) for i in institutions] or [st.Party("—")]
    esco_party = st.Party(esco.name, esco.name_en, esco.credit_code)
    institution_side = inst_parties[0] if paying is None else allocation.payer_party(paying, len(inst_parties))
    other = ESCO if any(ESCO in (line.payer, line.payee) for line in stored) or not stored else LESSOR
    lessor_name = next((str(line.detail.get("inputs", {}).get("lessor", "")) for line in stored
                        if LESSOR in (line.payer, line.payee)), "") or "出租人"
    other_party = esco_party if other == ESCO else st.Party(lessor_name, "Lessor")
    mine = [line for line in stored if other in (line.payer, line.payee)]
    net = sum((line.amount if line.payee == other else -line.amount for line in mine), Decimal(0))
    payer, payee = (institution_side, other_party) if net >= 0 else (other_party, institution_side)
    return _Sides(inst_parties, esco_party, other, payer, payee, mine,
                  [line for line in stored if other not in (line.payer, line.payee)],
                  Decimal(1) if net >= 0 else Decimal(-1))


def _line_items(sides: _Sides) -> list[st.LineItem]:
    """The statement's own lines, signed as the payer sees them."""
    lines = []
    zh, en = Translator("zh"), Translator("en")
    for line in sides.mine:
        toward = Decimal(1) if line.payee == sides.other else Decimal(-1)
        lines.append(st.LineItem(
            description=f"{zh.label('line.' + line.kind, '')}（{PARTY_ZH.get(line.payer, line.payer)} → "
                        f"{PARTY_ZH.get(line.payee, line.payee)}）", formula=line.formula,
            amount=line.amount * toward * sides.sign, description_en=en.label("line." + line.kind, ""),
            formula_en=str(line.detail.get("formula_en", ""))))
    if not lines:  # a period with nothing due is still a statement: it says so
        lines.append(st.LineItem(description="本期无应付款项", formula="本期各项计算结果均为零。",
                                 amount=Decimal("0.00"), description_en="No amount is due this period"))
    return lines


def _savings(inputs: dict[str, Any]) -> list[st.SavingsRow]:
    """Each utility's adjusted baseline, actual use and savings as frozen in the settlement's inputs."""
    savings = []
    for key, value in sorted(inputs.items()):
        if key.startswith("savings.") and key.endswith(".adjusted_baseline"):
            utility = key.split(".")[1]
            zh, en, unit = UTILITY.get(utility, (utility, utility, ""))
            unc = inputs.get(f"savings.{utility}.uncertainty")
            savings.append(st.SavingsRow(zh, en, unit, Decimal(value), Decimal(inputs[f"savings.{utility}.actual"]),
                                         Decimal(inputs[f"savings.{utility}.savings"]),
                                         Decimal(unc) if unc else None, "68%"))
    return savings


def _contract_rates(spec: dict[str, Any], version: int) -> list[st.Rate]:
    """The contract's own unit prices for savings (valuation.prices)."""
    prices = (spec.get("valuation") or {}).get("prices", {})
    return [st.Rate(f"{UTILITY.get(u, (u,))[0]} 合同单价", Decimal(p), f"元/{UTILITY.get(u, ('', '', ''))[2]}",
                    f"合同 v{version}") for u, p in prices.items()]


def _notes(row: Settlement, third: list[SettlementLine]) -> list[st.Bilingual]:
    """Third-party lines, the settlement's warnings, and what kind of statement this is."""
    notes: list[st.Bilingual] = [f"另：{PARTY_ZH.get(line.payer, line.payer)} → {PARTY_ZH.get(line.payee, line.payee)} "
             f"{line.amount:,.2f} 元（{line.formula}），不计入本结算单合计。" for line in third]
    notes += [(warning_text(w, Translator("zh")), warning_text(w, Translator("en"))) for w in row.warnings][:5]
    if row.kind == "year_end":
        notes.insert(0, ("本结算单为合同年度清算（保证量核算、费用对账）。",
                         "This statement is the contract-year true-up."))
    if row.adjusts_id:
        notes.insert(0, ("本结算单为对已批准结算单的差额调整。", "This statement adjusts an approved settlement."))
    return notes


def _tariff_rates(lines: list[SettlementLine]) -> list[st.Rate]:
    """Every tariff version a line priced with (one row per version and band), as the statement prints them."""
    seen: dict[tuple[str, str], st.Rate] = {}
    for line in lines:
        version = line.detail.get("tariff_version")
        if not version or line.unit_price is None:
            continue
        band = str(line.detail.get("subkey", "")).rpartition(":")[2]
        zh = UTILITY.get(line.utility or "", (line.utility or "", "", line.unit))[0]
        label = f"{zh}价格" + (f"（{BAND_ZH.get(band, band)}）" if band in BAND_ZH else "")
        seen.setdefault((version, band), st.Rate(label, line.unit_price, f"元/{line.unit}", version))
    return list(seen.values())


def _adjustments(session: Session, contract_id: int | None, row: Settlement) -> list[st.Adjustment]:
    """Approved non-routine adjustments acting in the period, with their reasons (IPMVP: every adjustment to
    the baseline is stated where the savings are used)."""
    found = session.execute(select(NonRoutineAdjustment).where(
        col(NonRoutineAdjustment.contract_id) == contract_id,
        col(NonRoutineAdjustment.status) == AdjustmentStatus.approved,
        col(NonRoutineAdjustment.start) < row.period_end)).scalars()
    out = []
    for a in found:
        if a.end is not None and a.end <= row.period_start:
            continue
        unit = UTILITY.get(a.utility, (a.utility, a.utility, ""))[2]
        if a.multiplier is not None:
            what, quantity = f"基准 × {a.multiplier:g}（自 {a.start} 起）", Decimal(0)
        else:
            per = "合计" if a.kind == "one_time" else "每日"
            what, quantity = f"{per} {a.amount:+g} {unit}（{a.start} – {a.end or '…'}）", Decimal(str(a.amount or 0))
        out.append(st.Adjustment(UTILITY.get(a.utility, (a.utility,))[0], f"{a.kind}: {what}", quantity, unit,
                                 a.reason, f"#{a.id} {a.decided_by}"))
    return out


def freeze(session: Session, row: Settlement) -> StatementSnapshot:
    """Take the statement's snapshot at approval: contract, parties and figures as they are now."""
    assert row.id is not None  # an approved settlement is stored
    snap = StatementSnapshot(settlement_id=row.id, data=to_data(build(session, row)))
    session.add(snap)
    session.flush()
    return snap


def statement_of(session: Session, row: Settlement) -> st.Statement:
    """The statement as approved (its snapshot). A settlement approved before snapshots existed has none: it is
    built from today's data, as it always was."""
    snap = session.get(StatementSnapshot, row.id)
    return from_data(snap.data) if snap is not None else build(session, row)


def approved_statement(session: Session, row: Settlement) -> st.Statement:
    """The statement of an approved settlement (a draft has none: refused)."""
    if not row.inputs_hash:
        raise controls.SettlementError(f"{row.number} is {row.status}; statements exist for approved settlements")
    return statement_of(session, row)


def render(session: Session, row: Settlement, base_url: str | None = None) -> bytes:
    """The statement PDF. Its QR code and verification link point at ``base_url`` (the server the reader asked,
    or the configured public URL) when given; else at the public URL frozen with the snapshot."""
    statement = approved_statement(session, row)
    if base_url:
        statement = dataclasses.replace(statement, verification_url=f"{base_url.rstrip('/')}/verify/{row.number}")
    return st.render_statement(statement)


def to_data(statement: st.Statement) -> dict[str, Any]:
    """A statement as JSON: decimals and dates tagged so they come back exactly."""
    def enc(value: Any) -> Any:
        if isinstance(value, Decimal):
            return {"$dec": str(value)}
        if isinstance(value, date):
            return {"$date": value.isoformat()}
        if isinstance(value, dict):
            return {k: enc(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [enc(v) for v in value]
        return value

    return enc(dataclasses.asdict(statement))


def from_data(data: dict[str, Any]) -> st.Statement:
    def dec(value: Any) -> Any:
        if isinstance(value, dict):
            if "$dec" in value:
                return Decimal(value["$dec"])
            if "$date" in value:
                return date.fromisoformat(value["$date"])
            return {k: dec(v) for k, v in value.items()}
        if isinstance(value, list):
            return [dec(v) for v in value]
        return value

    d = dec(data)
    nested = {"institutions": st.Party, "savings": st.SavingsRow, "lines": st.LineItem,
              "adjustments": st.Adjustment, "rates": st.Rate, "allocation": st.AllocationRow}
    for key, kind in nested.items():
        d[key] = [kind(**item) for item in d.get(key, [])]
    for key in ("esco", "payer", "payee"):
        d[key] = st.Party(**d[key])
    d["signatories"] = [st.Signatory(s["role"], s["role_en"], st.Party(**s["party"])) for s in d.get("signatories", [])]
    d["notes"] = list(d.get("notes", []))
    return st.Statement(**d)


def pdf_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

