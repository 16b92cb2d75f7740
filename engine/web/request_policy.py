"""What every request and response must satisfy, whatever the route: who the client really is behind
a trusted TLS proxy, that state changes come from our own pages (Origin / Sec-Fetch-Site), the
security headers, where a login may send the browser next, and that no handler's failure reaches
a user as a traceback.

The decisions are pure functions (unit-tested); the middlewares at the bottom apply them.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PRIVATE_TYPES = ("application/json", "text/csv", "text/plain")
"""Answers that may carry callers' numbers and names: never stored by a browser or a proxy."""
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
BODY_TIMEOUT_S = 10.0
"""A request body (login form, QA score) must arrive within this; a trickle is answered 408."""
CROSS_ORIGIN_WRITES = web.AppKey("cross_origin_writes", dict[str, frozenset[str]])
"""Paths other sites may POST to from their pages (the chat's sessions), each with the origins allowed."""
CLIENT_SCHEME = web.RequestKey("client_scheme", str)
"""The scheme the client used, as a trusted proxy reports it. Kept on the request aiohttp received:
it prepares most answers (and runs on_response_prepare) with that one, not the forwarded clone."""


@dataclass(frozen=True)
class ClientView:
    """The request as the client made it: through a trusted proxy, its scheme, host and address."""

    scheme: str
    host: str
    remote: str


def trusted_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def is_trusted(address: str | None, trusted: tuple[Network, ...]) -> bool:
    if not address or not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_view(scheme: str, host: str, remote: str, headers: Mapping[str, str], trusted: tuple[Network, ...]) -> ClientView:
    """X-Forwarded-Proto/Host/For are believed only from a trusted proxy; the client is the right-most
    X-Forwarded-For address that is not itself a trusted proxy (the left part can be forged)."""
    if not is_trusted(remote, trusted):
        return ClientView(scheme, host, remote)
    forwarded_for = [part.strip() for part in headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    client = remote
    for address in reversed(forwarded_for):
        client = address
        if not is_trusted(address, trusted):
            break
    proto = headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    forwarded_host = headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    return ClientView(proto if proto in ("http", "https") else scheme, forwarded_host or host, client)


def cross_origin_refusal(method: str, headers: Mapping[str, str], own_origin: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """Why a state-changing request is refused as cross-origin, or None. Browsers send Sec-Fetch-Site
    and Origin with every POST; a script without either (curl, the admin token) is not a browser that
    a page elsewhere could drive. Same-site is not enough: another port on this host is same-site.
    `allowed`: origins whose pages may make this request (a route that is public anyway)."""
    if method in SAFE_METHODS or headers.get("Origin") in allowed:
        return None
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-origin request refused (Sec-Fetch-Site: {site})"
    origin = headers.get("Origin")
    if origin is not None and origin != own_origin:
        return f"cross-origin request refused: Origin {origin[:100]} is not {own_origin}"
    return None


def framed_page_policy(ancestors: tuple[str, ...]) -> str:
    """The pages' CSP for a page other sites may frame (the chat): only those sites, never any other."""
    allowed = " ".join(("'self'", *ancestors))
    return CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", f"frame-ancestors {allowed}")


def safe_next(value: str | None) -> str | None:
    """A path on this site to go to after login, or None (an absolute URL, `//host`, `/\\host`...)."""
    if not value or not value.startswith("/") or len(value) > 500:
        return None
    if value.startswith("//") or "\\" in value or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def is_local_host(host: str, configured: str) -> bool:
    """The Host header names this machine (DNS rebinding: evil.example resolving to 127.0.0.1 does not)."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:].split("]")[0]
    elif name.count(":") == 1:
        name = name.split(":")[0]
    return name in LOCAL_NAMES or (bool(configured) and name == configured.strip("[]").lower() and configured not in ("0.0.0.0", "::"))


def own_origin(request: web.BaseRequest) -> str:
    return f"{request.scheme}://{request.host}"


def refuse_cross_origin_socket(request: web.BaseRequest) -> None:
    """Websockets from our own pages only: a page elsewhere cannot ride on the session cookie
    (browsers send Origin with every websocket handshake; SameSite does not cover them all)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != own_origin(request):
        raise web.HTTPForbidden(text="cross-origin websocket refused")


# -- middlewares ---------------------------------------------------------------------------------


def forwarded_middleware(trusted: tuple[Network, ...]) -> Middleware:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if trusted and is_trusted(request.remote, trusted):
            view = client_view(request.scheme, request.host, request.remote or "", request.headers, trusted)
            request[CLIENT_SCHEME] = view.scheme  # before the clone, which copies it: both see the client's scheme
            request = request.clone(scheme=view.scheme, host=view.host, remote=view.remote)
        return await handler(request)

    return forwarded


@web.middleware
async def same_origin_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
    allowed = request.app.get(CROSS_ORIGIN_WRITES, {}).get(request.path, frozenset())
    refused = cross_origin_refusal(request.method, request.headers, own_origin(request), allowed)
    if refused is not None:
        log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote, refused)
        return web.json_response({"error": refused}, status=403)
    return await handler(request)


@web.middleware
async def no_tracebacks(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A handler's bug answers 500 with a reference to the log line, never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        reference = secrets.token_hex(4)
        log.exception("internal error %s on %s %s", reference, request.method, request.path[:200])
        return web.json_response({"error": f"internal error (reference {reference} in the engine log)"}, status=500)


async def add_security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    framed = "frame-ancestors 'none'" not in response.headers.get("Content-Security-Policy", "frame-ancestors 'none'")
    for name, value in SECURITY_HEADERS.items():
        if not (framed and name == "X-Frame-Options"):  # a page that sets its own frame-ancestors (the chat) may be framed there
            response.headers.setdefault(name, value)
    if response.content_type in PRIVATE_TYPES or response.status in (401, 403):
        response.headers.setdefault("Cache-Control", "no-store")
    if request.get(CLIENT_SCHEME, request.scheme) == "https":  # through a trusted proxy, the client's scheme
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
