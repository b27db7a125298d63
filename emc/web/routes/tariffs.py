"""Tariff pages (everyone reads; managers load files and record new price notices) and the JSON API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from emc import clock
from emc.errors import Refused
from emc.org.models import Role, User
from emc.org.scope import NotFound, Scope
from emc.tariffs import service
from emc.tariffs.book import BAND_ZH
from emc.tariffs.files import TariffFileError, price_fields, version_from_spec
from emc.tariffs.models import Tariff
from emc.web import htmx
from emc.web.deps import CurrentUser, ScopeDep, SessionDep
from emc.web.i18n import Translator
from emc.web.templating import language, render

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["tariffs"])
MAX_FILE = 1_000_000


def _can_edit(user: User) -> bool:
    return Role(user.role) in (Role.admin, Role.manager)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _describe(row: Tariff) -> dict[str, Any]:
    """What the page shows of a version's structure."""
    v = version_from_spec(row.spec)
    seasons = [{"months": sorted(s.months), "default": s.default_band,
                "windows": [(_clock(w.start_minute), _clock(w.end_minute), w.band) for w in s.windows]}
               for s in v.seasons]
    return {"row": row, "prices": price_fields(row.spec), "seasons": seasons, "band_zh": BAND_ZH,
            "tiers": [(t.up_to, t.price) for t in v.tiers]}


def _groups(session: SessionDep, scope: Scope) -> list[dict[str, Any]]:
    rows = service.versions(session, scope=scope)
    ends = service.effective_ends(rows)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        g = groups.setdefault((row.code, row.utility), {"code": row.code, "utility": row.utility, "name": row.name,
                                                        "versions": []})
        g["versions"].append({**_describe(row), "end": ends.get(row.id or 0)})
    return list(groups.values())


def _list(request: Request, session: SessionDep, user: User, scope: Scope, **extra: Any) -> Response:
    return render(request, "tariffs/list.html", {"groups": _groups(session, scope), "can_edit": _can_edit(user),
                                                 "today": clock.today(), **extra}, block="tariffs")


@pages.get("/tariffs")
def tariffs_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep) -> Response:
    return _list(request, session, user, scope)


@pages.post("/tariffs/upload")
def tariffs_upload(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                         file: Annotated[UploadFile, File()]) -> Response:
    t = Translator(language(request))
    if not _can_edit(user):
        return htmx.toast(request, t("tariffs.not_allowed"), status_code=403)
    data = file.file.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        return htmx.toast(request, t("tariffs.too_large"), status_code=413)
    name = file.filename or "upload.toml"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    saved = service.load_text(session, text, name, actor=user, scope=scope)  # TariffFileError: its problems
    return _list(request, session, user, scope, toast=[str(s) for s in saved])


@pages.get("/tariffs/{code}/{utility}")
def tariff_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, code: str,
                utility: str) -> Response:
    rows = [r for r in service.versions(session, code, scope) if r.utility == utility]
    if not rows:
        raise NotFound("tariff")
    ends = service.effective_ends(rows)
    versions = [{**_describe(r), "end": ends.get(r.id or 0), "used_by": service.used_by(session, r.key, scope)}
                for r in rows]
    return render(request, "tariffs/detail.html", {"code": code, "utility": utility, "versions": versions,
                                                   "latest": versions[0], "can_edit": _can_edit(user), "form": {},
                                                   "errors": []}, block="tariff")


async def _form_prices(request: Request) -> dict[str, str]:
    """The form's ``price:<band>`` fields (their names vary with the tariff's structure, so they are read
    from the parsed form here, awaited, and the handler itself stays a plain ``def`` off the event loop)."""
    form = await request.form()
    return {k.removeprefix("price:"): str(v).strip() for k, v in form.items() if k.startswith("price:")}


@pages.post("/tariffs/{code}/{utility}/versions")
def tariff_new_version(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, code: str,
                       utility: str, version: Annotated[str, Form()], effective_from: Annotated[str, Form()],
                       source: Annotated[str, Form()],
                       prices: Annotated[dict[str, str], Depends(_form_prices)]) -> Response:
    t = Translator(language(request))
    if not _can_edit(user):
        return htmx.toast(request, t("tariffs.not_allowed"), status_code=403)
    rows = [r for r in service.versions(session, code, scope) if r.utility == utility]
    if not rows:
        raise NotFound("tariff")
    try:
        start = date.fromisoformat(effective_from)
    except ValueError as exc:
        raise Refused(f"effective_from: {effective_from!r} is not a date (YYYY-MM-DD)") from exc
    try:
        saved = service.new_version(session, rows[0], version=version.strip(), effective_from=start,
                                    source=source.strip(), prices=prices, actor=user, scope=scope)
    except TariffFileError as exc:  # the form's problems, without the file name a form has not got
        raise Refused.listing([str(p).removeprefix("<form>: ") for p in exc.problems]) from exc
    return htmx.redirect(request, f"/tariffs/{code}/{utility}?saved={saved.key}")


@api.get("/tariffs")
def api_tariffs(session: SessionDep, scope: ScopeDep, code: str | None = None) -> list[dict[str, Any]]:
    """Every stored tariff version in scope, with the end date the settlement applies."""
    rows = service.versions(session, code, scope)
    if code and not rows:
        raise NotFound("tariff")
    ends = service.effective_ends(rows)
    return [service.as_json(r, ends.get(r.id or 0)) for r in rows]


__all__ = ["api", "pages"]
