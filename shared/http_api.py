"""The JSON HTTP conventions both apps publish: body validation, the error format, OpenAPI.

Every body is parsed by a pydantic model; a refusal answers
``{"error": kind, "message": ..., "fields": [{"field": "lines[0].qty", "message": ...}]}``
with 400 (invalid), 401 (not signed in), 403 (not allowed), 404 (unknown id) or 409
(wrong state or refused by the rules), and the request changed nothing.
The OpenAPI description is built from the app's URL map, the views' docstrings and the
models they declare, so an endpoint cannot exist without being described.
"""

import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from flask import Flask, Response, request
from pydantic import BaseModel, ValidationError

from .errors import DomainError, IllegalTransition, InvalidInput, NotFound, Refused

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """A refusal raised by an entrypoint itself (authentication, permissions)."""

    def __init__(self, status: int, kind: str, message: str):
        self.status, self.kind, self.message = status, kind, message
        super().__init__(message)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype="application/json")


def field_name(loc: tuple) -> str:
    """pydantic's ``('lines', 0, 'qty')`` as ``lines[0].qty``."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def parse_body(model: type[M]) -> M:
    """Validate the request's JSON body against ``model``; every bad field is reported at once."""
    raw = request.get_data(cache=True)
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise _invalid(exc) from None


def parse_query(model: type[M]) -> M:
    """Validate the query string against ``model``."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> InvalidInput:
    errors = [(field_name(tuple(e["loc"])), e["msg"]) for e in exc.errors(include_url=False)]
    return InvalidInput(*errors[0], *errors[1:])


def documented(body: type[BaseModel] | None = None, query: type[BaseModel] | None = None) -> Callable:
    """Attach the request models to a view so the OpenAPI description can show them."""

    def mark(view: Callable) -> Callable:
        view.api_body = body  # type: ignore[attr-defined]
        view.api_query = query  # type: ignore[attr-defined]
        return view

    return mark


_STATUS = [
    (NotFound, 404, "not_found"),
    (IllegalTransition, 409, "illegal_transition"),
    (Refused, 409, "refused"),
    (InvalidInput, 400, "invalid_input"),
]


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Response:
        status, kind = next(((s, k) for cls, s, k in _STATUS if isinstance(exc, cls)), (409, "refused"))
        body: dict[str, Any] = {"error": kind, "message": str(exc), "problems": exc.problems}
        if isinstance(exc, InvalidInput):
            body["fields"] = [{"field": f, "message": m} for f, m in exc.fields]
        return json_response(body, status)

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return json_response({"error": exc.kind, "message": exc.message}, exc.status)

    @app.errorhandler(404)
    def not_found(exc: Exception) -> Response | tuple:
        if request.path.startswith("/api/"):
            return json_response({"error": "not_found", "message": f"no endpoint {request.path}"}, 404)
        return exc  # type: ignore[return-value]

    @app.errorhandler(405)
    def not_allowed(exc: Exception) -> Response | tuple:
        if request.path.startswith("/api/"):
            message = f"{request.method} is not allowed on {request.path}"
            return json_response({"error": "method_not_allowed", "message": message}, 405)
        return exc  # type: ignore[return-value]


def openapi_document(app: Flask, title: str, version: str, prefix: str = "/api/") -> dict:
    """OpenAPI 3.1 for every route under ``prefix``, from the URL map and the views."""
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(prefix):
            continue
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        doc = (view.__doc__ or "").strip()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "operationId": f"{rule.endpoint}_{method.lower()}",
                "summary": doc.splitlines()[0] if doc else "",
                "description": doc,
                "tags": [rule.endpoint.split(".")[0]],
                "responses": {
                    "200": {"description": "OK"},
                    "400": {"description": "invalid input: every bad field is named"},
                    "404": {"description": "unknown id"},
                    "409": {"description": "not allowed in the current state, or refused"},
                },
            }
            params = [
                {"name": arg, "in": "path", "required": True, "schema": {"type": "string"}}
                for arg in sorted(rule.arguments)
            ]
            query = getattr(view, "api_query", None)
            if query is not None:
                for name, spec in query.model_json_schema()["properties"].items():
                    params.append({"name": name, "in": "query", "schema": spec})
            if params:
                op["parameters"] = params
            body = getattr(view, "api_body", None)
            if body is not None and method in ("POST", "PUT", "PATCH"):
                schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[body.__name__] = schema
                op["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}
                    },
                }
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }
