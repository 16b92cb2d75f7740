"""The Journey API on the engine's real web server (build_app, its middlewares and access table) with a
real database (SQLite and PostgreSQL): every operation of the OpenAPI document called with good and
bad tokens, wrong scopes, oversized and invalid bodies, each answer checked against the document;
webhooks signed, retried and kept across a restart; the websocket; and the CLI and the running engine.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.api.api_service import JourneyApi, journey_api
from engine.api.openapi_document import OPENAPI_PATH, OPERATIONS
from engine.api.webhook_policy import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from engine.health import HealthBoard
from engine.journey.events import ExternalEvent, from_stored
from engine.settings import ApiSettings, WebhookSettings
from engine.store.api_store import ApiTokenStore, WebhookOutbox
from engine.store.contact_store import ContactStore
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import JourneyStore
from engine.web.http_server import build_app
from tests.integration.conftest import REPO, THREADLINE, RunningEngine, free_port
from tests.unit.api.openapi_check import answer_schema, validate

SECRET = "whsec-integration-0123456789"
NUMBER = "0212345678"


@dataclass
class Receiver:
    """A webhook receiver: fails the first `failures` requests with 500, records every request."""

    url: str = ""
    failures: int = 0
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        self.arrived.set()
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=500)
        return web.Response(status=204)

    async def wait_for(self, count: int, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.got) < count:
            assert time.monotonic() < deadline, f"{len(self.got)} of {count} webhook requests within {timeout_s:.0f} s"
            self.arrived.clear()
            try:
                async with asyncio.timeout(0.5):
                    await self.arrived.wait()
            except TimeoutError:
                pass


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hook.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield hook
    finally:
        await runner.cleanup()


@dataclass
class ApiRig:
    client: TestClient[Any, Any]
    api: JourneyApi
    tokens: dict[str, str]
    journeys: JourneyStore
    outbox: WebhookOutbox

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture
async def rig_factory(database_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Starts the web server with the API on the database; the same database may be served again (a restart)."""
    await upgrade_database(database_url)
    database = create_engine(database_url)
    started: list[tuple[TestClient[Any, Any], asyncio.Task[None]]] = []

    async def start(settings: ApiSettings, deliver: bool = True) -> ApiRig:
        journeys = JourneyStore(database)
        api = journey_api(database, journeys, ContactStore(database, journeys), settings, lambda: datetime.now(UTC))
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(HealthBoard(("ari",)), lambda: {}, api=api)))
        await client.start_server()
        sender = asyncio.create_task(api.deliver_webhooks() if deliver else asyncio.Event().wait(), name="test-webhooks")
        started.append((client, sender))
        store = ApiTokenStore(database)
        tokens = {}
        for name, scopes in (("reader", ["journey:read"]), ("writer", ["journey:write"]), ("both", ["journey:read", "journey:write"])):
            tokens[name] = await store.create(f"{name}-{len(started)}", scopes, datetime.now(UTC))  # a restart's rig: new names
        return ApiRig(client, api, tokens, journeys, WebhookOutbox(database))

    yield start
    for client, sender in started:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await client.close()
    await database.dispose()


async def checked(rig: ApiRig, document: dict[str, Any], method: str, path: str, url: str, status: int, **kwargs: Any) -> Any:
    """Make the request, assert its status, and check the JSON answer against the document's schema for it."""
    response = await rig.client.request(method, url, **kwargs)
    body = await response.json()
    assert response.status == status, (method, url, response.status, body)
    validate(document, answer_schema(document, method, path, status), body)
    return body


