"""HTTP and websocket endpoints: /healthz for load balancers, the agent desktop, operator endpoints.

Every route has an entry in ACCESS, checked by one middleware before any handler runs: a route
without an entry answers 403, so a new endpoint cannot skip authentication by being forgotten.
Only /healthz, the login page and the page's static files are public. People log in with their
web password (argon2, see `threadline agents passwd`) and get an HttpOnly, SameSite=Strict session
cookie; operators' scripts may use the admin bearer token where the table allows it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from engine import metrics
from engine.acd.contact_metrics import FORMULAS
from engine.acd.historical_report import INTERVALS
from engine.acd.report_commands import as_csv, period
from engine.health import HealthBoard
from engine.web.desktop_hub import DesktopHub
from engine.web.desktop_protocol import AGENT_PAGE, PROTOCOL_VERSION, ExtendWrapUp, SecureEntry, SetAgentState, Transfer, WrapUp, error, problem, schema
from engine.web.qa_routes import QaDesk, add_qa_routes
from engine.web.sessions import SESSION_COOKIE, SESSION_TTL_S, Principal, Sessions

if TYPE_CHECKING:
    from engine.flows.flow_runtime import ReloadResult

log = logging.getLogger(__name__)
StatusSource = Callable[[], dict[str, Any]]
Reports = Callable[[datetime, datetime, str, str], Awaitable[list[dict[str, Any]]]]
"""(start, end, interval, by) -> report rows (engine/acd/report_commands.py)."""
Reload = Callable[[str], Awaitable["ReloadResult"]]
STATIC = Path(__file__).with_name("static")
EVERYONE = frozenset({"agent", "supervisor", "qa", "admin"})
SUPERVISORS = frozenset({"supervisor", "admin"})
MAX_WS_MESSAGE = 4096
MAX_WS_RATE = 20
"""Messages a page may send per second; more is a flood and closes that socket (never the engine)."""
LOGIN_FAILURES_PER_MINUTE = 10
LOOPBACK = frozenset({"127.0.0.1", "::1"})
PRINCIPAL = web.RequestKey("principal", Principal)


@dataclass(frozen=True)
class Access:
    roles: frozenset[str] = frozenset()
    public: bool = False
    admin_token: bool = False
    """The operator bearer token (http.admin_token) is accepted too."""
    page: bool = False
    """A browser page: strangers are sent to the login page instead of getting 401."""
    loopback: bool = False
    """Open to clients on this machine (a local Prometheus) without logging in."""


ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): Access(public=True),
    ("GET", "/login"): Access(public=True, page=True),
    ("POST", "/login"): Access(public=True),
    ("GET", "/static/{name}"): Access(public=True),
    ("POST", "/logout"): Access(EVERYONE),
    ("GET", "/"): Access(EVERYONE, page=True),
    ("GET", "/agent"): Access(frozenset({"agent", "supervisor"}), page=True),
    ("GET", "/ws"): Access(EVERYONE),
    ("GET", "/supervisor"): Access(SUPERVISORS, page=True),
    ("GET", "/ws/supervisor"): Access(SUPERVISORS),
    ("GET", "/protocol"): Access(EVERYONE),
    ("GET", "/status"): Access(frozenset({"supervisor", "admin"}), admin_token=True),
    ("POST", "/flows/reload"): Access(frozenset({"admin"}), admin_token=True),
    ("GET", "/metrics"): Access(SUPERVISORS, admin_token=True, loopback=True),
    ("GET", "/reports"): Access(SUPERVISORS, page=True),
    ("GET", "/reports/data"): Access(SUPERVISORS, admin_token=True),
    # QA review (engine/web/qa_routes.py): agents see only their own calls and scores there.
    ("GET", "/qa"): Access(EVERYONE, page=True),
    ("GET", "/qa/calls"): Access(EVERYONE),
    ("GET", "/qa/scores"): Access(EVERYONE),
    ("GET", "/qa/recordings/{recording_id}"): Access(EVERYONE),
    ("GET", "/qa/recordings/{recording_id}/audio"): Access(EVERYONE),
    ("POST", "/qa/recordings/{recording_id}/scores"): Access(frozenset({"qa", "supervisor", "admin"})),
}


@dataclass
class Desktop:
    """What the agent desktop needs from the engine."""

    sessions: Sessions
    hub: DesktopHub
    roles_of: Callable[[str], frozenset[str] | None]
    """Agent id -> roles, or None for no such agent (from ivr_flows/agents)."""
    check_password: Callable[[str, str], bool]
    """Blocking (argon2): called in a thread."""
    agent_state: Callable[[str], dict[str, Any] | None]
    agent_action: Callable[[str, str, str], None]
    wrap_up: Callable[[str, str, str, str], Awaitable[str | None]]
    """(agent, call id, disposition, notes) -> an error for the agent, or None when saved."""
    supervise: Callable[[str, str, str, str], str | None] = lambda _by, _agent, _status, _reason: "no agents are configured"
    """(supervisor, agent, status, reason) -> an error, or None once the agent's state is set."""
    transfer: Callable[[str, str, str], Awaitable[str | None]] | None = None
    """(agent, call id, `queue:NAME` or `agent:ID`) -> an error for the agent, or None once started."""
    extend_wrap_up: Callable[[str, float], str | None] | None = None
    """(agent, seconds) -> an error, or None once the agent's wrap-up runs longer."""
    log_out_with_page: bool = False
    """acd.login = desktop: logging out of the page logs the agent out of the queues too."""
    secure_entry: Callable[[str, str], Awaitable[str | None]] | None = None
    """(agent, call id) -> an error for the agent, or None once the caller is in the secure-entry flow."""


