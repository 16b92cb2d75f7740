"""The Journey API's operations, and its OpenAPI 3.1 document generated from them and the pydantic
models (engine/api/api_schema.py). Pure: the same document for every engine.

OPERATIONS is the one list of the API: the routes are added from it (engine/api/api_routes.py) and
a test checks each one's scope against the web server's access table, and calls each one.
Served publicly at GET /api/openapi.json: it holds no data and no secret, and tools fetch it before
anyone has a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from engine.api.api_schema import (
    MAX_EVENTS_PER_REQUEST, SCOPES, ApiError, ApiEvent, AppendEvents, AppendResult, ContactCreate, ContactJourney, ContactList,
)
from engine.api.webhook_policy import EVENT_ID_HEADER, SIGNATURE_HEADER

REF = "#/components/schemas/{model}"
OPENAPI_PATH = "/api/openapi.json"
EVENTS_PATH = "/api/v1/events"
MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT_S = 10
ERROR_TEXTS = {
    400: "Not a websocket upgrade (send Connection: Upgrade and Upgrade: websocket).",
    401: "No token, or not a live one.",
    403: "The token lacks the operation's scope.",
    404: "No such contact.",
    408: f"The body did not arrive within {BODY_TIMEOUT_S} s.",
    413: f"The body is over {MAX_BODY_BYTES} bytes.",
    422: "A field is missing, too long or wrong; `field` names it (e.g. events.0.text).",
    429: "Over the token's rate, or too many wrong tokens from this address (or, for the websocket, too many sockets for this token); wait Retry-After seconds.",
    503: "The engine runs without the API (no database), or has no room for it now (sockets, a contact written by many at once); try again.",
}


@dataclass(frozen=True)
class Param:
    name: str
    where: str
    """path or query."""
    description: str
    pattern: str = ""
    max_length: int = 80
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    scope: str
    """The token scope it needs; every API operation has one (the document itself is public and not here)."""
    summary: str
    success: int
    answer: type[BaseModel] | None
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = field(default=(401, 403, 429, 503))


CONTACT_ID = Param("contact_id", "path", "The contact's public id (ct_...).", r"^ct_[A-Za-z0-9_-]{8,36}$", 40, True)
OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/api/v1/contacts", "createContact", "journey:write",
              "Create a contact for a customer (number and/or account); it gets an `api` leg that the next call from that number finds.",
              201, ContactJourney, ContactCreate, errors=(401, 403, 408, 413, 422, 429, 503)),
    Operation("GET", "/api/v1/contacts", "listContacts", "journey:read",
              "A customer's contacts (newest first) with every leg's journey, by number or account; and their legs in no contact.",
              200, ContactList, params=(
                  Param("number", "query", "The customer's phone number.", r"^\+?[0-9]{2,32}$", 33),
                  Param("account", "query", "The customer's account.", "", 80),
                  Param("limit", "query", "At most this many contacts (1-20, default 10).", r"^([1-9]|1[0-9]|20)$", 2),
              ), errors=(401, 403, 422, 429, 503)),
    Operation("GET", "/api/v1/contacts/{contact_id}", "getContact", "journey:read",
              "One contact with its legs (channel, times) and each leg's typed events in order.",
              200, ContactJourney, params=(CONTACT_ID,), errors=(401, 403, 404, 422, 429, 503)),
    Operation("POST", "/api/v1/contacts/{contact_id}/events", "appendEvents", "journey:write",
              f"Append 1-{MAX_EVENTS_PER_REQUEST} typed events (email, web_form, social_message, crm_update, note) to the contact's api leg, in order.",
              201, AppendResult, AppendEvents, params=(CONTACT_ID,), errors=(401, 403, 404, 408, 413, 422, 429, 503)),
    Operation("GET", EVENTS_PATH, "eventsSocket", "journey:read",
              "A websocket (send the token in the Authorization header of the upgrade request): one JSON ApiEvent a message, as contacts are "
              "created and events appended. A reader more than 256 events behind is closed with code 1013; catch up with listContacts.",
              101, None, params=(
                  Param("contact", "query", "Only this contact's events.", r"^ct_[A-Za-z0-9_-]{8,36}$", 40),
                  Param("types", "query", "Comma-separated event types (contact.created, journey.event_appended).", r"^[a-z._,]*$", 80),
              ), errors=(400, 401, 403, 422, 429, 503)),
)


def _schemas() -> tuple[dict[str, Any], dict[tuple[Any, str], str]]:
    """Every model's JSON Schema under components, and each model's $ref."""
    wanted: list[tuple[type[BaseModel], Any]] = [(model, "validation") for model in (ContactCreate, AppendEvents)]
    wanted += [(model, "serialization") for model in (ContactJourney, ContactList, AppendResult, ApiError, ApiEvent)]
    refs, top = models_json_schema(wanted, ref_template=REF)
    return top.get("$defs", {}), {(model, mode): schema["$ref"] for (model, mode), schema in refs.items()}


def _parameter(param: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": param.max_length}
    if param.pattern:
        schema["pattern"] = param.pattern
    return {"name": param.name, "in": param.where, "required": param.required or param.where == "path", "description": param.description, "schema": schema}


def _operation(op: Operation, refs: dict[tuple[Any, str], str]) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": refs[(ApiError, "serialization")]}}}}
    responses: dict[str, Any] = {}
    if op.answer is not None:
        responses[str(op.success)] = {"description": "Done.", "content": {"application/json": {"schema": {"$ref": refs[(op.answer, "serialization")]}}}}
    else:
        responses[str(op.success)] = {"description": "Switching to the websocket; each message is an ApiEvent.",
                                      "x-websocket-message": {"$ref": refs[(ApiEvent, "serialization")]}}
    for status in op.errors:
        responses[str(status)] = {"description": ERROR_TEXTS[status], **error}
    document: dict[str, Any] = {
        "operationId": op.operation_id, "summary": op.summary, "security": [{"bearer": [op.scope]}],
        "x-scope": op.scope, "responses": responses,
    }
    if op.params:
        document["parameters"] = [_parameter(param) for param in op.params]
    if op.body is not None:
        document["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": refs[(op.body, "validation")]}}}}
    return document


@cache
def openapi_document() -> dict[str, Any]:
    schemas, refs = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    paths[OPENAPI_PATH] = {"get": {
        "operationId": "openapiDocument", "summary": "This document (public).", "security": [],
        "responses": {"200": {"description": "The OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object"}}}}},
    }}
    event_body = {"required": True, "content": {"application/json": {"schema": {"$ref": refs[(ApiEvent, "serialization")]}}}}
    signature_help = (f"{SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 with the webhook's secret over \"<t>.<raw body>\">. "
                      f"Refuse a t more than 5 minutes away. {EVENT_ID_HEADER} (also the body's `id`) repeats on a redelivery: drop what you have seen.")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Threadline Journey API", "version": "1.0.0",
                 "description": "Contacts and their journeys across channels, for other systems. Tokens: `threadline tokens create NAME --scope journey:read`."},
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "servers": [{"url": "/"}],
        "paths": paths,
        "webhooks": {"journeyEvent": {"post": {
            "summary": "An ApiEvent, POSTed to each url in the settings' [[api.webhooks]] that subscribes to its type; retried with back-off until a 2xx.",
            "description": signature_help,
            "parameters": [{"name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": {"type": "string"}},
                           {"name": EVENT_ID_HEADER, "in": "header", "required": True, "schema": {"type": "string"}}],
            "requestBody": event_body,
            "responses": {"200": {"description": "Delivered (any 2xx); anything else is retried."}},
        }}},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": f"An API token; scopes: {', '.join(SCOPES)}."}},
        },
    }
