"""HTTP and websocket endpoints: /healthz for load balancers, the agent desktop, operator endpoints.

Every route has an entry in ACCESS, checked by one middleware before any handler runs: a route
without an entry answers 403, so a new endpoint cannot skip authentication by being forgotten.
Only /healthz, the login page, the pages' static files and, when http.caller_page is on, the
caller page (/try) are public. People log in with their web password (argon2, see `threadline
agents passwd`) and get an HttpOnly, SameSite=Strict session cookie; operators' scripts may use the admin bearer token where the table allows it.

A session is checked on every request and every websocket message: it ends (and its open pages
are closed with code 4401) at logout, at its 12 h expiry, and as soon as the person's roles or
password change in the agents' files. State changes must come from our own pages
(engine/web/request_policy.py); failed logins are limited per id and per client address
(engine/web/login_limiter.py), with at most HASH_CONCURRENCY password hashes at a time.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError

from engine import metrics
from engine.acd.contact_metrics import FORMULAS
from engine.acd.historical_report import BY, INTERVALS
from engine.acd.refusal import Refusal
from engine.api.api_auth import api_guarded
from engine.api.api_routes import add_api_routes
from engine.acd.report_commands import ReportPeriodInvalid, as_csv, period
from engine.health import HealthBoard
from engine.settings import HttpSettings
from engine.chat.chat_service import ChatService
from engine.web.caller_page import CallerLine, add_caller_page_routes
from engine.web.chat_routes import add_chat_routes
from engine.web.desktop_hub import DesktopHub
from engine.web.desktop_protocol import AGENT_PAGE, PROTOCOL_VERSION, ExtendWrapUp, SecureEntry, SetAgentState, Transfer, WrapUp, error, problem, schema
from engine.web.page_language import LANGUAGE_COOKIE, LANGUAGE_NAMES, page_language
from engine.web.phone_gateway import SUPERVISOR_PAGE, OpenRelays, PhoneGateway, config_answer, in_call, open_page_socket, phone_reader, relay_sip, sipjs_answer
from engine.web.sip_relay_policy import AGENT_METHODS, RelayRules
from engine.web.monitor_routes import MonitorDesk, add_monitor_routes
from engine.web.web_vendor import chartjs_answer
from engine.web.qa_routes import QaDesk, add_qa_routes
from engine.store.monitoring_store import MonitoringStep
from engine.web.request_policy import BODY_TIMEOUT_S, add_security_headers, forwarded_middleware, is_local_host, no_tracebacks, refuse_cross_origin_socket, safe_next, same_origin_writes, trusted_networks
from engine.web.session_gate import SESSION_ENDED, SessionGate
from engine.web.sessions import SESSION_COOKIE, SESSION_TTL_S, Principal, Sessions

if TYPE_CHECKING:
    from engine.api.api_service import JourneyApi
    from engine.call.flow_services import ReloadResult

log = logging.getLogger(__name__)
StatusSource = Callable[[], dict[str, Any]]
Reports = Callable[[datetime, datetime, str, str], Awaitable[list[dict[str, Any]]]]
"""(start, end, interval, by) -> report rows (engine/acd/report_commands.py)."""
Reload = Callable[[str], Awaitable["ReloadResult"]]
STATIC = Path(__file__).with_name("static")
MESSAGE_CATALOGUES = frozenset(path.name for path in (STATIC / "messages").glob("*.json"))
"""The pages' catalogues (engine/web/static/messages): only these are served from that folder."""
EVERYONE = frozenset({"agent", "supervisor", "qa", "admin"})
SUPERVISORS = frozenset({"supervisor", "admin"})
MAX_WS_MESSAGE = 4096
MAX_WS_RATE = 20
"""Messages a page may send per second; more is a flood and closes that socket (never the engine)."""
LOOPBACK = frozenset({"127.0.0.1", "::1"})
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-IP")
HASH_CONCURRENCY = 2
"""Password hashes (argon2, ~50 MB and most of a core each) running at once; more logins wait."""
HASH_WAIT_S = 10.0
SWEEP_S = 1.0
"""How often sessions are checked against the agents' files, and ended sessions' pages closed."""
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
    api_scope: str = ""
    """A Journey API route: only an API token with this scope opens it (engine/api/api_auth.py)."""


ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): Access(public=True),
    ("GET", "/login"): Access(public=True, page=True),
    ("POST", "/login"): Access(public=True),
    ("GET", "/static/{name}"): Access(public=True),
    # Pages' text in the reader's language (engine/web/page_language.py): public, the login page needs it.
    ("GET", "/language"): Access(public=True),
    ("GET", "/static/messages/{name}"): Access(public=True),
    ("POST", "/logout"): Access(EVERYONE),
    ("GET", "/"): Access(EVERYONE, page=True),
    ("GET", "/agent"): Access(frozenset({"agent"}), page=True),
    ("GET", "/ws"): Access(frozenset({"agent"})),
    # The browser phone (engine/web/phone_gateway.py): its login, and SIP relayed to Asterisk.
    # Supervisors have it too: the supervisor page's phone takes their monitoring calls (the same endpoint, the same relay rules).
    ("GET", "/phone/config"): Access(frozenset({"agent"}) | SUPERVISORS),
    ("GET", "/phone/sip"): Access(frozenset({"agent"}) | SUPERVISORS),
    ("GET", "/static/vendor/sip.js/{path}"): Access(public=True),
    # Chart.js for the supervisor's wallboard and the reports' charts (engine/web/web_vendor.py).
    ("GET", "/static/vendor/chart.js/{path}"): Access(public=True),
    # The caller page (engine/web/caller_page.py), only when http.caller_page is on: public, like a phone number.
    ("GET", "/try"): Access(public=True, page=True),
    ("GET", "/try/config"): Access(public=True),
    ("GET", "/try/sip"): Access(public=True),
    # The customer web chat (engine/web/chat_routes.py), only when chat.enabled is on: public, like a published number.
    ("GET", "/chat"): Access(public=True, page=True),
    ("POST", "/chat/session"): Access(public=True),
    ("OPTIONS", "/chat/session"): Access(public=True),
    ("GET", "/chat/ws"): Access(public=True),
    ("GET", "/chat/embed.js"): Access(public=True),
    ("GET", "/supervisor"): Access(SUPERVISORS, page=True),
    ("GET", "/ws/supervisor"): Access(SUPERVISORS),
    # Monitoring agents' calls (engine/web/monitor_routes.py): listen, whisper, barge, stop, the audit.
    ("GET", "/monitor"): Access(SUPERVISORS),
    ("POST", "/monitor"): Access(SUPERVISORS),
    ("POST", "/monitor/stop"): Access(SUPERVISORS),
    ("GET", "/monitor/audit"): Access(SUPERVISORS, admin_token=True),
    ("GET", "/protocol"): Access(EVERYONE),
    ("GET", "/status"): Access(frozenset({"supervisor", "admin"}), admin_token=True),
    ("POST", "/flows/reload"): Access(frozenset({"admin"}), admin_token=True),
    ("GET", "/metrics"): Access(SUPERVISORS, admin_token=True, loopback=True),
    # The Journey API (engine/api/): API tokens with scopes, never sessions; its OpenAPI document is public (no data in it).
    ("GET", "/api/openapi.json"): Access(public=True),
    ("POST", "/api/v1/contacts"): Access(api_scope="journey:write"),
    ("GET", "/api/v1/contacts"): Access(api_scope="journey:read"),
    ("GET", "/api/v1/contacts/{contact_id}"): Access(api_scope="journey:read"),
    ("POST", "/api/v1/contacts/{contact_id}/events"): Access(api_scope="journey:write"),
    ("GET", "/api/v1/events"): Access(api_scope="journey:read"),
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
    password_versions: Callable[[], Mapping[str, str] | None] | None = None
    """Blocking (a file read): agent id -> a fingerprint of their password hash, or None when the file
    cannot be read now; a session whose fingerprint changed ends."""
    phone: PhoneGateway | None = None
    """Agents' browser phones: their login and the SIP relay to Asterisk; None: the page has no phone."""
    language_of: Callable[[str], str | None] = lambda _agent: None
    """Agent id -> their `language:` in the agents' file (ko, zh, en), or None."""
    monitor: MonitorDesk | None = None
    """Supervisors monitoring agents' calls; None: not offered."""
    monitoring_audit: Callable[[datetime, int], Awaitable[list[MonitoringStep]]] | None = None
    """The monitoring audit's rows since a time."""


