"""The sidecar FastAPI app for one engine: routes, security, JSON errors and its own metrics registry."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import producer
from producer.config import ApiSettings
from producer.engine.engine import Engine
from producer.errors import (
    BadInputError,
    KafkaAuthenticationError,
    KafkaUnavailableError,
    NotPausedError,
    NotStartedError,
    SeedstreamError,
)
from producer.sidecar import routes
from producer.sidecar.control import Control
from producer.sidecar.docs import install_docs
from producer.sidecar.metrics import build_registry
from producer.sidecar.models import ErrorResponse
from producer.sidecar.security import BodyLimit, SameOriginOnly, token_checker

DESCRIPTION = """The control panel of one running seedstream producer: the process that publishes a
scenario's synthetic business events (entities, events per interval, and the ground truth of each
interval) into Kafka.

* **Status**: is the producer publishing, how far it got, which faults it injected, and whether
  Kafka is reachable (`/api/health`); what it has been doing (`/api/logs`); which faults it injects
  (`GET /api/faults`).
* **Control**: pause and resume publishing, clean the generated data to start afresh
  (`/api/pause`, `/api/resume`, `/api/clean`), and change the injected faults (`PUT /api/faults`).
* **Metrics**: the same counters for Prometheus (`/metrics`).

`POST` and `PUT` routes need `Authorization: Bearer <token>` when `SEEDSTREAM_API_TOKEN` is set. Requests
from other web sites are refused. Errors are JSON: `{"error": code, "message": what was wrong and
what to do}`."""

TAGS = [
    {"name": "status", "description": "What the producer is doing and has done."},
    {"name": "control", "description": "Pause, resume, clean, faults: change what the producer publishes."},
    {"name": "metrics", "description": "Prometheus counters and gauges of this producer."},
]
"""The route groups shown in Swagger UI and ReDoc, in this order."""

ERRORS: dict[type[Exception], tuple[int, str]] = {
    NotPausedError: (409, "not_paused"),
    NotStartedError: (409, "not_started"),
    BadInputError: (422, "bad_input"),
    KafkaUnavailableError: (503, "kafka_unavailable"),
    KafkaAuthenticationError: (502, "kafka_authentication_failed"),
}
"""The one table from an error class (subclasses included) to the HTTP status and error code."""
INTERNAL_ERROR = (500, "internal_error")
"""Anything not in :data:`ERRORS`."""


def error_status(error: BaseException) -> tuple[int, str]:
    """The status and error code :data:`ERRORS` gives ``error`` (its nearest listed class), else 500."""
    for cls in type(error).__mro__:
        if cls in ERRORS:
            return ERRORS[cls]
    return INTERNAL_ERROR


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    body = ErrorResponse(error=error, message=message, details=extra.pop("details", None))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=extra.get("headers"))


def _describe(problem: dict[str, Any]) -> str:
    location = [str(part) for part in problem.get("loc", ())]
    where = f"{location[0]} parameter '{'.'.join(location[1:])}'" if len(location) > 1 else "request"
    return f"{where}: {problem.get('msg', 'invalid')}"


def _install_error_handlers(app: FastAPI, engine: Engine) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "http_error"
        )
        return _error(error.status_code, code, str(error.detail), headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = list(error.errors())
        details = [
            {"loc": [str(part) for part in problem.get("loc", ())], "msg": str(problem.get("msg", ""))}
            for problem in problems
        ]
        message = "; ".join(_describe(problem) for problem in problems) or "invalid request"
        return _error(422, "invalid_request", message, details=details)

    async def mapped(request: Request, error: Exception) -> JSONResponse:
        status, code = error_status(error)
        if status != INTERNAL_ERROR[0]:
            return _error(status, code, str(error))
        engine.log.error(
            "api", "request failed", path=request.url.path, error=f"{type(error).__name__}: {error}"
        )
        message = (
            str(error)  # written for the user: what was wrong and what to do
            if isinstance(error, SeedstreamError)
            else "unexpected failure; details are in the producer log"
        )
        return _error(status, code, message)

    app.add_exception_handler(SeedstreamError, mapped)  # every error of the taxonomy
    app.add_exception_handler(Exception, mapped)  # anything else (Starlette's outermost handler)


def create_app(engine: Engine, settings: ApiSettings | None = None) -> FastAPI:
    """The sidecar for ``engine``; ``settings`` default to ``engine.config.api`` (token, body limit)."""
    settings = settings or engine.config.api
    app = FastAPI(
        title="seedstream sidecar",
        version=producer.__version__,
        description=DESCRIPTION,
        docs_url=None,  # served from packaged assets by install_docs, never from a CDN
        redoc_url=None,
        openapi_tags=TAGS,
    )
    install_docs(app)
    app.state.engine = engine
    app.state.control = Control(engine)
    app.state.registry = build_registry(engine)
    app.include_router(routes.api)
    if settings.token is not None:
        app.include_router(
            routes.control,
            dependencies=[token_checker(settings.token)],
            responses={401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."}},
        )
    else:
        app.include_router(routes.control)
    app.include_router(routes.metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SameOriginOnly, settings=settings)  # outermost: web pages are refused first
    _install_error_handlers(app, engine)
    return app
