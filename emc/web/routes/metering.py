"""Upload → preview → commit pages and the same through /api/imports. Thin: the service does the work."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from emc.config import get_settings
from emc.errors import Conflict, Refused, TooLarge
from emc.metering import import_templates, revert, service
from emc.metering.errors import ImportRefused
from emc.metering.findings import CODES
from emc.metering.models import BatchStatus, ImportBatch
from emc.metering.rejects import reject_csv, reject_xlsx
from emc.metering.shown import meter_rows
from emc.org.models import Esco, Role, User
from emc.org.scope import Scope
from emc.web import htmx
from emc.web.deps import ScopeDep, SessionDep, require_roles
from emc.web.i18n import Translator
from emc.web.paging import PageNo
from emc.web.routes.notify import after as notify_after
from emc.web.templating import language, render

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["imports"])

UPLOADERS = (Role.admin, Role.manager, Role.esco)
REVERTERS = (Role.admin, Role.manager)
Uploader = Annotated[User, Depends(require_roles(*UPLOADERS))]
Viewer = Annotated[User, Depends(require_roles(*UPLOADERS, Role.finance, Role.viewer))]
Reverter = Annotated[User, Depends(require_roles(*REVERTERS))]


class UploadTooLarge(Refused):
    """A file over EMC_UPLOAD_MAX_BYTES: a page's toast says so (422); the API answers 413."""


def _receive(upload: UploadFile, limit: int) -> Path:
    """Copy the spooled upload to a temporary file, stopping as soon as it passes the size limit (the body
    limit middleware has already refused a larger body while it streamed)."""
    tmp = Path(tempfile.mkstemp(prefix="emc-upload-", suffix=Path(upload.filename or "").suffix[:8])[1])
    size = 0
    with open(tmp, "wb") as out:
        while block := upload.file.read(1 << 20):
            size += len(block)
            if size > limit:
                out.close()
                tmp.unlink(missing_ok=True)
                raise UploadTooLarge(f"{upload.filename}: over the upload limit of {limit:,} bytes")
            out.write(block)
    return tmp


def _preview(request: Request, session: SessionDep, user: User, scope: Scope, upload: UploadFile,
             options: service.ImportOptions) -> service.ImportReport:
    limit = get_settings().upload_max_bytes
    tmp = _receive(upload, limit)
    try:
        name = Path(upload.filename or "upload.csv").name
        digest = service.file_hash(tmp)
        kept = service.keep_upload(tmp, digest, name)
        esco = session.get(Esco, user.esco_id) if user.esco_id else None
        report = service.import_file(session, kept, file_name=name, actor=user, scope=scope, esco=esco,
                                     options=options)
        if not report.already_imported:  # a batch found again keeps its own file; never touch another's
            report.batch.stored_path = str(kept)
        session.commit()  # the kept file and its batch: stored together, before anything else is tried
        return report
    finally:
        tmp.unlink(missing_ok=True)


def _options(kind: str, mode: str, sheet: str, station: str, dry_run: bool = True,
             reason: str = "") -> service.ImportOptions:
    return service.ImportOptions(kind=kind if kind in ("meter", "weather") else "meter", mode=mode,
                                 dry_run=dry_run, sheet=sheet.strip() or None, station=station.strip() or None,
                                 reason=reason.strip()[:500])