def build_app(
    board: HealthBoard, status: StatusSource, reload: Reload | None = None, admin_token: str | None = None, desktop: Desktop | None = None,
    qa: QaDesk | None = None, reports: Reports | None = None,
) -> web.Application:
    sessions = desktop.sessions if desktop is not None else Sessions()
    failures: deque[float] = deque()

    @web.middleware
    async def access_control(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        route = request.match_info.route
        canonical = route.resource.canonical if route.resource is not None else ""
        method = "GET" if request.method == "HEAD" else request.method
        rule = ACCESS.get((method, canonical))
        if rule is None:
            if isinstance(request.match_info.http_exception, web.HTTPException):
                raise request.match_info.http_exception  # 404/405 for what does not exist
            return web.json_response({"error": "this endpoint has no access rule"}, status=403)
        if rule.public or (rule.loopback and request.remote in LOOPBACK and "X-Forwarded-For" not in request.headers):
            return await handler(request)
        if rule.admin_token and admin_token is not None and _bearer_ok(request, admin_token):
            return await handler(request)
        principal = sessions.get(request.cookies.get(SESSION_COOKIE))
        if principal is None:
            if rule.page:
                raise web.HTTPSeeOther(f"/login?next={request.path}")
            return web.json_response({"error": "log in first"}, status=401, headers={"WWW-Authenticate": 'Bearer realm="threadline"'})
        if not principal.roles & rule.roles:
            return web.json_response({"error": f"needs one of the roles: {', '.join(sorted(rule.roles))}"}, status=403)
        request[PRINCIPAL] = principal
        return await handler(request)

    app = web.Application(middlewares=[access_control], client_max_size=64 * 1024)

    async def healthz(_request: web.Request) -> web.Response:
        healthy = board.healthy
        body = {
            "status": "ok" if healthy else "degraded",
            "components": {name: {"ok": s.ok, "detail": s.detail} for name, s in board.snapshot().items()},
        }
        return web.json_response(body, status=200 if healthy else 503)

    async def status_page(_request: web.Request) -> web.Response:
        now = time.time()
        components = {
            name: {"ok": s.ok, "detail": s.detail, "for_s": round(now - s.since, 1) if s.since else None}
            for name, s in board.snapshot().items()
        }
        return web.json_response({"healthy": board.healthy, "components": components, **status()})

    async def reload_flows(_request: web.Request) -> web.Response:
        """Operators: validate ivr_flows/ and swap it in if everything is right (calls in progress keep theirs)."""
        if reload is None:
            return web.json_response({"error": "no flow runs inbound calls (flows.inbound is unset)"}, status=409)
        result = await reload("POST /flows/reload")
        body = {"ok": result.ok, "problems": list(result.problems), "versions": dict(result.versions)}
        return web.json_response(body, status=200 if result.ok else 422)

    async def login_page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "login.html")

    async def login(request: web.Request) -> web.Response:
        if desktop is None:
            return web.json_response({"error": "no agents are configured"}, status=404)
        now = time.monotonic()
        while failures and failures[0] < now - 60:
            failures.popleft()
        if len(failures) >= LOGIN_FAILURES_PER_MINUTE:
            return web.json_response({"error": "too many failed logins; wait a minute"}, status=429)
        form = await request.post()
        agent_id, password = str(form.get("agent", "")).strip(), str(form.get("password", ""))
        roles = desktop.roles_of(agent_id) if agent_id else None
        ok = await asyncio.to_thread(desktop.check_password, agent_id, password) if roles else False
        if not ok or roles is None:
            failures.append(now)
            return web.json_response({"error": "wrong agent id or password"}, status=401)
        response = web.json_response({"ok": True, "agent": agent_id, "roles": sorted(roles), "next": _landing(roles)})
        response.set_cookie(SESSION_COOKIE, sessions.open(agent_id, roles), max_age=SESSION_TTL_S, httponly=True, samesite="Strict", secure=request.secure, path="/")
        return response

    async def logout(request: web.Request) -> web.Response:
        principal = sessions.get(request.cookies.get(SESSION_COOKIE))
        if desktop is not None and desktop.log_out_with_page and principal is not None and "agent" in principal.roles:
            desktop.agent_action(principal.agent_id, "logged_out", "")
        sessions.close(request.cookies.get(SESSION_COOKIE))
        response = web.json_response({"ok": True})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def home(_request: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/agent")

    async def agent_page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "agent.html")

    async def static_file(request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        if name not in {"agent.js", "desktop.css", "login.js", "supervisor.js", "qa.js", "reports.js"}:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name)

    async def supervisor_page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "supervisor.html")

    async def protocol(_request: web.Request) -> web.Response:
        return web.json_response(schema())

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        principal = request[PRINCIPAL]
        socket = await _open_socket(request)
        if desktop is None:
            await socket.close()
            return socket
        await desktop.hub.attach(principal.agent_id, socket)
        try:
            await _serve_page(socket, lambda raw: _page_message(principal, raw, desktop))
        finally:
            desktop.hub.detach(principal.agent_id, socket)
        return socket

    async def supervisor_socket(request: web.Request) -> web.WebSocketResponse:
        principal = request[PRINCIPAL]
        socket = await _open_socket(request)
        if desktop is None:
            await socket.close()
            return socket
        await desktop.hub.attach_supervisor(socket)
        try:
            await _serve_page(socket, lambda raw: _supervisor_message(principal, raw, desktop))
        finally:
            desktop.hub.detach_supervisor(socket)
        return socket

    async def prometheus(_request: web.Request) -> web.Response:
        body = await asyncio.to_thread(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def reports_page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "reports.html")

    async def reports_data(request: web.Request) -> web.Response:
        if reports is None:
            return web.json_response({"error": "reports need the database"}, status=503)
        query = request.query
        interval, by, kind = query.get("interval", "hour"), query.get("by", "queue"), query.get("format", "json")
        if interval not in INTERVALS or by not in ("queue", "agent") or kind not in ("json", "csv"):
            return web.json_response({"error": f"interval: one of {', '.join(INTERVALS)}; by: queue or agent; format: json or csv"}, status=422)
        try:
            start, end = period(query.get("from") or None, query.get("to") or None)
        except ValueError as exc:
            return web.json_response({"error": f"from/to: {exc} (dates are YYYY-MM-DD)"}, status=422)
        rows = await reports(start, end, interval, by)
        if kind == "csv":
            return web.Response(text=as_csv(rows), content_type="text/csv", headers={"Content-Disposition": f'attachment; filename="threadline-{by}-{interval}.csv"'})
        return web.json_response({"from": start.isoformat(), "to": end.isoformat(), "interval": interval, "by": by, "rows": rows, "formulas": FORMULAS})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/reports", reports_page)
    app.router.add_get("/reports/data", reports_data)
    app.router.add_get("/status", status_page)
    app.router.add_post("/flows/reload", reload_flows)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", home)
    app.router.add_get("/agent", agent_page)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/protocol", protocol)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/supervisor", supervisor_page)
    app.router.add_get("/ws/supervisor", supervisor_socket)
    if qa is not None:
        add_qa_routes(app, qa, lambda request: request[PRINCIPAL])
    return app