async def test_every_operation_in_the_document_answers_as_documented(rig_factory: Callable[..., Any]) -> None:
    rig = await rig_factory(ApiSettings())
    document = await (await rig.client.get(OPENAPI_PATH)).json()
    called: set[str] = set()
    bad = {"Authorization": "Bearer tl_not-a-real-token-0000000000000000000000"}
    contact = await checked(rig, document, "POST", "/api/v1/contacts", "/api/v1/contacts", 201, headers=rig.auth("writer"),
                            json={"customer_number": NUMBER, "customer_name": "김민수"})
    ref = contact["id"]
    for op in OPERATIONS:
        url = op.path.replace("{contact_id}", ref)
        if op.operation_id == "eventsSocket":
            for headers, status in (({}, 401), (bad, 401), (rig.auth("writer"), 403)):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await rig.client.ws_connect(url, headers=headers)
                assert refused.value.status == status
            socket = await rig.client.ws_connect(url, headers=rig.auth("reader"))
            await socket.close()
            called.add(op.operation_id)
            continue
        wrong = "reader" if op.scope == "journey:write" else "writer"
        query = {"number": NUMBER} if op.operation_id == "listContacts" else None
        good_body = {"customer_account": "A-1"} if op.operation_id == "createContact" else {"events": [{"type": "note", "text": "hello"}]}
        body = good_body if op.body is not None else None
        for headers, status in (({}, 401), (bad, 401), (rig.auth(wrong), 403)):
            refusal = await checked(rig, document, op.method, op.path, url, status, headers=headers, params=query, json=body)
            assert refusal["field"] == "Authorization"
        await checked(rig, document, op.method, op.path, url, op.success, headers=rig.auth("both"), params=query, json=body)
        if op.body is not None:
            huge = await checked(rig, document, op.method, op.path, url, 413, headers={**rig.auth("both"), "Content-Type": "application/json"},
                                 data=b'{"x": "' + b"a" * 70_000 + b'"}')
            assert huge["field"] == "body"
            not_json = await checked(rig, document, op.method, op.path, url, 422, headers=rig.auth("both"), data=b"{nope")
            assert not_json["field"] == "body"
        if "{contact_id}" in op.path:
            await checked(rig, document, op.method, op.path, op.path.replace("{contact_id}", "ct_nobody000000"), 404, headers=rig.auth("both"), json=body)
            await checked(rig, document, op.method, op.path, op.path.replace("{contact_id}", "..%2Fetc"), 422, headers=rig.auth("both"), json=body)
        called.add(op.operation_id)
    assert (await rig.client.get(OPENAPI_PATH)).status == 200
    assert called == {op.operation_id for op in OPERATIONS}


