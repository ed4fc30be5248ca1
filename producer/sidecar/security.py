"""Secure by default: loopback bind unless a token is set, bearer token on POST routes, bounded bodies."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer.config import API_TOKEN_ENV
from producer.errors import SeedstreamError

bearer = HTTPBearer(auto_error=False, description=f"The token in {API_TOKEN_ENV}.")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (``127.0.0.0/8``, ``::1``, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: SecretStr | None) -> None:
    """Refuse to serve the control API beyond this machine without a token.

    Raises:
        SeedstreamError: for a non-loopback ``host`` when no token is configured.
    """
    if token is None and not is_loopback(host):
        raise SeedstreamError(
            f"refusing to bind the sidecar API to {host} without a token: anyone who can reach it could "
            f"pause or clean the producer; set {API_TOKEN_ENV} or use --api-host 127.0.0.1"
        )


def token_checker(token: SecretStr) -> Any:
    """A dependency that lets a request through only with ``Authorization: Bearer <token>``."""
    expected = token.get_secret_value().encode()

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        # compare_digest on both branches so a missing header costs the same as a wrong one
        valid = secrets.compare_digest(given, expected)
        if credentials is None or credentials.scheme.lower() != "bearer" or not valid:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"a valid 'Authorization: Bearer <token>' header is required ({API_TOKEN_ENV})",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(require_token)


class BodyLimit:
    """ASGI middleware: requests whose body exceeds ``max_bytes`` get 413 (by header or while streaming)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                await self._reject(send, 400, "bad_request", "the Content-Length header is not a number")
                return
            if too_large:
                await self._reject_too_large(send)
                return
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        # chunked body without Content-Length: read it up to the limit, then replay it
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._reject_too_large(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject_too_large(self, send: Send) -> None:
        await self._reject(
            send, 413, "request_too_large", f"request bodies are limited to {self.max_bytes} bytes"
        )

    @staticmethod
    async def _reject(send: Send, code: int, error: str, message: str) -> None:
        import orjson

        payload = orjson.dumps({"error": error, "message": message})
        await send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