async def _open_socket(request: web.Request) -> web.WebSocketResponse:
    """Same-origin pages only: a page elsewhere cannot ride on the session cookie."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden(text="cross-origin websocket refused")
    socket = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE, heartbeat=20)
    await socket.prepare(request)
    return socket


async def _serve_page(socket: web.WebSocketResponse, answer: Callable[[str], Awaitable[dict[str, Any] | None]]) -> None:
    """A page's messages, each answered; a flood closes that socket (oversized frames are refused by aiohttp)."""
    sent: deque[float] = deque()
    async for message in socket:
        now = time.monotonic()
        sent.append(now)
        while sent and sent[0] < now - 1.0:
            sent.popleft()
        if len(sent) > MAX_WS_RATE:
            await socket.close(code=1008, message=b"too many messages")
            break
        if message.type == WSMsgType.TEXT:
            reply = await answer(message.data)
            if reply is not None:
                await socket.send_json(reply)


async def _supervisor_message(principal: Principal, raw: str, desktop: Desktop) -> dict[str, Any] | None:
    """A supervisor sets an agent's state (e.g. logs out a forgotten agent)."""
    try:
        message = SetAgentState.model_validate_json(raw)
    except ValueError as exc:
        return error(problem(exc, tagged=False))
    failed = desktop.supervise(principal.agent_id, message.agent, message.status, message.reason or ("supervisor" if message.status == "paused" else ""))
    if failed is not None:
        return error(failed)
    return {"v": PROTOCOL_VERSION, "type": "agent_state_set", "agent": message.agent, "status": message.status}


