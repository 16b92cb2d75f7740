"""The customer web chat over HTTP: the page, its sessions, its websocket and the script other sites embed.

Routes (each has its ACCESS entry in http_server.py, public like /try; only when chat.enabled is on):
- GET  /chat            the chat page; framed only by chat.allowed_origins (CSP frame-ancestors);
- POST /chat/session    a new chat: JSON {} or {"identity", "signature"} (a site's signed customer,
  engine/chat/chat_identity.py) -> {"token"}; CORS for chat.allowed_origins; a bad identity is 400
  naming the field, too many new chats from one address 429;
- GET  /chat/ws         the chat itself: the page's first message is {"type": "hello", "token"} (never
  the URL, which logs keep), with the site's "identity" and "signature" when the page has them (a
  chat opened for another customer is not resumed: 4404, and the page starts its own); then {"type": "text", "text"}, {"type": "reply", "index"},
  {"type": "callback", "number"} or {"type": "code"}; the engine sends turns (engine/chat/live_chat.py);
- GET  /chat/embed.js   the floating button and the iframe a site puts on its pages.
Bounded: frames of at most the chat's message size (bigger close the socket, 1009), a token bucket per
chat (a flood is answered `too_fast`, a long one closes the socket, 1008), pages per chat (another
closes with 4429), text shown as text by the page. The sweeps run supervised: a failure is logged and
they are restarted with back-off (engine/background_supervisor.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from engine import metrics
from engine.background_supervisor import BackgroundSupervisor
from engine.chat.chat_limits import client_key
from engine.chat.chat_service import ChatRefused, ChatService
from engine.chat.live_chat import LiveChat, page_error
from engine.settings import origin_of
from engine.task_owner import TaskOwner
from engine.web.request_policy import BODY_TIMEOUT_S, CROSS_ORIGIN_WRITES, framed_page_policy, refuse_cross_origin_socket

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
HELLO_WITHIN_S = 10.0
FLOOD_CLOSE_AFTER = 30
"""Messages refused in a row for speed before the socket is closed."""
MAX_NUMBER_CHARS = 32


def add_chat_routes(app: web.Application, service: ChatService) -> None:
    settings = service.settings
    origins = frozenset(settings.allowed_origins)
    writes: dict[str, frozenset[str]] = app[CROSS_ORIGIN_WRITES] if CROSS_ORIGIN_WRITES in app else {}
    app[CROSS_ORIGIN_WRITES] = {**writes, "/chat/session": origins}

    def cors(request: web.Request) -> dict[str, str]:
        origin = _origin(request.headers.get("Origin", ""))
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin in origins else {"Vary": "Origin"}

    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "chat.html", headers={"Content-Security-Policy": framed_page_policy(settings.allowed_origins)})

    async def embed(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "chat-embed.js", headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "max-age=300"})

    async def preflight(request: web.Request) -> web.Response:
        return web.Response(status=204, headers={**cors(request), "Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type",
                                                 "Access-Control-Max-Age": "600"})

    async def session(request: web.Request) -> web.Response:
        body = await _json_body(request)
        if isinstance(body, str):
            return web.json_response({"error": body, "field": "body"}, status=400, headers=cors(request))
        identity, signature = body.get("identity", ""), body.get("signature", "")
        if not isinstance(identity, str) or not isinstance(signature, str):
            return web.json_response({"error": "identity and signature: text", "field": "identity"}, status=400, headers=cors(request))
        try:
            token = await service.open(request.remote or "", identity, signature)
        except ChatRefused as refused:
            log.info("chat session refused for %s: %s", request.remote, refused)
            return web.json_response({"error": str(refused), "code": refused.code, "field": refused.field}, status=refused.status, headers=cors(request))
        return web.json_response({"token": token}, headers={**cors(request), "Cache-Control": "no-store"})

    open_pages: Counter[str] = Counter()
    """Chat pages connected now, per client (an IPv6 /64): bounded in all and per client, so public
    pages never take the connections agents' pages need (chat.max_open_pages)."""

    async def socket(request: web.Request) -> web.WebSocketResponse:
        refuse_cross_origin_socket(request)
        client = client_key(request.remote or "")
        ws = web.WebSocketResponse(max_msg_size=settings.max_message_chars * 6 + 256, heartbeat=20, compress=False)
        await ws.prepare(request)
        if open_pages.total() >= settings.max_open_pages or open_pages[client] >= settings.max_open_pages_per_client:
            await ws.send_json(page_error("chat_busy"))
            await ws.close(code=1013, message=b"too many chat pages open: try again soon")
            return ws
        open_pages[client] += 1
        try:
            return await _chat_socket(ws)
        finally:
            open_pages[client] -= 1
            if open_pages[client] <= 0:
                del open_pages[client]

    async def _chat_socket(ws: web.WebSocketResponse) -> web.WebSocketResponse:
        chat = await _hello(ws, service)
        if chat is None:
            return ws

        async def send(message: dict[str, Any]) -> None:
            await ws.send_json(message)

        hello = chat.attach(send)
        if hello is None:
            await ws.send_json(page_error("too_many_pages"))
            await ws.close(code=4429, message=b"this chat is open in too many pages")
            return ws
        try:
            await send(hello)
            await chat.later(await service.later_legs(chat))
            await _serve(ws, chat, settings.max_message_chars)
        finally:
            chat.detach(send)
        return ws

    async def run_sweeps(_app: web.Application) -> Any:
        owner = TaskOwner("chat")
        owner.spawn("chat-sweeps", _supervised(service))
        yield
        await owner.aclose()  # cancels the sweeps and awaits them
        await service.aclose()

    app.cleanup_ctx.append(run_sweeps)
    app.router.add_get("/chat", page)
    app.router.add_get("/chat/embed.js", embed)
    app.router.add_route("OPTIONS", "/chat/session", preflight)
    app.router.add_post("/chat/session", session)
    app.router.add_get("/chat/ws", socket)


