"""The sidecar FastAPI app for one engine: routes, security, JSON errors and its own metrics registry."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import producer
from producer.config import ApiSettings
from producer.engine.engine import Engine, EngineNotPaused
from producer.errors import SeedstreamError
from producer.sidecar import routes
from producer.sidecar.control import Control
from producer.sidecar.metrics import build_registry
from producer.sidecar.models import ErrorResponse
from producer.sidecar.security import BodyLimit, SameOriginOnly, token_checker

DESCRIPTION = """Control and observe a running seedstream producer.

`POST` routes need `Authorization: Bearer <token>` when `SEEDSTREAM_API_TOKEN` is set.
Errors are JSON: `{"error": code, "message": what was wrong and what to do}`."""


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

    @app.exception_handler(EngineNotPaused)
    async def not_paused(request: Request, error: EngineNotPaused) -> JSONResponse:
        return _error(409, "not_paused", str(error))

    @app.exception_handler(SeedstreamError)
    async def upstream(request: Request, error: SeedstreamError) -> JSONResponse:
        return _error(502, "kafka_error", str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        engine.log.error(
            "api", "request failed", path=request.url.path, error=f"{type(error).__name__}: {error}"
        )
        return _error(500, "internal_error", "unexpected failure; details are in the producer log")


def create_app(engine: Engine, settings: ApiSettings | None = None) -> FastAPI:
    """The sidecar for ``engine``; ``settings`` default to ``engine.config.api`` (token, body limit)."""
    settings = settings or engine.config.api
    app = FastAPI(
        title="seedstream sidecar",
        version=producer.__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
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
