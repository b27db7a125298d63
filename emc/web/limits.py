"""Request bodies are bounded while they stream, before anything is spooled to disk or parsed.

Routes that take a file (an ``UploadFile`` parameter) accept up to ``EMC_UPLOAD_MAX_BYTES``; every other
request (forms, JSON, an anonymous ``POST /login``) up to ``EMC_REQUEST_MAX_BYTES``. The limit is decided
when the route first reads its body (routing has matched it by then): a declared ``Content-Length`` over
the limit is refused before the first byte is read; a chunked body is counted as it arrives and refused
the moment it passes the limit. The refusal is an HTTP 413 raised from ``receive``, so the app's own error
handler answers (JSON under /api, a page or toast elsewhere) and nothing of the body is kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, UploadFile
from fastapi.routing import APIRoute

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over the limit of {limit:,} bytes")


def takes_file(route: APIRoute) -> bool:
    return any(isinstance(p.field_info.annotation, type) and issubclass(p.field_info.annotation, UploadFile)
               for p in route.dependant.body_params)


class BodyLimit:
    def __init__(self, app: ASGIApp, *, upload_max: int, request_max: int) -> None:
        self.app, self.upload_max, self.request_max = app, upload_max, request_max

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        limit: int | None = None
        seen = 0

        async def bounded() -> Message:
            nonlocal limit, seen
            if limit is None:
                route = scope.get("route")
                limit = self.upload_max if isinstance(route, APIRoute) and takes_file(route) else self.request_max
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, bounded, send)
