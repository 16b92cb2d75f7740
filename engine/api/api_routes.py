"""The Journey API's HTTP side: one handler per operation of OPERATIONS (engine/api/openapi_document.py),
the public OpenAPI document, and the events websocket.

Authentication and scopes are checked before any handler here, by the web server's access middleware
(engine/api/api_auth.py `api_guarded`, for every ACCESS rule with an `api_scope`). Handlers read
bounded bodies (MAX_BODY_BYTES, within BODY_TIMEOUT_S), validate them with the pydantic models and
answer refusals as `{"error": ..., "field": ...}`.

Open event sockets re-check their token every RECHECK_S whether or not events flow, and are closed
with 1001 when the web server stops (before it waits for its handlers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, ValidationError

from engine.api.api_auth import API_CLIENT, API_GUARD, bearer, refusal
from engine.api.api_schema import ApiEvent, AppendEvents, ContactCreate
from engine.api.api_service import EventRefused, JourneyApi
from engine.api.event_hub import HubFull, Subscription, TokenFull
from engine.api.openapi_document import BODY_TIMEOUT_S, EVENTS_PATH, MAX_BODY_BYTES, OPENAPI_PATH, OPERATIONS, openapi_document
from engine.store.api_store import BusyLeg

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Model = TypeVar("Model", bound=BaseModel)
RECHECK_S = 30.0
"""An events socket re-checks its token this often, events flowing or not: a revoked token's socket closes within it."""
CLOSE_S = 5.0
TOO_SLOW = 1013
TOKEN_ENDED = 4401
CONTACT_REF = re.compile(r"^ct_[A-Za-z0-9_-]{8,36}$")
PHONE = re.compile(r"^\+?[0-9]{2,32}$")
LIMIT = re.compile(r"^([1-9]|1[0-9]|20)$")
"""1-20 in ASCII digits only (str.isdigit takes "²", which int() refuses)."""
ERASED = "erased"
"""What an erasure leaves in a contact's number and account: never a customer to look up."""
EVENT_TYPES = frozenset({"contact.created", "journey.event_appended"})


class Refused(Exception):
    """A request the API refuses; becomes a JSON error answer."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.field = status, error, field


def add_api_routes(app: web.Application, api: JourneyApi | None) -> None:
    """Every operation of OPERATIONS, the document and the websocket. Without `api` (no database) the
    routes still exist, in the access table like the rest, and answer 503 behind the token check."""
    if api is not None:
        app[API_GUARD] = api.guard
    document = json.dumps(openapi_document(), ensure_ascii=False).encode()

    def need() -> JourneyApi:
        if api is None:
            raise Refused(503, "the Journey API is not running on this engine (it needs the database)")
        return api

    async def create_contact(request: web.Request) -> web.StreamResponse:
        body = await _body(request, ContactCreate)
        created = await need().create_contact(body, request[API_CLIENT])
        return _answer(created, 201)

    async def list_contacts(request: web.Request) -> web.StreamResponse:
        number, account, limit = request.query.get("number", ""), request.query.get("account", ""), request.query.get("limit", "10")
        if number and not PHONE.match(number):
            raise Refused(422, "number: digits as the phone network gives them (2-32, a leading + allowed)", "number")
        if len(account) > 80 or any(not ch.isprintable() for ch in account):
            raise Refused(422, "account: at most 80 printable characters", "account")
        if account.strip().lower() == ERASED:
            raise Refused(422, f"account: {ERASED!r} is what an erasure leaves, not a customer's account", "account")
        if not number and not account:
            raise Refused(422, "number or account: give at least one", "number")
        if not LIMIT.match(limit):
            raise Refused(422, "limit: a whole number from 1 to 20", "limit")
        return _answer(await need().customer(number, account, int(limit), request[API_CLIENT]))

    async def get_contact(request: web.Request) -> web.StreamResponse:
        found = await need().journey(_contact_ref(request), request[API_CLIENT])
        if found is None:
            raise Refused(404, "no contact with this id", "contact_id")
        return _answer(found)

    async def append_events(request: web.Request) -> web.StreamResponse:
        ref = _contact_ref(request)
        body = await _body(request, AppendEvents)
        try:
            result = await need().append(ref, body, request[API_CLIENT])
        except EventRefused as refused:
            raise Refused(422, str(refused), refused.field) from None
        except BusyLeg:
            raise Refused(503, "this contact is being written by other requests; send the events again") from None
        if result is None:
            raise Refused(404, "no contact with this id", "contact_id")
        return _answer(result, 201)

    async def events_socket(request: web.Request) -> web.StreamResponse:
        service = need()
        wanted = _event_filter(request)
        socket = web.WebSocketResponse(heartbeat=20, max_msg_size=1024)
        if not socket.can_prepare(request).ok:
            raise Refused(400, "this is a websocket: send a GET with Connection: Upgrade and Upgrade: websocket", "Upgrade")
        try:
            subscription = service.publisher.hub.subscribe(wanted, request[API_CLIENT].name)
        except TokenFull as full:
            raise Refused(429, str(full)) from None
        except HubFull as full:
            raise Refused(503, str(full)) from None
        open_sockets.add(socket)
        try:
            await socket.prepare(request)
            await _stream(socket, subscription, service, bearer(request) or "")
        finally:
            open_sockets.discard(socket)
            service.publisher.hub.unsubscribe(subscription)
        return socket

    open_sockets: set[web.WebSocketResponse] = set()

    async def close_sockets(_app: web.Application) -> None:
        """Before the server waits for its handlers: the event sockets end now (1001), not at its timeout."""
        await asyncio.gather(*(_going_away(socket) for socket in list(open_sockets)))

    app.on_shutdown.append(close_sockets)

    async def document_answer(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=document, content_type="application/json")

    handlers: dict[str, Handler] = {
        "createContact": create_contact, "listContacts": list_contacts, "getContact": get_contact,
        "appendEvents": append_events, "eventsSocket": events_socket,
    }
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, _refusals(handlers[op.operation_id]))
    app.router.add_get(OPENAPI_PATH, document_answer)
    assert set(handlers) == {op.operation_id for op in OPERATIONS}, "one handler per operation"
    assert any(op.path == EVENTS_PATH for op in OPERATIONS)


def _refusals(handler: Handler) -> Handler:
    async def refusing(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as refused:
            return refusal(refused.status, refused.error, refused.field)

    return refusing


def _answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(body=model.model_dump_json(), status=status, content_type="application/json")


def _contact_ref(request: web.Request) -> str:
    ref = request.match_info["contact_id"]
    if not CONTACT_REF.match(ref):
        raise Refused(422, "contact_id: a contact's id, ct_ and 8-36 letters, digits, _ or -", "contact_id")
    return ref


async def _body(request: web.Request, model: type[Model]) -> Model:
    """The JSON body as `model`: 413 over MAX_BODY_BYTES, 408 when it trickles, 422 naming the bad field."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise Refused(413, f"the body is {request.content_length} bytes; at most {MAX_BODY_BYTES}", "body")
    raw = bytearray()
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            while chunk := await request.content.read(16 * 1024):
                raw += chunk
                if len(raw) > MAX_BODY_BYTES:
                    raise Refused(413, f"the body is over {MAX_BODY_BYTES} bytes", "body")
    except TimeoutError:
        raise Refused(408, f"the body did not arrive within {BODY_TIMEOUT_S:.0f} s", "body") from None
    if not raw:
        raise Refused(422, "body: send a JSON object", "body")
    try:
        return model.model_validate_json(bytes(raw))
    except ValidationError as invalid:
        raise _invalid(invalid) from None


