"""Who the client is and how it reached us, and the headers every response carries.

* The client address (login throttle, audit) is the TCP peer. ``X-Forwarded-For`` / ``X-Forwarded-Proto``
  are believed only when the peer is one of ``EMC_TRUSTED_PROXIES``; then the address is the right-most
  entry that is not itself a trusted proxy (the left part of the header is whatever the client wrote).
* The session cookie is ``Secure`` whenever the request came over HTTPS (or ``EMC_COOKIE_SECURE`` is set).
* Frames are refused (``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``): approve and pay buttons
  cannot be clickjacked. The content security policy allows scripts only from /static (the vendored htmx
  and app.js; no inline script or handler), inline style attributes (htmx's indicator styles), and
  connections to this site only. The Swagger page needs its inline bootstrap script and gets that alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
       "frame-ancestors 'none'")
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"same-origin")]
SESSION_COOKIE = "emc_session"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(setting: str) -> tuple[Network, ...]:
    """``EMC_TRUSTED_PROXIES``: comma-separated addresses or networks ("10.0.0.5, 172.16.0.0/12")."""
    out = []
    for item in (p.strip() for p in setting.split(",")):
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(f"EMC_TRUSTED_PROXIES: {item!r} is not an IP address or network") from exc
    return tuple(out)


def _trusted(address: str, proxies: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "?"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


def client_address(scope: Scope, proxies: tuple[Network, ...]) -> str:
    peer = _peer(scope)
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in _header(scope, b"x-forwarded-for").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def is_https(scope: Scope, proxies: tuple[Network, ...]) -> bool:
    if scope.get("scheme") == "https":
        return True
    if proxies and _trusted(_peer(scope), proxies):
        return _header(scope, b"x-forwarded-proto").split(",")[0].strip().lower() == "https"
    return False


def request_client(request: Request) -> str:
    """The client address a route should log or throttle by."""
    return client_address(request.scope, request.app.state.trusted_proxies)


class SecurityHeaders:
    """Pure ASGI: adds the headers above and marks the session cookie Secure over HTTPS."""

    def __init__(self, app: ASGIApp, proxies: tuple[Network, ...], always_secure: bool) -> None:
        self.app, self.proxies, self.always_secure = app, proxies, always_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self.always_secure or is_https(scope, self.proxies)
        csp = DOCS_CSP if scope.get("path") == "/api/docs" else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = [h for h in message.get("headers", [])]
                names = {k.lower() for k, _ in headers}
                headers += [h for h in HEADERS if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", csp.encode()))
                if secure:
                    headers = [(k, v + b"; secure") if k.lower() == b"set-cookie"
                               and v.startswith(SESSION_COOKIE.encode() + b"=") and b"secure" not in v.lower()
                               else (k, v) for k, v in headers]
                    if b"strict-transport-security" not in names:
                        headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
