"""Request bodies are bounded while they stream, before anything is spooled to disk or parsed.

Routes that take a file (found from their ``UploadFile`` parameters) accept up to
``EMC_UPLOAD_MAX_BYTES``; every other request (forms, JSON, an anonymous ``POST /login``) up to
``EMC_REQUEST_MAX_BYTES``. A declared ``Content-Length`` over the limit is refused before the first byte
is read; a chunked body is counted as it arrives and refused the moment it passes the limit. The refusal
is an HTTP 413 raised from ``receive``, so the app's own error handler answers (JSON under /api, a page
or toast elsewhere) and nothing of the body is kept.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import HTTPException, UploadFile
from fastapi.routing import APIRoute

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over the limit of {limit:,} bytes")
        self.limit = limit


def upload_paths(routes: Iterable[Any]) -> list[re.Pattern[str]]:
    """The path patterns of the routes that take a file."""
    out = []
    for route in routes:
        if isinstance(route, APIRoute) and any(
                isinstance(p.field_info.annotation, type) and issubclass(p.field_info.annotation, UploadFile)
                for p in route.dependant.body_params):
            out.append(route.path_regex)
    return out


class BodyLimit:
    def __init__(self, app: ASGIApp, *, uploads: Callable[[], list[re.Pattern[str]]], upload_max: int,
                 request_max: int) -> None:
        self.app, self.uploads, self.upload_max, self.request_max = app, uploads, upload_max, request_max

    def limit_for(self, path: str) -> int:
        return self.upload_max if any(p.match(path) for p in self.uploads()) else self.request_max

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        too_big = declared is not None and declared.isdigit() and int(declared) > limit
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            if too_big:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, bounded, send)