async def _supervised(service: ChatService) -> None:
    """The sweeps under the engine's background policy: a failure is logged and they start again after a back-off."""
    async with asyncio.TaskGroup() as group:
        BackgroundSupervisor(lambda ok, detail: None if ok else log.warning("chat sweeps: %s", detail)).start(group, "chat-sweeps", service.run)


def _origin(header: str) -> str:
    """A request's Origin in the allow-list's form (engine/settings.py origin_of); "" if it is none."""
    try:
        return origin_of(header) if header else ""
    except ValueError:
        return ""


async def _hello(ws: web.WebSocketResponse, service: ChatService) -> LiveChat | None:
    """The page's first message names its chat by token; no chat, and the socket closes (4404); a
    slow database closes it with 1013 (the page tries again)."""
    try:
        async with asyncio.timeout(HELLO_WITHIN_S):
            first = await ws.receive()
        message = json.loads(first.data) if first.type == WSMsgType.TEXT else {}
    except (TimeoutError, ValueError):
        message = {}
    if ws.closed:
        return None  # a frame over the size limit: aiohttp has closed the socket (1009)
    hello = message if isinstance(message, dict) and message.get("type") == "hello" else {}
    token, identity, signature = hello.get("token"), hello.get("identity", ""), hello.get("signature", "")
    if not isinstance(identity, str) or not isinstance(signature, str):
        identity, signature = "?", ""  # not text: names nobody, so no chat is resumed with it
    try:
        chat = await service.find(token, identity, signature) if isinstance(token, str) and 20 <= len(token) <= 100 else None
    except ChatRefused as refused:
        await ws.send_json(page_error(refused.code))
        await ws.close(code=1013, message=b"try again later")
        return None
    if chat is None:
        await ws.send_json(page_error("no_chat"))
        await ws.close(code=4404, message=b"no such chat: start a new one")
    return chat


async def _serve(ws: web.WebSocketResponse, chat: LiveChat, max_chars: int) -> None:
    too_fast = 0
    async for frame in ws:
        if frame.type != WSMsgType.TEXT:
            continue
        if not chat.bucket.take(time.monotonic()):
            too_fast += 1
            if too_fast > FLOOD_CLOSE_AFTER:
                await ws.close(code=1008, message=b"too many messages")
                break
            await ws.send_json(page_error("too_fast"))
            continue
        too_fast = 0
        received = time.perf_counter()
        try:
            if await _message(ws, chat, frame.data, max_chars):
                metrics.CHAT_REPLY_SECONDS.observe(time.perf_counter() - received)
        except Exception:  # a bug behind one message: the page gets a reference, never a traceback, and the chat goes on
            reference = secrets.token_hex(4)
            log.exception("internal error %s in chat %s", reference, chat.channel_id)
            await ws.send_json({**page_error("internal_error"), "reference": reference})


async def _message(ws: web.WebSocketResponse, chat: LiveChat, raw: str, max_chars: int) -> bool:
    """Carry one page message out; True when it was a turn the bot answered (what the reply time measures)."""
    try:
        message = json.loads(raw)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        await ws.send_json(page_error("invalid"))
        return False
    kind = message.get("type")
    if kind == "text" and isinstance(message.get("text"), str):
        text = message["text"]
        if len(text) > max_chars:
            await ws.send_json({**page_error("too_long"), "max": max_chars})
            return False
        await chat.typed(text)
        return True
    if kind == "reply" and isinstance(message.get("index"), int):
        await chat.pressed(message["index"])
        return True
    if kind == "callback" and isinstance(message.get("number"), str) and len(message["number"]) <= MAX_NUMBER_CHARS:
        await chat.call_me_back(message["number"])
    elif kind == "code":
        await chat.i_will_call()
    else:
        await ws.send_json(page_error("invalid"))
    return False


async def _json_body(request: web.Request) -> dict[str, Any] | str:
    """The posted JSON object (empty allowed), or what is wrong with it."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            raw = await request.text()
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=f"the body did not arrive within {BODY_TIMEOUT_S:.0f} s") from None
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return "a JSON object: {} or {\"identity\": ..., \"signature\": ...}"
    return body if isinstance(body, dict) else "a JSON object: {} or {\"identity\": ..., \"signature\": ...}"
