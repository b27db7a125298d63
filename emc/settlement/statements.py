"""A settlement as the PDF statement finance receives (emc.reports.statement renders it)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from emc.baselines.models import AdjustmentStatus, NonRoutineAdjustment
from emc.config import get_settings
from emc.contracts.models import ContractInstitution
from emc.contracts.service import current_version
from emc.org.models import Esco, Institution
from emc.reports import statement as st
from emc.settlement import records
from emc.settlement.core import controls
from emc.settlement.core.lines import ESCO, LESSOR, PARTY_ZH
from emc.settlement.models import Settlement, SettlementLine, StatementSnapshot
from emc.tariffs.book import BAND_ZH

TYPE_ZH = {"shared_savings": ("节能效益分享型", "shared savings"), "guaranteed_savings": ("节能量保证型", "guaranteed savings"),
           "cost_custody": ("能源费用托管型", "energy-cost custody"), "lease": ("融资租赁型", "finance lease"),
           "hybrid": ("混合型", "hybrid")}
UTILITY = {"electricity": ("电", "Electricity", "kWh"), "water": ("水", "Water", "m³"), "gas": ("天然气", "Gas", "m³"),
           "heat": ("热", "Heat", "GJ")}


def verification_code(row: Settlement) -> str:
    """Printed on the statement: the first 16 hex digits of the frozen inputs' hash, grouped."""
    code = row.inputs_hash[:16].upper()
    return "-".join(code[i:i + 4] for i in range(0, 16, 4))


def build(session: Session, row: Settlement) -> st.Statement:
    contract = records.contract_of(session, row)
    esco = session.get(Esco, contract.esco_id)
    assert esco is not None
    institutions = list(session.execute(select(Institution).join(
        ContractInstitution, ContractInstitution.institution_id == Institution.id)
        .where(ContractInstitution.contract_id == contract.id).order_by(Institution.code)).scalars())
    spec = current_version(session, contract).spec
    inst_parties = [st.Party(i.name, i.name_en) for i in institutions] or [st.Party("—")]
    esco_party = st.Party(esco.name, esco.name_en, esco.credit_code)
    institution_side = inst_parties[0] if len(inst_parties) == 1 else st.Party(
        f"{inst_parties[0].name} 等 {len(inst_parties)} 家用能单位", f"{len(inst_parties)} institutions")
    # A statement is between the institution and one counterparty: the ESCO if any line involves it, else the
    # lessor of a finance lease. Lines with a third party (a lease's instalments beside an ESCO's fee) are not
    # part of this statement's total: they are listed in its notes, with their own amounts.
    stored = records.lines_of(session, row)
    other = ESCO if any(ESCO in (line.payer, line.payee) for line in stored) or not stored else LESSOR
    lessor_name = next((str(line.detail.get("inputs", {}).get("lessor", "")) for line in stored
                        if LESSOR in (line.payer, line.payee)), "") or "出租人"
    other_party = esco_party if other == ESCO else st.Party(lessor_name, "Lessor")
    mine = [line for line in stored if other in (line.payer, line.payee)]
    net = sum((line.amount if line.payee == other else -line.amount for line in mine), Decimal(0))
    payer, payee = (institution_side, other_party) if net >= 0 else (other_party, institution_side)
    sign = Decimal(1) if net >= 0 else Decimal(-1)
    lines = []
    for line in mine:
        toward = Decimal(1) if line.payee == other else Decimal(-1)
        lines.append(st.LineItem(description=f"{PARTY_ZH.get(line.payer, line.payer)} → {PARTY_ZH.get(line.payee, line.payee)}"
                                 f" · {line.component}", formula=line.formula, amount=line.amount * toward * sign,
                                 description_en=line.detail.get("formula_en", "")[:120]))
    if not lines:  # a period with nothing due is still a statement: it says so
        lines.append(st.LineItem(description="本期无应付款项", formula="本期各项计算结果均为零。",
                                 amount=Decimal("0.00"), description_en="No amount is due this period"))
    third = [line for line in stored if other not in (line.payer, line.payee)]
    savings = []
    for key, value in sorted(row.inputs.items()):
        if key.startswith("savings.") and key.endswith(".adjusted_baseline"):
            utility = key.split(".")[1]
            zh, en, unit = UTILITY.get(utility, (utility, utility, ""))
            unc = row.inputs.get(f"savings.{utility}.uncertainty")
            savings.append(st.SavingsRow(zh, en, unit, Decimal(value), Decimal(row.inputs[f"savings.{utility}.actual"]),
                                         Decimal(row.inputs[f"savings.{utility}.savings"]),
                                         Decimal(unc) if unc else None, "68%"))
    prices = (spec.get("valuation") or {}).get("prices", {})
    rates = [st.Rate(f"{UTILITY.get(u, (u,))[0]} 合同单价", Decimal(p), f"元/{UTILITY.get(u, ('', '', ''))[2]}",
                     f"合同 v{contract.current_version}") for u, p in prices.items()]
    rates += _tariff_rates(stored)
    adjustments = _adjustments(session, contract.id, row)
    zh_type, en_type = TYPE_ZH.get(contract.type, (contract.type, contract.type))
    # frozen at approval: the statement carries the approval date; the issue and due dates live on the issue
    # record (settlement.issued_at, due_on), so the bytes never depend on when it is issued or downloaded
    approved = records.local_day(row.approved_at or row.created_at)
    assert approved is not None
    days = int(spec.get("contract", {}).get("payment_days", 30))
    base = get_settings().public_url.rstrip("/")
    notes = [f"另：{PARTY_ZH.get(line.payer, line.payer)} → {PARTY_ZH.get(line.payee, line.payee)} "
             f"{line.amount:,.2f} 元（{line.formula}），不计入本结算单合计。" for line in third]
    notes += [w.get("message", "") for w in row.warnings][:5]
    if row.kind == "year_end":
        notes.insert(0, "本结算单为合同年度清算（保证量核算、费用对账）。This statement is the contract-year true-up.")
    if row.adjusts_id:
        notes.insert(0, "本结算单为对已批准结算单的差额调整。This statement adjusts an approved settlement.")
    return st.Statement(
        number=row.number, bureau="机关事务管理局 Government Offices Administration Bureau",
        institutions=inst_parties, esco=esco_party, contract_code=contract.code, contract_name=contract.name,
        contract_type=zh_type, contract_type_en=en_type, period_start=row.period_start,
        period_end=row.period_end - timedelta(days=1), issue_date=approved, savings=savings, lines=lines,
        payer=payer, payee=payee, due_date=None, date_label="批准日期 Approval date",
        due_text=f"开具后 {days} 日内 Within {days} days of issue",
        payment_terms=f"收到结算单后 {days} 日内支付 Payable within {days} days of issue",
        verification_code=verification_code(row) if row.inputs_hash else "DRAFT",
        verification_url=f"{base}/verify/{row.number}", rates=rates, notes=notes, adjustments=adjustments)


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