def build_app(
    board: HealthBoard, status: StatusSource, reload: Reload | None = None, admin_token: str | None = None, desktop: Desktop | None = None,
    qa: QaDesk | None = None, reports: Reports | None = None, http: HttpSettings | None = None, caller_line: CallerLine | None = None,
    api: JourneyApi | None = None,
    chat: ChatService | None = None,
) -> web.Application:
    http = http or HttpSettings()
    sessions = desktop.sessions if desktop is not None else Sessions()
    gate = SessionGate(
        sessions, desktop.roles_of if desktop is not None else lambda _agent: None,
        desktop.check_password if desktop is not None else lambda _agent, _password: False,
        desktop.password_versions if desktop is not None else None, HASH_CONCURRENCY, HASH_WAIT_S,
    )

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
        if rule.api_scope:
            return await api_guarded(request, handler, rule.api_scope)
        if rule.public or (rule.loopback and _local_client(request, http.host)):
            return await handler(request)
        if rule.admin_token and admin_token is not None and _bearer_ok(request, admin_token):
            return await handler(request)
        principal = gate.current(request.cookies.get(SESSION_COOKIE))
        if principal is None:
            if rule.page:
                raise web.HTTPSeeOther(f"/login?next={quote(request.rel_url.path, safe='/')}")
            return web.json_response({"error": "log in first"}, status=401, headers={"WWW-Authenticate": 'Bearer realm="threadline"'})
        if not principal.roles & rule.roles:
            return web.json_response({"error": f"needs one of the roles: {', '.join(sorted(rule.roles))}"}, status=403)
        request[PRINCIPAL] = principal
        return await handler(request)

    middlewares = [no_tracebacks, forwarded_middleware(trusted_networks(http.trusted_proxies)), same_origin_writes, access_control]
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024)
    app.on_response_prepare.append(add_security_headers)

    async def session_sweeps(_app: web.Application) -> AsyncIterator[None]:
        gate.start_sweeps(SWEEP_S)
        yield
        await gate.close()  # the sweeps and page closings are cancelled and awaited

    app.cleanup_ctx.append(session_sweeps)

    relays = OpenRelays()

    async def close_pages(_app: web.Application) -> None:
        """Before the server waits for its handlers: the open pages and phone relays end now, not at its timeout."""
        if desktop is not None:
            await desktop.hub.close()
        await relays.close_all()

    app.on_shutdown.append(close_pages)

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
        form = await _form(request)
        agent_id, password = str(form.get("agent", "")).strip()[:64], str(form.get("password", ""))[:1024]
        if not agent_id or not password:
            return web.json_response({"error": "agent and password: both are needed"}, status=422)
        outcome = await gate.log_in(agent_id, password, request.remote or "")
        if outcome.status == 429:
            return web.json_response({"error": "too many failed logins; wait a minute"}, status=429, headers={"Retry-After": "60"})
        if outcome.status == 503:
            return web.json_response({"error": "too many logins at once; try again in a moment"}, status=503, headers={"Retry-After": "5"})
        if outcome.status != 200:
            return web.json_response({"error": "wrong agent id or password"}, status=401)
        wanted = safe_next(str(form.get("next", "")))
        response = web.json_response({"ok": True, "agent": agent_id, "roles": sorted(outcome.roles), "next": wanted or _landing(outcome.roles)})
        response.set_cookie(SESSION_COOKIE, outcome.token, max_age=SESSION_TTL_S, httponly=True, samesite="Strict", secure=request.secure, path="/")
        return response

    async def logout(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        if desktop is not None and desktop.log_out_with_page and "agent" in principal.roles:
            desktop.agent_action(principal.agent_id, "logged_out", "")
        gate.end([request.cookies.get(SESSION_COOKIE, "")], "you logged out")
        response = web.json_response({"ok": True})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def home(request: web.Request) -> web.Response:
        raise web.HTTPSeeOther(_landing(request[PRINCIPAL].roles))

    async def agent_page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "agent.html")

    async def static_file(request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        if name not in {"agent.js", "phone.js", "try.js", "desktop.css", "agent.css", "login.js", "supervisor.js", "qa.js", "reports.js", "i18n.js", "charts.js", "monitor.js", "chat.js", "chat.css"}:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name)

    async def messages(request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        if name not in MESSAGE_CATALOGUES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / "messages" / name, headers={"Content-Type": "application/json; charset=utf-8"})

    async def language(request: web.Request) -> web.Response:
        principal = gate.current(request.cookies.get(SESSION_COOKIE))
        setting = desktop.language_of(principal.agent_id) if desktop is not None and principal is not None else None
        chosen = page_language(request.cookies.get(LANGUAGE_COOKIE), setting, request.headers.get("Accept-Language"))
        return web.json_response({"language": chosen, "languages": LANGUAGE_NAMES}, headers={"Cache-Control": "no-store"})

    async def supervisor_page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "supervisor.html")

    async def protocol(_request: web.Request) -> web.Response:
        return web.json_response(schema())

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        token = request.cookies.get(SESSION_COOKIE, "")
        socket = await _open_socket(request, compress=False)  # agents' messages are small and agents many
        if desktop is None:
            await socket.close()
            return socket
        agent_id = request[PRINCIPAL].agent_id
        if not gate.attach(token, socket):
            await gate.close_page(socket, SESSION_ENDED, "your session ended; log in again")
            return socket
        try:  # attach inside: a failing attach still detaches the page
            await desktop.hub.attach(agent_id, socket)
            await _serve_page(socket, lambda: gate.current(token), lambda principal, raw: _page_message(principal, raw, desktop))
        finally:
            desktop.hub.detach(agent_id, socket)
            gate.detach(token, socket)
        return socket

    async def phone_config(request: web.Request) -> web.Response:
        if desktop is None or desktop.phone is None:
            return web.json_response({"error": "browser phones are not set up on this engine", "code": "phone_not_set_up"}, status=404)
        if request.query.get("for") == SUPERVISOR_PAGE and not request[PRINCIPAL].roles & SUPERVISORS:
            return web.json_response({"error": "for: the supervisor page's phone is for supervisors"}, status=403)
        return await config_answer(request, desktop.phone, request[PRINCIPAL].agent_id)

    async def phone_relay(request: web.Request) -> web.WebSocketResponse:
        """The agent's SIP relay lives only as long as their session (logging out closes it), one per
        agent (a newer tab closes the older, or is refused while the agent rings or talks), and speaks
        only as the agent's own browser phone. `?for=supervisor`: the supervisor page's phone (its
        own endpoint, one per supervisor beside the agent page's, never a queue call's phone)."""
        if desktop is None or desktop.phone is None:
            raise web.HTTPNotFound(text="browser phones are not set up on this engine")
        agent_id = request[PRINCIPAL].agent_id
        reader, _ = phone_reader(desktop.phone, request)
        supervisor_page = request.query.get("for") == SUPERVISOR_PAGE
        if supervisor_page and not request[PRINCIPAL].roles & SUPERVISORS:
            raise web.HTTPForbidden(text="for: the supervisor page's phone is for supervisors")
        phone = await asyncio.to_thread(reader, agent_id) if reader is not None else None
        if phone is None:
            raise web.HTTPNotFound(text="no browser phone for you yet: an administrator runs `threadline agents provision`")
        token = request.cookies.get(SESSION_COOKIE, "")
        page = await open_page_socket(request)
        if not gate.attach(token, page):
            await gate.close_page(page, SESSION_ENDED, "your session ended; log in again")
            return page
        relay_key = f"{agent_id}#{SUPERVISOR_PAGE}" if supervisor_page else agent_id
        try:
            if await relays.open(page, relay_key, in_call=not supervisor_page and in_call(desktop.agent_state(agent_id))):
                await relay_sip(page, desktop.phone.asterisk_ws_url, relay_key, RelayRules(phone.sip_user, AGENT_METHODS))
        finally:
            relays.closed(page, relay_key)
            gate.detach(token, page)
        return page

    async def supervisor_socket(request: web.Request) -> web.WebSocketResponse:
        token = request.cookies.get(SESSION_COOKIE, "")
        socket = await _open_socket(request)
        if desktop is None:
            await socket.close()
            return socket
        if not gate.attach(token, socket):
            await gate.close_page(socket, SESSION_ENDED, "your session ended; log in again")
            return socket
        try:  # attach inside: a failing attach still detaches the page
            await desktop.hub.attach_supervisor(socket)
            await _serve_page(socket, lambda: gate.current(token), lambda principal, raw: _supervisor_message(principal, raw, desktop))
        finally:
            desktop.hub.detach_supervisor(socket)
            gate.detach(token, socket)
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
        for field, value, allowed in (("interval", interval, tuple(INTERVALS)), ("by", by, BY), ("format", kind, ("json", "csv"))):
            if value not in allowed:
                return web.json_response({"error": f"{field}: one of {', '.join(allowed)} (got {value[:40]!r})", "field": field}, status=422)
        try:
            start, end = period(query.get("from") or None, query.get("to") or None, interval)
        except ReportPeriodInvalid as exc:
            return web.json_response({"error": str(exc), "field": exc.field}, status=422)
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
    app.router.add_get("/static/messages/{name}", messages)
    app.router.add_get("/language", language)
    app.router.add_get("/protocol", protocol)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/phone/config", phone_config)
    app.router.add_get("/phone/sip", phone_relay)
    app.router.add_get("/static/vendor/sip.js/{path:.+}", sipjs_answer)
    app.router.add_get("/static/vendor/chart.js/{path:.+}", chartjs_answer)
    app.router.add_get("/supervisor", supervisor_page)
    app.router.add_get("/ws/supervisor", supervisor_socket)
    if qa is not None:
        add_qa_routes(app, qa, lambda request: request[PRINCIPAL])
    add_monitor_routes(app, desktop.monitor if desktop is not None else None, desktop.monitoring_audit if desktop is not None else None, lambda request: request[PRINCIPAL])
    if caller_line is not None:
        add_caller_page_routes(app, caller_line, relays)
    add_api_routes(app, api)
    if chat is not None:
        add_chat_routes(app, chat)
    return app


