"""The OpenAPI document at /openapi.json, made to say what the server really does.

FastAPI writes the operations, parameters and success bodies from the routes.
What it cannot know is added here, from the routes themselves:

* who may call (security schemes, from the authentication dependency a route uses);
* every error status an operation can answer, as RFC 9457 problem+json;
* what path parameters the server accepts (ids, phone numbers), so a request the
  document calls valid is not refused.

The vendor surfaces (8x8 /SC/webcallback.php, Nixxis /data/, OBI /RI/obi) parse
their own parameters and answer in their own conventions; they are described in
docs/ and left out of this document. The schemathesis test
(tests/e2e/test_openapi_conformance.py) holds the server to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from rappel.api import auth
from rappel.api.errors import TITLES
from rappel.api.native import tenancy
from rappel.domain.ids import ID_PATTERN

Json = dict[str, Any]

#: Digits, optionally after a plus sign (`domain.phone`).
NUMBER_PATTERN = r"^\+?[0-9]{1,20}$"

#: Path and query parameters by name, as the server accepts them.
PARAMETERS: dict[str, Json] = {
    "campaign_id": {"type": "string", "pattern": ID_PATTERN},
    "queue_id": {"type": "string", "pattern": ID_PATTERN},
    "user_id": {"type": "string", "pattern": ID_PATTERN},
    "interaction_id": {"type": "string", "pattern": ID_PATTERN},
    "token_id": {"type": "string", "pattern": ID_PATTERN},
    "webhook_id": {"type": "string", "pattern": ID_PATTERN},
    "customer_id": {"type": "string", "pattern": ID_PATTERN},
    "scope_id": {"type": "string", "pattern": ID_PATTERN},
    "agent_id": {"type": "string", "pattern": ID_PATTERN},
    # An empty role is no filter.
    "role": {"type": "string", "enum": ["", "admin", "supervisor", "agent"]},
    "number": {"type": "string", "pattern": NUMBER_PATTERN},
}

SECURITY_SCHEMES: Json = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A tenant API token: `Authorization: Bearer <token>`.",
    },
    "basicToken": {
        "type": "http",
        "scheme": "basic",
        "description": "A tenant API token as the Basic password; the user name is ignored.",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": auth.SESSION_COOKIE,
        "description": "A user's session, from `POST /v1/auth/login`.",
    },
    "datadipToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A tenant token of kind `datadip` (API tokens are refused).",
    },
    "operatorToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The operator token (RAPPEL_OPERATOR_TOKEN).",
    },
}
TENANT_SECURITY: list[Json] = [{"bearerToken": []}, {"basicToken": []}, {"sessionCookie": []}]

PROBLEM: Json = {
    "type": "object",
    "description": "An RFC 9457 problem; `field` names the input at fault.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
    },
}


def install(app: FastAPI) -> None:
    """Serve the completed document (built once, on first request)."""

    def openapi() -> Json:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            complete(document, list(iter_route_contexts(app.routes)))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: Json, routes: list[RouteContext]) -> None:
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for context in routes:
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        path_format = context.path_format or route.path_format
        path = document["paths"].get(path_format)
        if path is None:
            continue
        for method in route.methods or ():
            operation = path.get(method.lower())
            if operation is not None:
                _complete_operation(route, operation)


def _complete_operation(route: APIRoute, operation: Json) -> None:
    calls = set(_calls(route.dependant))
    if "security" not in operation:
        if tenancy.operator in calls:
            operation["security"] = [{"operatorToken": []}]
        elif auth.principal in calls:
            operation["security"] = TENANT_SECURITY
    for parameter in operation.get("parameters", []):
        known = PARAMETERS.get(parameter["name"])
        if known is not None and parameter.get("in") in ("path", "query"):
            parameter["schema"] = _narrowed(parameter["schema"], known)
    responses = operation.setdefault("responses", {})
    for status in _error_statuses(route, operation):
        given = responses.get(str(status), {}).get("description")
        responses[str(status)] = _error_response(status, given)


def _narrowed(schema: Json, known: Json) -> Json:
    """`schema` with the known constraints on its string form (an optional one stays so)."""
    if "anyOf" in schema:
        kinds = [known if s.get("type") == "string" else s for s in schema["anyOf"]]
        return {**schema, "anyOf": kinds}
    return {**schema, **known}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _error_statuses(route: APIRoute, operation: Json) -> set[int]:
    # Every operation reads the database, which may be unavailable.
    statuses: set[int] = {503}
    secured = "security" in operation
    if secured:
        statuses |= {401, 403, 429}
    has_input = bool(operation.get("parameters")) or "requestBody" in operation
    if has_input:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.add(400)  # the body is not JSON at all
    # An id in the path, or naming an agent in the query, may name nothing.
    if any(
        p.get("in") == "path" or p["name"].endswith("_id") for p in operation.get("parameters", [])
    ):
        statuses.add(404)
    if set(route.methods or ()) & {"POST", "PUT", "PATCH", "DELETE"}:
        statuses.add(409)
    if set(route.methods or ()) & {"POST", "PUT", "PATCH"}:
        statuses.add(413)  # a body over RAPPEL_MAX_BODY_BYTES (api.body_limit)
    for status in route.responses:
        if isinstance(status, int) and status >= 400:
            statuses.add(status)
    # A 422 is answered as problem+json, never in FastAPI's default shape.
    if "422" in operation.get("responses", {}):
        statuses.add(422)
    return statuses


def _error_response(status: int, description: str | None = None) -> Json:
    headers: Json = {}
    if status == 401:
        headers["WWW-Authenticate"] = {"schema": {"type": "string"}}
    if status == 429:
        headers["Retry-After"] = {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 0},
        }
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    response: Json = {"description": description or TITLES.get(status, "Error"), "content": content}
    if headers:
        response["headers"] = headers
    return response
