"""Contract pages and API. Thin: parse the request, call queries/services, render."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from emc import clock
from emc.contracts import queries
from emc.contracts.service import load_contract
from emc.contracts.spec import ContractFileError, ContractType, parse_contract
from emc.errors import Refused
from emc.org.models import Role, User
from emc.settlement.economics_view import economics
from emc.web import htmx
from emc.web.deps import CurrentUser, ScopeDep, SessionDep, require_roles
from emc.web.paging import PageNo
from emc.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["contracts"])

CAN_LOAD = (Role.admin, Role.manager)


def contract_filter(q: str = "", type: str = "", esco: str = "", region: str = "", status: str = "",
                    page: PageNo = 1,
                    page_size: Annotated[int, Query(ge=1, le=100)] = 25) -> queries.ContractFilter:
    return queries.ContractFilter(q=q, type=type, esco=esco, region=region, status=status, page=page,
                                  page_size=page_size)


FilterDep = Annotated[queries.ContractFilter, Depends(contract_filter)]


@pages.get("/contracts")
def contract_list(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                  flt: FilterDep) -> Response:
    page = queries.list_contracts(session, scope, flt, clock.today())
    context = {
        "page": page, "flt": flt, "types": [t.value for t in ContractType],
        "escos": [] if scope.is_esco else queries.escos_in_scope(session, scope),
        "regions": [] if scope.is_esco else queries.regions_in_scope(session, scope),
        "can_load": user.role in CAN_LOAD,
    }
    return render(request, "contracts/list.html", context, block="results")


@pages.get("/contracts/{code}")
def contract_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, code: str,
                  rate: Annotated[Decimal, Query(ge=0, le=Decimal("0.5"))] = Decimal("0.06")) -> Response:
    detail = queries.contract_detail(session, scope, code, clock.today())
    return render(request, "contracts/detail.html", {
        "d": detail, "econ": economics(session, detail.contract, clock.today(), rate), "rate": rate})


@pages.post("/contracts/upload")
def contract_upload(request: Request, session: SessionDep,
                          user: Annotated[User, Depends(require_roles(*CAN_LOAD))], scope: ScopeDep,
                          file: Annotated[UploadFile, File()]) -> Response:
    raw = file.file.read(1_000_001)
    name = file.filename or "upload.toml"
    if len(raw) > 1_000_000:
        raise Refused(f"{name}: a contract file over 1 MB is not a contract file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"{name}: not UTF-8 text") from exc
    try:  # a file's problems (ContractFileError) are listed one a line; the loader's other refusals too
        result = load_contract(session, parse_contract(text, name), source=f"upload:{name}", actor=user, scope=scope)
    except ContractFileError:
        raise
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    return htmx.redirect(request, f"/contracts/{result.code}")


# -- JSON API ---------------------------------------------------------------------------------------
class ContractSummary(BaseModel):
    code: str
    name: str
    name_en: str
    type: str
    status: str
    esco: str
    esco_name: str
    institutions: int
    start: date
    end: date
    settlement_frequency: str
    contract_value: Decimal | None
    current_version: int


class ContractList(BaseModel):
    items: list[ContractSummary]
    total: int
    value_total: Decimal
    page: int
    page_size: int
    pages: int


class Party(BaseModel):
    code: str
    name: str
    category: str | None = None
    region: str | None = None


class MeterOut(BaseModel):
    code: str
    name: str
    institution: str
    utility: str
    unit: str
    multiplier: Decimal
    register_type: str
    register_digits: int | None
    sub_item: str


class VersionOut(BaseModel):
    version: int
    effective_from: date
    reason: str
    spec_hash: str
    source_file: str


class ContractOut(ContractSummary):
    esco_investment: Decimal | None
    carbon_rights: str
    parties: list[Party]
    meters: list[MeterOut]
    versions: list[VersionOut]
    terms: dict[str, Any]


def _summary(row: queries.ContractRow) -> ContractSummary:
    c = row.contract
    return ContractSummary(code=c.code, name=c.name, name_en=c.name_en, type=c.type, status=row.status,
                           esco=row.esco.code, esco_name=row.esco.name, institutions=row.institution_count,
                           start=c.start_date, end=c.end_date, settlement_frequency=c.settlement_frequency,
                           contract_value=c.contract_value, current_version=c.current_version)


@api.get("/contracts", response_model=ContractList)
def api_contracts(session: SessionDep, scope: ScopeDep, flt: FilterDep) -> ContractList:
    page = queries.list_contracts(session, scope, flt, clock.today())
    return ContractList(items=[_summary(r) for r in page.rows], total=page.total, value_total=page.value_total,
                        page=page.page, page_size=page.page_size, pages=page.pages)


@api.get("/contracts/{code}", response_model=ContractOut, responses={404: {"description": "not found or out of scope"}})
def api_contract(session: SessionDep, scope: ScopeDep, code: str) -> ContractOut:
    d = queries.contract_detail(session, scope, code, clock.today())
    c = d.contract
    row = queries.ContractRow(c, d.esco, len(d.institutions), "", d.status)
    return ContractOut(
        **_summary(row).model_dump(), esco_investment=c.esco_investment, carbon_rights=c.carbon_rights,
        parties=[Party(code=i.code, name=i.name, category=i.category, region=r.code) for i, r in d.institutions],
        meters=[MeterOut(code=m.code, name=m.name, institution=i.code, utility=m.utility, unit=m.unit,
                         multiplier=m.multiplier, register_type=m.register_type, register_digits=m.register_digits,
                         sub_item=m.sub_item) for m, i in d.meters],
        versions=[VersionOut(version=v.version, effective_from=v.effective_from, reason=v.reason,
                             spec_hash=v.spec_hash, source_file=v.source_file) for v in d.versions],
        terms=d.spec)
