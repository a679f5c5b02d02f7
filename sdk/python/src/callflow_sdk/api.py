"""Serving an HTTP-like API from a plugin: :class:`Request`, :class:`Response`, a small
:class:`Router` and JSON helpers, as the Rust SDK's ``callflow_sdk::api``.

The host routes ``/v1/tenants/{tenant}/api/{path}`` to the tenant's plugin once the caller
has shown one of the tenant's API keys; the plugin sees the part after ``/api`` as
:attr:`Request.path`::

    def create(req, ctx):
        note = req.json_object("text")         # 400 malformed_json, 422 missing_field
        ctx.kv().set("note", note["text"])     # a store failure is a 503
        return Response.json(201, {"text": note["text"]})

    class Notes(Plugin):
        def api(self, request, ctx):
            return Router().post("/notes", create).handle(request, ctx)

Every error answer is JSON ``{"code": "...", "message": "..."}``, like the host's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, unquote

from .context import Context, KvError, PluginError, Unavailable


@dataclass
class Request:
    """One request, as the host received it (credentials removed)."""

    method: str
    path: str
    query: Optional[str] = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def new(method: str, path_and_query: str) -> "Request":
        path, _, query = path_and_query.partition("?")
        path = path if path.startswith("/") else f"/{path}"
        return Request(method.upper(), path, query if "?" in path_and_query else None)

    @staticmethod
    def get(path_and_query: str) -> "Request":
        return Request.new("GET", path_and_query)

    @staticmethod
    def post(path_and_query: str) -> "Request":
        return Request.new("POST", path_and_query)

    @staticmethod
    def put(path_and_query: str) -> "Request":
        return Request.new("PUT", path_and_query)

    @staticmethod
    def delete(path_and_query: str) -> "Request":
        return Request.new("DELETE", path_and_query)

    def with_header(self, name: str, value: str) -> "Request":
        self.headers.append((name.lower(), value))
        return self

    def with_body(self, body: bytes | str) -> "Request":
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        return self

    def with_json(self, value: Any) -> "Request":
        return self.with_header("content-type", "application/json").with_body(json.dumps(value))

    def header(self, name: str) -> Optional[str]:
        """The first header called ``name`` (case-insensitive)."""
        name = name.lower()
        return next((v for n, v in self.headers if n == name), None)

    def query_param(self, name: str) -> Optional[str]:
        """The first query parameter called ``name``, percent-decoded."""
        if self.query is None:
            return None
        return next((v for n, v in parse_qsl(self.query, keep_blank_values=True) if n == name), None)

    def param(self, name: str) -> Optional[str]:
        """A path parameter the :class:`Router` matched (``{id}``), percent-decoded."""
        return self.params.get(name)

    def json(self) -> Any:
        """The body as JSON, or :class:`ApiError` 400 ``malformed_json`` (an empty body
        included)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as err:
            raise ApiError(400, "malformed_json", f"the body is not valid JSON: {err}") from None

    def json_object(self, *required: str) -> dict[str, Any]:
        """The body as a JSON object holding every ``required`` key: 400
        ``malformed_json`` when it is not JSON, 422 ``invalid_field`` when it is not an
        object, 422 ``missing_field`` naming the first key it lacks."""
        value = self.json()
        if not isinstance(value, dict):
            raise ApiError(422, "invalid_field", "the body must be a JSON object")
        for key in required:
            if key not in value:
                raise ApiError(422, "missing_field", f"missing field `{key}`")
        return value


@dataclass
class Response:
    """The plugin's answer: a status (200 to 599), headers and a body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @staticmethod
    def empty(status: int) -> "Response":
        return Response(status)

    @staticmethod
    def json(status: int, value: Any) -> "Response":
        """``value`` as JSON with ``content-type: application/json``."""
        try:
            body = json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as err:
            return Response.error(500, "internal", f"the response could not be serialised: {err}")
        return Response(status, [("content-type", "application/json")], body)

    @staticmethod
    def error(status: int, code: str, message: str) -> "Response":
        """The error body every API answers with: ``{"code": code, "message": message}``."""
        return Response.json(status, {"code": code, "message": str(message)})

    @staticmethod
    def not_found() -> "Response":
        """404 ``not_found``: what a plugin that serves no API answers."""
        return Response.error(404, "not_found", "no such API route")

    def with_header(self, name: str, value: str) -> "Response":
        self.headers.append((name, value))
        return self

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        return next((v for n, v in self.headers if n.lower() == name), None)

    def json_value(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


class ApiError(Exception):
    """An error answer: raise it from a route and the router answers
    ``{"code": code, "message": message}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @staticmethod
    def from_exception(err: Exception) -> "ApiError":
        """How the router answers an exception a route let escape: a store failure is a
        503 ``store_unavailable`` (507 ``too_large`` or ``quota_exceeded``), a missing
        dependency a 503 ``unavailable``, anything else a 500 ``internal``."""
        if isinstance(err, ApiError):
            return err
        if isinstance(err, KvError):
            if err.reason == "too-large":
                return ApiError(507, "too_large", err.detail)
            if err.reason == "quota-exceeded":
                return ApiError(507, "quota_exceeded", err.detail)
            return ApiError(503, "store_unavailable", err.detail)
        if isinstance(err, Unavailable):
            return ApiError(503, "unavailable", err.message)
        if isinstance(err, PluginError):
            return ApiError(500, "internal", err.message)
        return ApiError(500, "internal", f"{type(err).__name__}: {err}")


Handler = Callable[[Request, Context], Response]


class Router:
    """Routes requests by method and path pattern to handlers.

    Patterns are ``/``-separated literals and ``{name}`` parameters (one whole segment
    each): ``/bookings/{id}/calls``. Empty segments are ignored. Routes are tried in the
    order added; a path no pattern matches is a 404 ``not_found``, one that matches only
    under other methods a 405 ``method_not_allowed`` with an ``allow`` header.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[str, list[str], Handler]] = []

    def route(self, method: str, pattern: str, handler: Handler) -> "Router":
        self._routes.append((method.upper(), _segments(pattern), handler))
        return self

    def get(self, pattern: str, handler: Handler) -> "Router":
        return self.route("GET", pattern, handler)

    def post(self, pattern: str, handler: Handler) -> "Router":
        return self.route("POST", pattern, handler)

    def put(self, pattern: str, handler: Handler) -> "Router":
        return self.route("PUT", pattern, handler)

    def patch(self, pattern: str, handler: Handler) -> "Router":
        return self.route("PATCH", pattern, handler)

    def delete(self, pattern: str, handler: Handler) -> "Router":
        return self.route("DELETE", pattern, handler)

    def handle(self, request: Request, ctx: Context) -> Response:
        path = _segments(request.path)
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            params = _match(pattern, path)
            if params is None:
                continue
            if method != request.method:
                if method not in allowed:
                    allowed.append(method)
                continue
            request.params = params
            try:
                return handler(request, ctx)
            except Exception as err:  # noqa: BLE001 - every failure becomes an answer
                api = ApiError.from_exception(err)
                return Response.error(api.status, api.code, api.message)
        if not allowed:
            return Response.not_found()
        methods = ", ".join(allowed)
        return Response.error(
            405, "method_not_allowed", f"{request.method} is not allowed here; use {methods}"
        ).with_header("allow", methods)


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _match(pattern: list[str], path: list[str]) -> Optional[dict[str, str]]:
    if len(pattern) != len(path):
        return None
    params: dict[str, str] = {}
    for seg, part in zip(pattern, path):
        if seg.startswith("{") and seg.endswith("}"):
            params[seg[1:-1]] = unquote(part)
        elif seg != part:
            return None
    return params
