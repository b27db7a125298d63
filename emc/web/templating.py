"""Jinja2 with jinja2-fragments: a GET renders the page, or only the block HTMX asked for."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2_fragments.fastapi import Jinja2Blocks

from emc import __version__
from emc.config import get_settings
from emc.i18n import messages
from emc.paths import resource_dir
from emc.units import pretty, pretty_text, utility_unit
from emc.web.chartscale import written
from emc.web.deps import csrf_token
from emc.web.i18n import LANGUAGES, Translator

templates = Jinja2Blocks(directory=str(resource_dir("templates")))
templates.env.globals["version"] = __version__
templates.env.globals["languages"] = LANGUAGES
for _helper in (messages.input_rows, messages.warning_text, messages.action_label, messages.period_text,
                messages.component_labels, messages.value_label, messages.model_label, messages.selection_text,
                messages.mv_warning_text, messages.flag_text):
    templates.env.globals[_helper.__name__] = _helper
templates.env.filters["unit"] = pretty  # m3 → m³, kgCO2 → kgCO₂: units as people read them
templates.env.globals["utility_unit"] = utility_unit  # 基期用量 · 水 3,545 m³
templates.env.filters["written"] = written  # 16179328.00 → 16,179,328.00 in a contract's terms
templates.env.filters["units_in_text"] = pretty_text  # "4.60 CNY/m3" in a contract's notes → "4.60 CNY/m³"


def language(request: Request) -> str:
    user = getattr(request.state, "user", None)
    lang = request.session.get("lang") or (user.language if user is not None else "") or \
        get_settings().language
    return lang if lang in LANGUAGES else "zh"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           block: str | None = None, status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render ``template``; with ``block`` and an HTMX request, only that block (no <html>)."""
    tz = get_settings().tz

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else ""

    def last_day(end: datetime | None) -> str:
        """The last local day a period stored as ending (exclusively) at ``end`` covers: a bill to 2025-04-30
        is stored as ending 2025-05-01 00:00 and shown as 2025-04-30."""
        return (end - timedelta(microseconds=1)).astimezone(tz).strftime("%Y-%m-%d") if end else ""

    ctx = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "_": Translator(language(request)),
        "lang": language(request),
        "csrf_token": csrf_token(request),
        "local": local,
        "last_day": last_day,
        "today": datetime.now(get_settings().tz).date(),  # the installation's day, not the server's
        **(context or {}),
    }
    block_name = block if block and is_htmx(request) else None
    response = templates.TemplateResponse(request, template, ctx, block_name=block_name, status_code=status_code,
                                          headers=headers)
    assert isinstance(response, HTMLResponse)
    return response