@pages.get("/imports")
def imports_page(request: Request, session: SessionDep, user: Viewer, scope: ScopeDep,
                 page: PageNo = 1) -> Response:
    rows, total = service.batches(session, scope, limit=25, offset=(page - 1) * 25)
    return render(request, "imports/list.html", {
        "batches": rows, "total": total, "page": page, "pages": max(1, -(-total // 25)),
        "can_upload": user.role in UPLOADERS, "can_weather": user.role in REVERTERS,
        "template_layouts": list(import_templates.LAYOUTS)}, block="history")


# Upload handlers are plain `def`: FastAPI runs them in its thread pool, so reading and checking a file
# never blocks the event loop (other users' requests are answered meanwhile).
@pages.post("/imports")
def imports_upload(request: Request, session: SessionDep, user: Uploader, scope: ScopeDep,
                         file: Annotated[UploadFile, File()], mode: Annotated[str, Form()] = "only-new",
                         kind: Annotated[str, Form()] = "meter", sheet: Annotated[str, Form()] = "",
                         station: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
    report = _preview(request, session, user, scope, file, _options(kind, mode, sheet, station, reason=reason))
    # the same file again: its batch's page says when it was imported (only a batch this user may open is found)
    return htmx.redirect(request, f"/imports/{report.batch.id}" + ("?again=1" if report.already_imported else ""))


def _detail_context(batch: ImportBatch, user: User, code: str) -> dict[str, Any]:
    findings = [f for f in batch.findings if not code or f["code"] == code]
    return {"b": batch, "code": code, "findings": findings[:500], "shown_of": len(findings),
            "codes": CODES, "counts": batch.summary.get("counts", {}), "meters": meter_rows(batch),
            "can_commit": batch.status == BatchStatus.previewed and batch.errors == 0 and user.role in UPLOADERS,
            "can_discard": batch.status in service.DISCARDABLE and user.role in UPLOADERS,
            "can_revert": batch.status == BatchStatus.committed and user.role in REVERTERS}


@pages.get("/imports/templates/{layout}.{fmt}")
def import_template(session: SessionDep, user: Uploader, scope: ScopeDep, layout: str, fmt: str) -> Response:
    """An empty import table whose headers the parser reads (emc/metering/import_templates.py)."""
    try:
        body = import_templates.template_file(session, scope, layout, fmt)
    except KeyError:
        return Response(status_code=404)
    media = "text/csv; charset=utf-8" if fmt == "csv" else XLSX
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="emc-import-{layout}.{fmt}"'})


@pages.get("/imports/{batch_id}")
def import_page(request: Request, session: SessionDep, user: Viewer, scope: ScopeDep, batch_id: int,
                code: str = "", again: bool = False) -> Response:
    batch = service.get_batch(session, scope, batch_id)
    context = {**_detail_context(batch, user, code), "again": again and batch.status == BatchStatus.committed}
    return render(request, "imports/detail.html", context, block="findings")


@pages.post("/imports/{batch_id}/discard")
def import_discard(request: Request, session: SessionDep, user: Uploader, scope: ScopeDep, batch_id: int) -> Response:
    _discard(session, user, service.get_batch(session, scope, batch_id))
    return htmx.redirect(request, "/imports")


def _discard(session: SessionDep, user: User, batch: ImportBatch) -> None:
    try:
        service.discard(session, batch, actor=user)
    except ImportRefused as exc:
        raise Conflict(str(exc)) from exc
    notify_after(session, batches=[batch])  # a discarded batch's news is no longer news


@pages.post("/imports/{batch_id}/commit")
def import_commit(request: Request, session: SessionDep, user: Uploader, scope: ScopeDep, batch_id: int) -> Response:
    batch = service.get_batch(session, scope, batch_id)
    _commit(session, user, scope, batch)
    return htmx.redirect(request, f"/imports/{batch.id}")


def _commit(session: SessionDep, user: User, scope: Scope, batch: ImportBatch) -> None:
    """Import a previewed batch's kept file for good; Conflict (409) when the batch cannot be committed."""
    if batch.status != BatchStatus.previewed:
        raise Conflict(f"batch {batch.id} is {batch.status}; only a previewed batch can be committed")
    if not batch.stored_path or not Path(batch.stored_path).is_file():
        raise Conflict(f"the uploaded file of batch {batch.id} is no longer on the server; upload it again")
    esco = session.get(Esco, batch.esco_id) if batch.esco_id else None
    kept = batch.summary.get("options", {})
    options = service.ImportOptions(kind=batch.kind, mode=batch.mode, dry_run=False, sheet=batch.sheet or None,
                                    station=kept.get("station"), timestamp_is=kept.get("timestamp_is"),
                                    interval_s=kept.get("interval_s"), timezone=kept.get("timezone"),
                                    reason=kept.get("reason") or "")
    try:
        service.import_file(session, Path(batch.stored_path), file_name=batch.file_name, actor=user, scope=scope,
                            esco=esco, options=options, batch=batch)
    except ImportRefused as exc:  # another commit of the batch got there first
        raise Conflict(str(exc)) from exc
    notify_after(session, batches=[batch])  # the uploader's news: committed or rejected


@pages.post("/imports/{batch_id}/revert")
def import_revert(request: Request, session: SessionDep, user: Reverter, scope: ScopeDep, batch_id: int,
                  reason: Annotated[str, Form()] = "") -> Response:
    batch = service.get_batch(session, scope, batch_id)
    _revert(session, user, batch, reason)
    return htmx.redirect(request, f"/imports/{batch.id}")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _describer(request: Request) -> Any:
    """A finding in the reader's language: what its code means, and the column and value it names."""
    t = Translator(language(request))

    def describe(f: dict[str, Any]) -> str:
        what = t.label(f"finding.{f.get('code')}", str(f.get("code")))
        where = " = ".join(str(v) for v in (f.get("column"), f.get("value")) if v not in (None, ""))
        meter = f.get("meter")
        return what + (f"（{where}）" if where else "") + (f" [{meter}]" if meter and meter not in where else "")

    return describe


@pages.get("/imports/{batch_id}/rejects.{fmt}")
def import_rejects(request: Request, session: SessionDep, user: Viewer, scope: ScopeDep, batch_id: int,
                   fmt: str) -> Response:
    batch = service.get_batch(session, scope, batch_id)
    stem = f"rejects-batch-{batch.id}"
    header = Translator(language(request))("imports.reject_finding")
    if fmt == "xlsx":
        return Response(reject_xlsx(batch, _describer(request), header), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'})
    if fmt == "csv":
        return Response(reject_csv(batch, _describer(request), header), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    return Response(status_code=404)


# -- JSON API -----------------------------------------------------------------------------------------
class BatchOut(BaseModel):
    id: int
    kind: str
    status: str
    file_name: str
    file_hash: str
    mode: str
    encoding: str
    layout: str
    rows: int
    new: int
    same: int
    conflict: int
    errors: int
    warnings: int
    counts: dict[str, int]
    meters: dict[str, Any]
    findings: list[dict[str, Any]]
    already_imported: bool = False


def _out(batch: ImportBatch, already: bool = False, findings: int = 1000) -> BatchOut:
    return BatchOut(id=batch.id or 0, kind=batch.kind, status=batch.status, file_name=batch.file_name,
                    file_hash=batch.file_hash, mode=batch.mode, encoding=batch.encoding, layout=batch.layout,
                    rows=batch.rows_total, new=batch.rows_new, same=batch.rows_same, conflict=batch.rows_conflict,
                    errors=batch.errors, warnings=batch.warnings, counts=batch.summary.get("counts", {}),
                    meters=batch.summary.get("meters", {}), findings=batch.findings[:findings],
                    already_imported=already)


@api.post("/imports", response_model=BatchOut, status_code=201)
def api_upload(request: Request, session: SessionDep, user: Uploader, scope: ScopeDep,
                     file: Annotated[UploadFile, File()], mode: Annotated[str, Form()] = "only-new",
                     kind: Annotated[str, Form()] = "meter", sheet: Annotated[str, Form()] = "",
                     station: Annotated[str, Form()] = "", commit: Annotated[bool, Form()] = False,
                     reason: Annotated[str, Form()] = "") -> Any:
    """Upload and check a file (a preview). With ``commit=true`` it is committed at once if it has no errors.
    ``reason``: in replace mode, why values that approved settlements used are corrected (required then)."""
    try:
        report = _preview(request, session, user, scope, file, _options(kind, mode, sheet, station, reason=reason))
    except UploadTooLarge as exc:
        raise TooLarge(str(exc)) from exc
    batch = report.batch
    if report.already_imported:  # 409 with the batch that holds the file (one the caller may open)
        when = batch.committed_at.astimezone(get_settings().tz).date().isoformat() if batch.committed_at else ""
        return JSONResponse({**_out(batch, already=True, findings=0).model_dump(),
                             "detail": f"already imported on {when} (batch {batch.id})"}, status_code=409)
    if commit and batch.errors == 0 and batch.status == BatchStatus.previewed:
        try:
            _commit(session, user, scope, batch)
        except Conflict:  # committed by someone else meanwhile: the preview is the answer, as it always was
            session.rollback()
    return _out(batch)


@api.get("/imports", response_model=list[BatchOut])
def api_batches(session: SessionDep, user: Viewer, scope: ScopeDep,
                page: PageNo = 1) -> list[BatchOut]:
    rows, _ = service.batches(session, scope, limit=50, offset=(page - 1) * 50)
    return [_out(b, findings=0) for b in rows]


@api.get("/imports/{batch_id}", response_model=BatchOut)
def api_batch(session: SessionDep, user: Viewer, scope: ScopeDep, batch_id: int) -> BatchOut:
    return _out(service.get_batch(session, scope, batch_id))


@api.post("/imports/{batch_id}/commit", response_model=BatchOut)
def api_commit(session: SessionDep, user: Uploader, scope: ScopeDep, batch_id: int) -> BatchOut:
    batch = service.get_batch(session, scope, batch_id)
    _commit(session, user, scope, batch)
    return _out(batch)


@api.post("/imports/{batch_id}/discard", response_model=BatchOut)
def api_discard(session: SessionDep, user: Uploader, scope: ScopeDep, batch_id: int) -> BatchOut:
    """Set a preview (or a rejected batch) aside: nothing is written; 409 when it is committed or discarded."""
    batch = service.get_batch(session, scope, batch_id)
    _discard(session, user, batch)
    return _out(batch)


class RevertIn(BaseModel):
    reason: str


@api.post("/imports/{batch_id}/revert", response_model=BatchOut)
def api_revert(session: SessionDep, user: Reverter, scope: ScopeDep, batch_id: int, body: RevertIn) -> BatchOut:
    batch = service.get_batch(session, scope, batch_id)
    _revert(session, user, batch, body.reason)
    return _out(batch)


def _revert(session: SessionDep, user: User, batch: ImportBatch, reason: str) -> None:
    """Take a committed batch's readings back out; a batch that cannot be reverted is a Conflict (409)."""
    try:
        revert.revert_batch(session, batch, actor=user, reason=reason)
    except ImportRefused as exc:
        raise Conflict(str(exc)) from exc
    notify_after(session, batches=[batch])  # a reverted batch's news is no longer news