def _invalid(invalid: ValidationError) -> Refused:
    """The first problem, naming its field as a dotted path (events.0.text); malformed JSON names `body`."""
    first = invalid.errors()[0]
    if first["type"] == "json_invalid":
        return Refused(422, f"body: not valid JSON ({first['msg']})", "body")
    path = [str(part) for part in first["loc"]]
    if len(path) >= 3 and path[0] == "events" and path[2] in ("email", "web_form", "social_message", "crm_update", "note"):
        del path[2]  # the discriminated union's tag: events.0.note.text -> events.0.text
    field = ".".join(path) or "body"
    more = f" (and {len(invalid.errors()) - 1} more)" if len(invalid.errors()) > 1 else ""
    return Refused(422, f"{field}: {first['msg']}{more}", field)


def _event_filter(request: web.Request) -> Callable[[ApiEvent], bool]:
    contact = request.query.get("contact", "")
    types = {part for part in request.query.get("types", "").split(",") if part}
    if contact and not CONTACT_REF.match(contact):
        raise Refused(422, "contact: a contact's id (ct_...)", "contact")
    if types - EVENT_TYPES:
        raise Refused(422, f"types: a comma-separated list of {', '.join(sorted(EVENT_TYPES))}", "types")
    return lambda event: (not contact or event.contact.id == contact) and (not types or event.type in types)


async def _going_away(socket: web.WebSocketResponse) -> None:
    """Close with 1001 within CLOSE_S; a client that does not answer is left to the server's own shutdown."""
    try:
        async with asyncio.timeout(CLOSE_S):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"the engine is stopping")
    except (TimeoutError, ConnectionError, RuntimeError) as exc:
        log.info("api events socket dropped while closing: %s", exc or type(exc).__name__)


async def _stream(socket: web.WebSocketResponse, subscription: Subscription, api: JourneyApi, secret: str) -> None:
    """Events to the socket until the client closes it, the token is revoked, or the reader falls behind.
    Messages from the client are not expected: any is ignored (reading them lets the close arrive)."""

    async def read() -> None:
        async for message in socket:
            if message.type == WSMsgType.ERROR:
                return

    async def send() -> None:
        recheck_at = time.monotonic() + RECHECK_S
        while True:
            event = await subscription.next(max(recheck_at - time.monotonic(), 0.0))
            if subscription.dropped:
                await socket.close(code=TOO_SLOW, message=b"too slow: more than 256 events behind; read what you missed with GET /api/v1/contacts")
                return
            if time.monotonic() >= recheck_at:
                if await api.tokens.authenticate(secret, api.clock()) is None:
                    await socket.close(code=TOKEN_ENDED, message=b"the token was revoked")
                    return
                recheck_at = time.monotonic() + RECHECK_S
            if event is not None:
                await socket.send_str(event.model_dump_json())

    reader = asyncio.create_task(read(), name="api-events-read")
    sender = asyncio.create_task(send(), name="api-events-send")
    try:
        await asyncio.wait((reader, sender), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, sender):
            task.cancel()
        for ended in await asyncio.gather(reader, sender, return_exceptions=True):
            if isinstance(ended, Exception):
                log.info("api events socket ended: %s: %s", type(ended).__name__, ended)
        if not socket.closed:
            await socket.close()
