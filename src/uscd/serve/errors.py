"""OpenAI-style errors: ``{"error": {"message", "type", "param", "code"}}`` with the right status,
for every way a request can go wrong; nothing a client sends makes the server answer otherwise."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from uscd.engine import Cancelled, DeadlineExceeded, PromptTooLong, QueueFull, ServerClosed
from uscd.errors import ContextFull, UscdError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API reports as it is."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error", param=None, code=None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def from_engine(exc: UscdError) -> ApiError:
    """The API error for a request the engine refused or stopped."""
    message = str(exc)
    if isinstance(exc, PromptTooLong):
        return ApiError(400, message, param="prompt", code="context_length_exceeded")
    if isinstance(exc, QueueFull):
        return ApiError(429, message, kind="rate_limit_error", code="queue_full")
    if isinstance(exc, DeadlineExceeded):
        return ApiError(504, message, kind="timeout_error", code="deadline_exceeded")
    if isinstance(exc, ServerClosed):
        return ApiError(503, message, kind="server_error", code="shutting_down")
    if isinstance(exc, Cancelled):
        return ApiError(499, message, kind="cancelled", code="cancelled")
    if isinstance(exc, ContextFull):
        return ApiError(400, message, code="context_length_exceeded")
    return ApiError(400, message)


def _location(loc) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors) or _body_not_an_object(errors):
        return ApiError(400, "the request body is not a valid JSON object", code="invalid_json").response()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = _location(first.get("loc", ()))
    message = f"{param}: {first.get('msg', 'invalid value')}"
    return ApiError(422, message, param=param, code="invalid_type").response()


def _body_not_an_object(errors: list[dict]) -> bool:
    """No body, or a JSON value that is not an object: malformed, not a field of the wrong type."""
    kinds = ("model_attributes_type", "missing", "dict_type")
    return any(tuple(e.get("loc", ())) == ("body",) and e.get("type") in kinds for e in errors)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return ApiError(exc.status_code, str(exc.detail), code=code).response()


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error on %s", request.url.path)
    return ApiError(500, f"internal error: {type(exc).__name__}", kind="server_error").response()


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
