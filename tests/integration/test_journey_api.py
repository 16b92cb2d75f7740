"""The Journey API on the engine's real web server (build_app, its middlewares and access table) with a
real database (SQLite and PostgreSQL): every operation of the OpenAPI document called with good and
bad tokens, wrong scopes, oversized and invalid bodies, each answer checked against the document;
webhooks signed, retried and kept across a restart; the websocket; and the CLI and the running engine.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from sqlalchemy import select
from aiohttp.test_utils import TestClient, TestServer

import engine.api.api_routes as api_routes
from engine.api.api_auth import FAILED_PER_MINUTE
from engine.api.api_service import JourneyApi, journey_api
from engine.api.openapi_document import OPENAPI_PATH, OPERATIONS
from engine.api.webhook_policy import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from engine.health import HealthBoard
from engine.journey.events import Arrived, Collected, ExternalEvent, from_stored, to_stored
from engine.recording.retention import erase
from engine.settings import ApiSettings, Settings, WebhookSettings
from engine.store.api_models import WebhookDeliveryRow
from engine.store.api_store import ApiTokenStore, WebhookOutbox
from engine.store.contact_store import ContactStore
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallerInfo, JourneyStore
from engine.store.models import AuditRow
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
    hold: asyncio.Event | None = None
    """When set: every request hangs until this is set (a receiver that stopped answering)."""

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
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


@contextlib.asynccontextmanager
async def serving(hook: Receiver) -> AsyncIterator[Receiver]:
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


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving(Receiver()) as hook:
        yield hook


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


# -- found by the contacts' own keys; erasure; the socket's token; limits; concurrency; shutdown ------------------


async def _database_rows(database_url: str, statement: Any) -> list[Any]:
    database = create_engine(database_url)
    try:
        async with database.connect() as connection:
            return list((await connection.execute(statement)).all())
    finally:
        await database.dispose()


async def test_a_customer_is_found_by_the_contacts_number_or_account_never_by_values_in_journeys(rig_factory: Callable[..., Any], database_url: str) -> None:
    rig = await rig_factory(ApiSettings())
    for n, (number, account) in enumerate((("0101111111", "ACC-1"), ("0102222222", "ACC-2"))):  # two callers typing their accounts into the IVR
        opened = await rig.journeys.open_call(CallerInfo(f"1700000000.{n}", number, "someone", "1500"), datetime.now(UTC), to_stored(Arrived(caller_number=number))[1])
        kind, detail = to_stored(Collected(node="ask_account", into="account", value=account))
        await rig.journeys.add_event(opened.call_id, kind, datetime.now(UTC), detail)
    made = await (await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_account": "ACC-9", "customer_name": "김민수"})).json()
    for account in ("account", "ACC-1", "ask_account"):
        listed = await (await rig.client.get("/api/v1/contacts", params={"account": account}, headers=rig.auth("reader"))).json()
        assert listed == {"contacts": [], "other_legs": []}, (account, "a value typed into a call is not a key to it")
    listed = await (await rig.client.get("/api/v1/contacts", params={"account": "ACC-9"}, headers=rig.auth("reader"))).json()
    assert [c["id"] for c in listed["contacts"]] == [made["id"]] and listed["other_legs"] == []
    by_number = await (await rig.client.get("/api/v1/contacts", params={"number": "0101111111"}, headers=rig.auth("reader"))).json()
    assert [leg["id"] for leg in by_number["other_legs"]] == ["1700000000.0"], "the number's own calls in no contact, and only its"
    for query in ({"account": "erased"}, {"account": "Erased"}, {"number": "erased"}):
        refused = await rig.client.get("/api/v1/contacts", params=query, headers=rig.auth("reader"))
        assert refused.status == 422 and (await refused.json())["field"] == next(iter(query)), query
    assert (await rig.client.get(f"/api/v1/contacts/{made['id']}", headers=rig.auth("reader"))).status == 200
    audit = await _database_rows(database_url, select(AuditRow.actor, AuditRow.action, AuditRow.target, AuditRow.detail).order_by(AuditRow.id))
    reads = [(actor, action, target) for actor, action, target, _ in audit if actor.startswith("api:")]
    assert reads[-1] == ("api:reader-1", "api_read_contact", made["id"]) and ("api:reader-1", "api_list_contacts", "contacts:1") in reads
    assert "0101111111" not in json.dumps([row[3] for row in audit]), "the audit names contacts, never a number"


async def test_erasure_deletes_the_customers_webhook_deliveries(rig_factory: Callable[..., Any], database_url: str, receiver: Receiver) -> None:
    rig = await rig_factory(ApiSettings(webhooks=(WebhookSettings(url=receiver.url, secret=SECRET),)), deliver=False)
    ref = (await (await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": NUMBER, "customer_name": "김민수"})).json())["id"]
    await rig.client.post(f"/api/v1/contacts/{ref}/events", headers=rig.auth("writer"), json={"events": [{"type": "note", "text": "secret diagnosis"}]})
    other = (await (await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": "0299999999"})).json())["id"]
    assert (await rig.outbox.counts())["pending"] == 3
    database = create_engine(database_url)
    try:
        await erase(database, Settings(), number=NUMBER)
    finally:
        await database.dispose()
    left = await _database_rows(database_url, select(WebhookDeliveryRow.contact_ref, WebhookDeliveryRow.payload))
    assert [ref_ for ref_, _ in left] == [other], "only the other customer's delivery stays"
    dumped = json.dumps([payload for _, payload in left], ensure_ascii=False)
    assert NUMBER not in dumped and "김민수" not in dumped and "secret diagnosis" not in dumped


async def test_finished_deliveries_are_deleted_even_with_no_webhooks_configured(rig_factory: Callable[..., Any]) -> None:
    first = await rig_factory(ApiSettings(webhooks=(WebhookSettings(url="http://127.0.0.1:9/hook", secret=SECRET),)), deliver=False)
    await first.client.post("/api/v1/contacts", headers=first.auth("writer"), json={"customer_number": NUMBER})
    (delivery,) = await first.outbox.take_due("http://127.0.0.1:9/hook", datetime.now(UTC), datetime.now(UTC) + timedelta(minutes=1))
    await first.outbox.delivered(delivery.id, datetime.now(UTC) - timedelta(days=8))
    await first.client.post("/api/v1/contacts", headers=first.auth("writer"), json={"customer_number": "0299999999"})
    assert await first.outbox.counts() == {"pending": 1, "delivered": 1, "given_up": 0}
    second = await rig_factory(ApiSettings())  # the webhook was removed from the settings
    for _ in range(100):
        if await second.outbox.counts() == {"pending": 0, "delivered": 0, "given_up": 1}:
            break
        await asyncio.sleep(0.1)
    assert await second.outbox.counts() == {"pending": 0, "delivered": 0, "given_up": 1}, "the old one deleted, the one to a removed url given up"


async def test_two_engines_never_take_the_same_delivery(rig_factory: Callable[..., Any], database_url: str, receiver: Receiver) -> None:
    rig = await rig_factory(ApiSettings(webhooks=(WebhookSettings(url=receiver.url, secret=SECRET),)), deliver=False)
    for n in range(6):
        await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": f"02000000{n:02d}"})
    engines = [create_engine(database_url) for _ in range(2)]
    try:
        now = datetime.now(UTC)
        taken = await asyncio.gather(*(WebhookOutbox(engine).take_due(receiver.url, now, now + timedelta(minutes=1), 4) for engine in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    ids = [d.id for batch in taken for d in batch]
    assert len(ids) == 6 and len(set(ids)) == 6, [[d.id for d in batch] for batch in taken]
    assert await rig.outbox.take_due(receiver.url, now, now + timedelta(minutes=1)) == [], "claimed until the lease ends"
    assert len(await rig.outbox.take_due(receiver.url, now + timedelta(minutes=2), now + timedelta(minutes=3))) == 6, "then taken again"


async def test_a_hanging_receiver_does_not_hold_up_a_healthy_one(rig_factory: Callable[..., Any], receiver: Receiver) -> None:
    release = asyncio.Event()
    async with serving(Receiver(hold=release)) as hanging:
        try:
            hooks = (WebhookSettings(url=hanging.url, secret=SECRET), WebhookSettings(url=receiver.url, secret=SECRET))
            rig = await rig_factory(ApiSettings(webhooks=hooks, webhook_timeout_s=30))
            ref = (await (await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": NUMBER})).json())["id"]
            await rig.client.post(f"/api/v1/contacts/{ref}/events", headers=rig.auth("writer"), json={"events": [{"type": "note", "text": f"n{n}"} for n in range(20)]})
            await receiver.wait_for(21)  # while every request to the other url hangs
            assert len(hanging.got) < 21
        finally:
            release.set()


async def test_a_revoked_tokens_socket_closes_while_events_keep_coming(rig_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_routes, "RECHECK_S", 0.5)
    rig = await rig_factory(ApiSettings(rate_per_minute=1000))
    socket = await rig.client.ws_connect("/api/v1/events", headers=rig.auth("both"))
    assert await rig.api.tokens.revoke("both-1", datetime.now(UTC))
    ref = (await (await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": NUMBER})).json())["id"]
    for _ in range(50):  # an event every 0.1 s: the socket is never idle for RECHECK_S
        await rig.client.post(f"/api/v1/contacts/{ref}/events", headers=rig.auth("writer"), json={"events": [{"type": "note", "text": "x"}]})
        message = await socket.receive(timeout=5)
        if message.type != aiohttp.WSMsgType.TEXT:
            break
        await asyncio.sleep(0.1)
    assert message.type == aiohttp.WSMsgType.CLOSE and message.data == api_routes.TOKEN_ENDED


async def test_wrong_tokens_from_an_address_do_not_lock_out_a_valid_token(rig_factory: Callable[..., Any]) -> None:
    rig = await rig_factory(ApiSettings())
    bad = {"Authorization": "Bearer tl_" + "A" * 43}
    statuses = [(await rig.client.get("/api/v1/contacts", params={"number": NUMBER}, headers=bad)).status for _ in range(FAILED_PER_MINUTE)]
    assert set(statuses) == {401}
    assert (await rig.client.get("/api/v1/contacts", params={"number": NUMBER}, headers=rig.auth("reader"))).status == 200
    refused = await rig.client.get("/api/v1/contacts", params={"number": NUMBER}, headers=bad)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1, "only further failures are refused"
    assert (await rig.client.get("/api/v1/contacts", params={"number": NUMBER}, headers=rig.auth("reader"))).status == 200


async def test_concurrent_appends_to_one_contact_all_land_in_order(rig_factory: Callable[..., Any]) -> None:
    rig = await rig_factory(ApiSettings(rate_per_minute=1000))
    ref = (await (await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": NUMBER})).json())["id"]

    async def one(n: int) -> tuple[int, list[int]]:
        answer = await rig.client.post(f"/api/v1/contacts/{ref}/events", headers=rig.auth("writer"), json={"events": [{"type": "note", "text": f"n{n}"}] * 2})
        return answer.status, [a["seq"] for a in (await answer.json()).get("appended", [])]

    results = await asyncio.gather(*(one(n) for n in range(12)))
    assert {status for status, _ in results} == {201}, results
    assert sorted(seq for _, seqs in results for seq in seqs) == list(range(2, 26))
    assert all(seqs[1] == seqs[0] + 1 for _, seqs in results), "one request's events stay together"


async def test_a_contact_is_stored_with_its_leg_and_deliveries_or_not_at_all(rig_factory: Callable[..., Any], receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = await rig_factory(ApiSettings(webhooks=(WebhookSettings(url=receiver.url, secret=SECRET),)), deliver=False)

    def broken(_event: Any) -> list[Any]:
        raise RuntimeError("the outbox row cannot be made")

    monkeypatch.setattr(rig.api.publisher, "owed", broken)
    failed = await rig.client.post("/api/v1/contacts", headers=rig.auth("writer"), json={"customer_number": NUMBER})
    assert failed.status == 500
    monkeypatch.undo()
    listed = await (await rig.client.get("/api/v1/contacts", params={"number": NUMBER}, headers=rig.auth("reader"))).json()
    assert listed == {"contacts": [], "other_legs": []}, "no contact and no leg without its deliveries"


async def test_odd_requests_get_the_documented_json_refusals(rig_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    rig = await rig_factory(ApiSettings())
    document = await (await rig.client.get(OPENAPI_PATH)).json()
    refused = await checked(rig, document, "GET", "/api/v1/contacts", "/api/v1/contacts", 422, headers=rig.auth("reader"), params={"number": NUMBER, "limit": "²"})
    assert refused["field"] == "limit"
    plain = await checked(rig, document, "GET", "/api/v1/events", "/api/v1/events", 400, headers=rig.auth("reader"))
    assert plain["field"] == "Upgrade"
    monkeypatch.setattr(api_routes, "BODY_TIMEOUT_S", 0.3)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"customer_number": "'
        await asyncio.sleep(2)
        yield b'0212345678"}'

    slow = await checked(rig, document, "POST", "/api/v1/contacts", "/api/v1/contacts", 408, headers={**rig.auth("writer"), "Content-Type": "application/json"}, data=trickle())
    assert slow["field"] == "body"


async def test_open_event_sockets_are_closed_going_away_when_the_server_stops(rig_factory: Callable[..., Any]) -> None:
    rig = await rig_factory(ApiSettings())
    socket = await rig.client.ws_connect("/api/v1/events", headers=rig.auth("reader"))
    stopping = asyncio.create_task(rig.client.server.close(), name="test-stop")
    try:
        message = await socket.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data == aiohttp.WSCloseCode.GOING_AWAY
    finally:
        await stopping
