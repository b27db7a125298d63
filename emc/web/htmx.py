"""The two answers every POST gives (docs/design.md §7): go to a page, or keep the page and show a toast."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from emc.web.templating import render


def redirect(request: Request, target: str) -> Response:
    """HTMX follows ``HX-Redirect``; a plain form post gets 303 (post/redirect/get)."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return Response(status_code=303, headers={"Location": target})


def toast(request: Request, message: str | list[str], *, status_code: int = 422, level: str = "error") -> Response:
    """An out-of-band toast; ``HX-Reswap: none`` keeps the page (and the user's input) as it is."""
    context = {"level": level, "messages": message} if isinstance(message, list) else {"level": level,
                                                                                       "message": message}
    return render(request, "partials/toast.html", context, block="toast", status_code=status_code,
                  headers={"HX-Reswap": "none"})
