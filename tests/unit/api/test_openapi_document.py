"""The Journey API's OpenAPI 3.1 document: sound by the 3.1 rules, generated from the models, and in
step with the routes and the web server's access table (no API route without a token scope)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.api.api_schema import SCOPES, AppendEvents, ContactCreate
from engine.api.openapi_document import OPENAPI_PATH, OPERATIONS, openapi_document
from engine.health import HealthBoard
from engine.web.http_server import ACCESS, build_app
from openapi_check import SchemaMismatch, problems, resolve, validate


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(json.dumps(openapi_document()))  # as a client reads it


def test_the_document_is_sound(document: dict[str, Any]) -> None:
    assert problems(document) == []
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["bearer"]["description"]}


def test_a_broken_document_is_caught(document: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(document))
    broken["paths"]["/api/v1/contacts/{contact_id}"]["get"]["parameters"] = []
    broken["paths"]["/api/v1/contacts"]["post"]["responses"] = {}
    broken["components"]["schemas"].pop("Leg")
    found = "\n".join(problems(broken))
    assert "path parameters [] but the template has ['contact_id']" in found and "POST /api/v1/contacts: no responses" in found
    assert "#/components/schemas/Leg does not resolve" in found


def test_every_operation_needs_a_bearer_scope_and_errors_use_one_schema(document: dict[str, Any]) -> None:
    for op in OPERATIONS:
        documented = document["paths"][op.path][op.method.lower()]
        assert documented["security"] == [{"bearer": [op.scope]}] and op.scope in SCOPES
        for status, answer in documented["responses"].items():
            if status.startswith(("4", "5")):
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ApiError"}
    assert document["paths"][OPENAPI_PATH]["get"]["security"] == [], "the document itself is public"
    for op in OPERATIONS:
        documented = set(document["paths"][op.path][op.method.lower()]["responses"])
        assert op.body is None or "408" in documented, f"{op.operation_id}: a body that trickles is answered 408"
    assert "400" in document["paths"]["/api/v1/events"]["get"]["responses"], "a plain GET of the websocket is answered 400"


def test_the_request_schemas_are_the_models_own(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["ContactCreate"]["additionalProperties"] is False
    events = schemas["AppendEvents"]["properties"]["events"]
    assert events["maxItems"] == 20 and set(events["items"]["discriminator"]["mapping"]) == {"email", "web_form", "social_message", "crm_update", "note"}
    good = {"events": [{"type": "crm_update", "text": "order 123 delayed", "record_id": "123"}, {"type": "note", "text": "called twice"}]}
    AppendEvents.model_validate(good)
    validate(document, schemas["AppendEvents"], good)
    for bad in ({"events": []}, {"events": [{"type": "fax", "text": "x"}]}, {"events": [{"type": "note", "text": "x" * 1001}]}, {"events": [{"type": "note"}]}):
        with pytest.raises(SchemaMismatch):
            validate(document, schemas["AppendEvents"], bad)
        with pytest.raises(ValueError):
            AppendEvents.model_validate(bad)
    with pytest.raises(SchemaMismatch):
        validate(document, schemas["ContactCreate"], {"customer_number": "12", "colour": "red"})
    with pytest.raises(ValueError, match="customer_number or customer_account"):
        ContactCreate.model_validate({"customer_name": "김민수"})
    assert resolve(document, "#/components/schemas/ApiEvent")["properties"]["type"]["enum"] == ["contact.created", "journey.event_appended"]


def test_every_api_route_is_in_the_access_table_with_the_documents_scope() -> None:
    app = build_app(HealthBoard(("ari",)), lambda: {})
    api_routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"}
    assert api_routes == {(op.method, op.path) for op in OPERATIONS} | {("GET", OPENAPI_PATH)}
    for op in OPERATIONS:
        assert ACCESS[(op.method, op.path)].api_scope == op.scope, op.path
    for (method, path), rule in ACCESS.items():
        if path.startswith("/api/v1/"):
            assert rule.api_scope in SCOPES and not rule.public and not rule.roles and not rule.admin_token and not rule.loopback, \
                f"{method} {path}: an API route opens with a token scope only"
        else:
            assert not rule.api_scope, f"{method} {path}: only /api/v1 routes take API tokens"