def _landing(roles: frozenset[str]) -> str:
    """Where a login goes by default: agents to their desktop, supervisors to the floor, QA staff to reviews."""
    if "agent" in roles:
        return "/agent"
    if roles & SUPERVISORS:
        return "/supervisor"
    return "/qa" if "qa" in roles else "/agent"


def _bearer_ok(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given.removeprefix("Bearer ").encode(), token.encode())


async def _page_message(principal: Principal, raw: str, desktop: Desktop) -> dict[str, Any] | None:
    """One message from an agent's page; anything malformed gets an error message naming the field, never an exception."""
    try:
        message = AGENT_PAGE.validate_json(raw)
    except ValueError as exc:
        return error(problem(exc))
    agent = principal.agent_id
    if isinstance(message, WrapUp):
        failed = await desktop.wrap_up(agent, message.call_id, message.disposition, message.notes)
        return error(failed) if failed is not None else {"v": PROTOCOL_VERSION, "type": "wrap_up_saved", "call_id": message.call_id}
    if isinstance(message, ExtendWrapUp):
        failed = desktop.extend_wrap_up(agent, message.seconds) if desktop.extend_wrap_up is not None else "wrap-up cannot be extended here"
        return error(failed) if failed is not None else None
    if isinstance(message, Transfer):
        failed = await desktop.transfer(agent, message.call_id, message.to) if desktop.transfer is not None else "transfers are not available"
        return error(failed) if failed is not None else {"v": PROTOCOL_VERSION, "type": "transfer_started", "call_id": message.call_id, "to": message.to}
    if isinstance(message, SecureEntry):
        failed = await desktop.secure_entry(agent, message.call_id) if desktop.secure_entry is not None else "secure entry is not available"
        return error(failed) if failed is not None else {"v": PROTOCOL_VERSION, "type": "secure_entry_started", "call_id": message.call_id}
    desktop.agent_action(agent, message.status, message.reason or ("break" if message.status == "paused" else ""))
    return None