def _local_client(request: web.Request, configured_host: str) -> bool:
    """A client on this machine, talking to this machine by name: not relayed by a proxy, and not a
    page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding sends its own Host)."""
    if request.remote not in LOOPBACK or any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    return is_local_host(request.host, configured_host)


async def _form(request: web.Request) -> Mapping[str, Any]:
    """A posted form, within BODY_TIMEOUT_S; a trickle is 408 and a malformed body 400."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            return await request.post()
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=f"the form did not arrive within {BODY_TIMEOUT_S:.0f} s") from None
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        raise web.HTTPBadRequest(text=f"send a form (application/x-www-form-urlencoded or multipart/form-data): {exc}") from None


async def _open_socket(request: web.Request, compress: bool = True) -> web.WebSocketResponse:
    """compress=False declines the browser's permessage-deflate: each page's compressor costs the server
    about 200 KB and a deflate of every message (measured with bench/pop.py at 2,000 agent pages)."""
    refuse_cross_origin_socket(request)
    socket = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE, heartbeat=20, compress=compress)
    await socket.prepare(request)
    return socket


async def _serve_page(
    socket: web.WebSocketResponse, current: Callable[[], Principal | None], answer: Callable[[Principal, str], Awaitable[dict[str, Any] | None]],
) -> None:
    """A page's messages, each answered for the session as it is now (an ended session closes the
    page); a flood closes that socket (oversized frames are refused by aiohttp)."""
    sent: deque[float] = deque()
    async for message in socket:
        now = time.monotonic()
        sent.append(now)
        while sent and sent[0] < now - 1.0:
            sent.popleft()
        if len(sent) > MAX_WS_RATE:
            await socket.close(code=1008, message=b"too many messages")
            break
        principal = current()
        if principal is None:
            await socket.close(code=SESSION_ENDED, message=b"your session ended; log in again")
            break
        if message.type == WSMsgType.TEXT:
            try:
                reply = await answer(principal, message.data)
            except Exception:  # a bug behind one message: the page gets a reference, never a traceback, and stays open
                reference = secrets.token_hex(4)
                log.exception("internal error %s answering %s's page", reference, principal.agent_id)
                reply = error(f"internal error (reference {reference} in the engine log)", "internal_error")
            if reply is not None:
                await socket.send_json(reply)


async def _supervisor_message(principal: Principal, raw: str, desktop: Desktop) -> dict[str, Any] | None:
    """A supervisor sets an agent's state (e.g. logs out a forgotten agent)."""
    try:
        message = SetAgentState.model_validate_json(raw)
    except ValueError as exc:
        return error(problem(exc, tagged=False), "invalid_message")
    failed = desktop.supervise(principal.agent_id, message.agent, message.status, message.reason or ("supervisor" if message.status == "paused" else ""))
    if failed is not None:
        return error(failed, "set_state_refused")
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
        return error(problem(exc), "invalid_message")
    agent = principal.agent_id
    if isinstance(message, WrapUp):
        failed = await desktop.wrap_up(agent, message.call_id, message.disposition, message.notes)
        return error(failed, "wrap_up_refused") if failed is not None else {"v": PROTOCOL_VERSION, "type": "wrap_up_saved", "call_id": message.call_id}
    if isinstance(message, ExtendWrapUp):
        failed = desktop.extend_wrap_up(agent, message.seconds) if desktop.extend_wrap_up is not None else Refusal("not_available", "wrap-up cannot be extended here")
        return error(failed, "extend_wrap_up_refused") if failed is not None else None
    if isinstance(message, Transfer):
        failed = await desktop.transfer(agent, message.call_id, message.to) if desktop.transfer is not None else Refusal("not_available", "transfers are not available")
        return error(failed, "transfer_refused") if failed is not None else {"v": PROTOCOL_VERSION, "type": "transfer_started", "call_id": message.call_id, "to": message.to}
    if isinstance(message, SecureEntry):
        failed = await desktop.secure_entry(agent, message.call_id) if desktop.secure_entry is not None else Refusal("not_available", "secure entry is not available")
        return error(failed, "secure_entry_refused") if failed is not None else {"v": PROTOCOL_VERSION, "type": "secure_entry_started", "call_id": message.call_id}
    desktop.agent_action(agent, message.status, message.reason or ("break" if message.status == "paused" else ""))
    return None