def _adjustments(session: Session, contract_id: int, row: Settlement) -> list[st.Adjustment]:
    """Approved non-routine adjustments acting in the period, with their reasons (IPMVP: every adjustment to
    the baseline is stated where the savings are used)."""
    found = session.execute(select(NonRoutineAdjustment).where(
        NonRoutineAdjustment.contract_id == contract_id, NonRoutineAdjustment.status == AdjustmentStatus.approved,
        NonRoutineAdjustment.start < row.period_end)).scalars()
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
    snap = StatementSnapshot(settlement_id=row.id, data=to_data(build(session, row)))
    session.add(snap)
    session.flush()
    return snap


def statement_of(session: Session, row: Settlement) -> st.Statement:
    """The statement as approved (its snapshot). A settlement approved before snapshots existed has none: it is
    built from today's data, as it always was."""
    snap = session.get(StatementSnapshot, row.id)
    return from_data(snap.data) if snap is not None else build(session, row)


def render(session: Session, row: Settlement) -> bytes:
    if not row.inputs_hash:
        raise controls.SettlementError(f"{row.number} is {row.status}; statements exist for approved settlements")
    return st.render_statement(statement_of(session, row))


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
              "adjustments": st.Adjustment, "rates": st.Rate}
    for key, kind in nested.items():
        d[key] = [kind(**item) for item in d.get(key, [])]
    for key in ("esco", "payer", "payee"):
        d[key] = st.Party(**d[key])
    d["signatories"] = [st.Signatory(s["role"], s["role_en"], st.Party(**s["party"])) for s in d.get("signatories", [])]
    d["notes"] = list(d.get("notes", []))
    return st.Statement(**d)


def pdf_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

