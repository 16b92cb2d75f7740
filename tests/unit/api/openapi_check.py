"""Checks of an OpenAPI 3.1 document and of values against its schemas, for the Journey API's tests.

openapi-spec-validator and jsonschema are not installed, so this checks what the document relies on:
the 3.1 rules a reader trips over (every $ref resolves, every operation has an id, responses and a
declared security scheme, path parameters match the template) and the JSON Schema keywords pydantic
emits (validate() raises SchemaMismatch with the JSON path of the first mismatch).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict, "array": list, "null": type(None)}


class SchemaMismatch(AssertionError):
    pass


def refs(node: Any, at: str = "#") -> Iterator[tuple[str, str]]:
    """(where, $ref) of every reference in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield at, value
            else:
                yield from refs(value, f"{at}/{key}")
    elif isinstance(node, list):
        for n, item in enumerate(node):
            yield from refs(item, f"{at}/{n}")


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (no {part!r})"
        node = node[part]
    return node


def problems(document: dict[str, Any]) -> list[str]:
    """Every structural problem found (empty: the document is sound)."""
    found: list[str] = []
    if not str(document.get("openapi", "")).startswith("3.1."):
        found.append(f"openapi: 3.1.x expected, got {document.get('openapi')!r}")
    info = document.get("info", {})
    if not info.get("title") or not info.get("version"):
        found.append("info: title and version are required")
    for where, ref in refs(document):
        try:
            resolve(document, ref)
        except AssertionError as exc:
            found.append(f"{where}: {exc}")
    schemes = document.get("components", {}).get("securitySchemes", {})
    for name, scheme in schemes.items():
        if scheme.get("type") not in ("apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"):
            found.append(f"securitySchemes.{name}: bad type")
        if scheme.get("type") == "http" and not scheme.get("scheme"):
            found.append(f"securitySchemes.{name}: http needs a scheme")
    for name in document.get("components", {}).get("schemas", {}):
        if not re.fullmatch(r"[a-zA-Z0-9._-]+", name):
            found.append(f"components.schemas: bad name {name!r}")
    ids: list[str] = []
    for path, item in document.get("paths", {}).items():
        if not path.startswith("/"):
            found.append(f"{path}: paths start with /")
        template = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            if method not in METHODS:
                found.append(f"{path}: {method} is not an HTTP method")
                continue
            where = f"{method.upper()} {path}"
            ids.append(op.get("operationId", ""))
            if not op.get("operationId"):
                found.append(f"{where}: no operationId")
            responses = op.get("responses") or {}
            if not responses:
                found.append(f"{where}: no responses")
            for status, answer in responses.items():
                if not re.fullmatch(r"[1-5](\d\d|XX)|default", status):
                    found.append(f"{where}: response key {status!r}")
                if "description" not in answer:
                    found.append(f"{where} {status}: a response needs a description")
            if not any(status.startswith(("2", "1")) for status in responses):
                found.append(f"{where}: no success response")
            declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            if declared != template:
                found.append(f"{where}: path parameters {sorted(declared)} but the template has {sorted(template)}")
            for param in op.get("parameters", []):
                if param.get("in") == "path" and param.get("required") is not True:
                    found.append(f"{where}: path parameter {param.get('name')} must be required")
                if param.get("in") not in ("query", "header", "path", "cookie") or "schema" not in param:
                    found.append(f"{where}: parameter {param.get('name')} needs `in` and a schema")
            for requirement in op.get("security", document.get("security", [])):
                for scheme in requirement:
                    if scheme not in schemes:
                        found.append(f"{where}: security scheme {scheme} is not defined")
    if len(ids) != len(set(ids)):
        found.append(f"operationIds repeat: {sorted(ids)}")
    return found


def validate(document: dict[str, Any], schema: dict[str, Any], value: Any, at: str = "$") -> None:
    """Raise SchemaMismatch unless `value` satisfies `schema` (the JSON Schema keywords pydantic emits)."""
    if "$ref" in schema:
        validate(document, resolve(document, schema["$ref"]), value, at)
    for part in schema.get("allOf", []):
        validate(document, part, value, at)
    if "anyOf" in schema and not any(_fits(document, part, value, at) for part in schema["anyOf"]):
        raise SchemaMismatch(f"{at}: fits none of anyOf")
    if "oneOf" in schema and sum(_fits(document, part, value, at) for part in schema["oneOf"]) != 1:
        raise SchemaMismatch(f"{at}: does not fit exactly one of oneOf")
    if "const" in schema and value != schema["const"]:
        raise SchemaMismatch(f"{at}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaMismatch(f"{at}: {value!r} not in {schema['enum']}")
    if "type" in schema:
        wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(isinstance(value, TYPES[kind]) and not (kind in ("integer", "number") and isinstance(value, bool)) for kind in wanted):
            raise SchemaMismatch(f"{at}: {type(value).__name__} is not {wanted}")
    if isinstance(value, str):
        _string(schema, value, at)
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            raise SchemaMismatch(f"{at}: {len(value)} items")
        for n, item in enumerate(value):
            if "items" in schema:
                validate(document, schema["items"], item, f"{at}[{n}]")
    elif isinstance(value, dict):
        _object(document, schema, value, at)


def _string(schema: dict[str, Any], value: str, at: str) -> None:
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
        raise SchemaMismatch(f"{at}: length {len(value)}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise SchemaMismatch(f"{at}: {value[:40]!r} does not match {schema['pattern']}")
    if schema.get("format") == "date-time":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SchemaMismatch(f"{at}: {value!r} is not a date-time") from None


def _object(document: dict[str, Any], schema: dict[str, Any], value: dict[str, Any], at: str) -> None:
    missing = [name for name in schema.get("required", []) if name not in value]
    if missing:
        raise SchemaMismatch(f"{at}: missing {missing}")
    if len(value) > schema.get("maxProperties", len(value)):
        raise SchemaMismatch(f"{at}: {len(value)} properties")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if "propertyNames" in schema:
            validate(document, schema["propertyNames"], key, f"{at}.<{key}>")
        if key in properties:
            validate(document, properties[key], item, f"{at}.{key}")
        elif extra is False:
            raise SchemaMismatch(f"{at}: unexpected {key!r}")
        elif isinstance(extra, dict):
            validate(document, extra, item, f"{at}.{key}")


def _fits(document: dict[str, Any], schema: dict[str, Any], value: Any, at: str) -> bool:
    try:
        validate(document, schema, value, at)
    except SchemaMismatch:
        return False
    return True


def answer_schema(document: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    """The schema of an operation's JSON answer with this status; fails the test if it is not documented."""
    responses = document["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which the document does not list ({sorted(responses)})"
    schema: dict[str, Any] = responses[str(status)]["content"]["application/json"]["schema"]
    return schema