async def test_invalid_fields_are_named_and_bounded(rig_factory: Callable[..., Any]) -> None:
    rig = await rig_factory(ApiSettings())
    document = await (await rig.client.get(OPENAPI_PATH)).json()
    ref = (await (await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": NUMBER})).json())["id"]
    events = f"/api/v1/contacts/{ref}/events"
    path = "/api/v1/contacts/{contact_id}/events"
    cases: list[tuple[Any, str]] = [
        ({"events": [{"type": "note", "text": "ok"}, {"type": "note", "text": "x" * 1001}]}, "events.1.text"),
        ({"events": [{"type": "fax", "text": "x"}]}, "events.0"),
        ({"events": [{"type": "email"}]}, "events.0.text"),
        ({"events": [{"type": "note", "text": "bell \x07"}]}, "events.0.text"),
        ({"events": [{"type": "note", "text": "ok", "colour": "red"}]}, "events.0.colour"),
        ({"events": [{"type": "note", "text": "ok"}] * 21}, "events"),
        ({"events": [{"type": "web_form", "form": "contact", "fields": {f"f{n}": "v" for n in range(21)}}]}, "events.0.fields"),
        ({"events": [{"type": "note", "text": "later", "at": "2999-01-01T00:00:00Z"}]}, "events.0.at"),
        ({"events": [{"type": "note", "text": "no zone", "at": "2026-01-01T00:00:00"}]}, "events.0.at"),
        ([1, 2], "body"),
    ]
    for body, field_name in cases:
        refused = await checked(rig, document, "POST", path, events, 422, headers=rig.auth("writer"), json=body)
        assert refused["field"] == field_name and refused["error"].startswith(field_name), (body if len(str(body)) < 200 else field_name, refused)
    for body, field_name in (({"customer_number": "call me"}, "customer_number"), ({"customer_name": "x"}, "body"), ({"customer_account": "a" * 81}, "customer_account")):
        refused = await checked(rig, document, "POST", "/api/v1/contacts", "/api/v1/contacts", 422, headers=rig.auth("writer"), json=body)
        assert refused["field"] == field_name, refused
    for query, field_name in (({}, "number"), ({"number": "abc"}, "number"), ({"number": NUMBER, "limit": "99"}, "limit")):
        refused = await checked(rig, document, "GET", "/api/v1/contacts", "/api/v1/contacts", 422, headers=rig.auth("reader"), params=query)
        assert refused["field"] == field_name
    journey = await checked(rig, document, "GET", "/api/v1/contacts/{contact_id}", f"/api/v1/contacts/{ref}", 200, headers=rig.auth("reader"))
    assert [e["kind"] for leg in journey["legs"] for e in leg["events"]] == ["arrived"], "nothing refused was stored"


async def test_events_reach_the_journey_the_websocket_and_a_signed_retried_webhook(rig_factory: Callable[..., Any], receiver: Receiver) -> None:
    receiver.failures = 2
    rig = await rig_factory(ApiSettings(webhooks=(WebhookSettings(url=receiver.url, secret=SECRET),)))
    socket = await rig.client.ws_connect("/api/v1/events", headers=rig.auth("reader"))
    contact = await (await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": NUMBER, "customer_account": "A-77"})).json()
    appended = await rig.client.post(f"/api/v1/contacts/{contact['id']}/events", headers=rig.auth("writer"), json={"events": [
        {"type": "crm_update", "system": "shop", "record_type": "order", "record_id": "123", "status": "delayed", "text": "order 123 delayed"},
        {"type": "email", "subject": "Where is my order?", "text": "It has not arrived.", "address": "minsu@example.com"},
    ]})
    result = await appended.json()
    assert appended.status == 201 and [a["type"] for a in result["appended"]] == ["crm_update", "email"]
    pushed = [json.loads((await socket.receive(timeout=5)).data) for _ in range(3)]
    assert [(e["type"], e["id"]) for e in pushed] == [("contact.created", f"evt_{contact['id']}"), *[("journey.event_appended", a["event_id"]) for a in result["appended"]]]
    assert pushed[1]["event"]["detail"]["text"] == "order 123 delayed" and pushed[1]["leg"] == {"id": result["leg"], "channel": "api"}

    await receiver.wait_for(3 + 2)  # three events, and the two the receiver refused again
    ids = [headers[EVENT_ID_HEADER] for headers, _ in receiver.got]
    assert len(ids) == 5 and set(ids) == {e["id"] for e in pushed}, "the two refused deliveries retried with the same ids (side by side: no order)"
    for headers, body in receiver.got:
        assert verify(headers[SIGNATURE_HEADER], SECRET, body, time.time()), "signed over t.body"
        assert json.loads(body)["id"] == headers[EVENT_ID_HEADER]
    for _ in range(50):  # the receiver answered; the sender marks the row just after
        if (counts := await rig.outbox.counts()) == {"pending": 0, "delivered": 3, "given_up": 0}:
            break
        await asyncio.sleep(0.1)
    assert counts == {"pending": 0, "delivered": 3, "given_up": 0}
    assert await rig.outbox.forget_finished(datetime.now(UTC) - timedelta(days=7)) == 0, "kept a week"
    assert await rig.outbox.forget_finished(datetime.now(UTC) + timedelta(seconds=1)) == 3

    calls = await rig.journeys.previous_calls(NUMBER, "some-new-call")
    assert [(c.channel, c.caller_number) for c in calls] == [("api", NUMBER)], "the next call from the number finds the API leg"
    stored = [from_stored(e.kind, e.detail) for e in calls[0].events]
    assert [e.text for e in stored if isinstance(e, ExternalEvent)] == ["order 123 delayed", "It has not arrived."]
    assert isinstance(stored[1], ExternalEvent) and stored[1].source.startswith("api:writer") and stored[1].data["record_id"] == "123"
    listed = await (await rig.client.get("/api/v1/contacts", params={"account": "A-77"}, headers=rig.auth("reader"))).json()
    assert [c["id"] for c in listed["contacts"]] == [contact["id"]] and [e["seq"] for e in listed["contacts"][0]["legs"][0]["events"]] == [1, 2, 3]


async def test_deliveries_owed_at_a_stop_are_made_after_the_restart(rig_factory: Callable[..., Any], receiver: Receiver) -> None:
    settings = ApiSettings(webhooks=(WebhookSettings(url=receiver.url, secret=SECRET, events=("journey.event_appended",)),))
    first = await rig_factory(settings, deliver=False)  # the engine stops before it delivers anything
    contact = await (await first.client.post("/api/v1/contacts", headers=first.auth("writer"), json={"customer_number": NUMBER})).json()
    await first.client.post(f"/api/v1/contacts/{contact['id']}/events", headers=first.auth("writer"), json={"events": [{"type": "note", "text": "call back after 6"}]})
    assert await first.outbox.counts() == {"pending": 1, "delivered": 0, "given_up": 0}, "only the subscribed type is owed"
    await rig_factory(settings)  # the next engine on the same database
    await receiver.wait_for(1)
    assert json.loads(receiver.got[0][1])["event"]["detail"]["text"] == "call back after 6"


async def test_a_token_over_its_rate_waits_and_a_revoked_token_is_refused_at_once(rig_factory: Callable[..., Any], database_url: str) -> None:
    rig = await rig_factory(ApiSettings(rate_per_minute=3))
    statuses = [(await rig.client.get("/api/v1/contacts", params={"number": NUMBER}, headers=rig.auth("reader"))).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await rig.client.get("/api/v1/contacts", params={"number": NUMBER}, headers=rig.auth("reader"))
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    database = create_engine(database_url)
    try:
        names = [t.name for t in await ApiTokenStore(database).tokens()]
        assert await ApiTokenStore(database).revoke(next(n for n in names if n.startswith("writer")), datetime.now(UTC))
    finally:
        await database.dispose()
    refused = await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": NUMBER})
    assert refused.status == 401 and "revoked" in (await refused.json())["error"]


def _threadline(database_url: str, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("THREADLINE_")}
    env["THREADLINE_DATABASE__URL"] = database_url
    if config is not None:
        env["THREADLINE_CONFIG"] = str(config)
    return subprocess.run([THREADLINE, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


async def test_tokens_are_made_listed_and_revoked_with_the_cli_and_stored_hashed(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    assert (await asyncio.to_thread(_threadline, url, "db", "upgrade")).returncode == 0
    made = await asyncio.to_thread(_threadline, url, "tokens", "create", "crm", "--scope", "journey:read", "--scope", "journey:write")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().rsplit(" ", 1)[1]
    assert secret.startswith("tl_") and len(secret) >= 43 and "only time" in made.stderr
    again = await asyncio.to_thread(_threadline, url, "tokens", "create", "crm", "--scope", "journey:read")
    assert again.returncode == 1 and "exists already" in again.stderr
    listed = await asyncio.to_thread(_threadline, url, "tokens", "list")
    assert "crm  scopes journey:read,journey:write" in listed.stdout and "last used never" in listed.stdout and secret not in listed.stdout
    database = create_engine(url)
    try:
        store = ApiTokenStore(database)
        assert (await store.authenticate(secret, datetime.now(UTC))) is not None
        from sqlalchemy import text

        async with database.connect() as connection:
            stored = (await connection.execute(text("SELECT token_hash FROM api_tokens"))).scalar_one()
        assert secret not in stored and len(stored) == 64
        revoked = await asyncio.to_thread(_threadline, url, "tokens", "revoke", "crm")
        assert revoked.returncode == 0 and await store.authenticate(secret, datetime.now(UTC)) is None
    finally:
        await database.dispose()
    listed = await asyncio.to_thread(_threadline, url, "tokens", "list")
    assert "REVOKED" in listed.stdout and "last used 20" in listed.stdout
    unknown = await asyncio.to_thread(_threadline, url, "tokens", "revoke", "nobody")
    assert unknown.returncode == 1 and "no live token" in unknown.stderr


@pytest.mark.asterisk
async def test_the_running_engine_serves_the_api_and_delivers_webhooks(start_engine: Any, tmp_path: Path, receiver: Receiver) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'engine.sqlite3'}"
    config = tmp_path / "threadline.toml"
    await asyncio.to_thread(config.write_text, f'[[api.webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n')
    assert (await asyncio.to_thread(_threadline, url, "db", "upgrade")).returncode == 0
    made = await asyncio.to_thread(_threadline, url, "tokens", "create", "website", "--scope", "journey:write", "--scope", "journey:read")
    secret = made.stdout.strip().rsplit(" ", 1)[1]
    engine: RunningEngine = await start_engine(url, THREADLINE_CONFIG=str(config))
    headers = {"Authorization": f"Bearer {secret}"}
    async with aiohttp.ClientSession(engine.http_url) as http:
        async with http.get(OPENAPI_PATH) as document:
            assert document.status == 200 and (await document.json())["openapi"] == "3.1.0"
        async with http.post("/api/v1/contacts", headers=headers, json={"customer_number": NUMBER}) as created:
            ref = (await created.json())["id"]
        async with http.post(f"/api/v1/contacts/{ref}/events", headers=headers, json={"events": [{"type": "crm_update", "text": "order 123 delayed"}]}) as appended:
            assert appended.status == 201
    await receiver.wait_for(2)
    assert [json.loads(body)["type"] for _, body in receiver.got] == ["contact.created", "journey.event_appended"]


async def test_migration_0008_matches_the_api_tables_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from engine.store.api_models import ApiTokenRow, WebhookDeliveryRow
    from engine.store.models import Base

    await upgrade_database(database_url)
    database = create_engine(database_url)
    ours = {ApiTokenRow.__tablename__, WebhookDeliveryRow.__tablename__}

    def differences(connection: Any) -> list[Any]:
        found = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        return [d for d in found if any(name in repr(d) for name in ours)]

    try:
        async with database.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await database.dispose()
