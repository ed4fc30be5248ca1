"""Secure by default: loopback bind unless a token is set, bearer token on POST routes, bounded bodies,
and no driving from web pages (foreign ``Host`` headers and cross-origin requests are refused)."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer.config import API_TOKEN_ENV, ApiSettings
from producer.errors import SeedstreamError
from producer.sidecar.models import ErrorResponse

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


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
"""Host names the sidecar always answers to (with any port)."""

ALLOWED_HOSTS_SETTING = "api.allowed_hosts (SEEDSTREAM_API__ALLOWED_HOSTS)"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _host_name(host: str) -> str:
    """A bind address in the form a ``Host`` header carries: lower case, IPv6 in brackets."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    return f"[{name}]" if ":" in name else name


def split_host(value: str, scheme: str = "http") -> tuple[str, int] | None:
    """A ``Host`` header (``name``, ``name:port``, ``[v6]:port``) → (name, port); None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]") + 1
        name, rest = (value[:end], value[end:]) if end > 2 else ("", "")
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if not name or not (rest == "" or rest.startswith(":")):
        return None
    if not rest:
        return name, _DEFAULT_PORTS.get(scheme, 80)
    port = rest[1:]
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    return name, int(port)


def split_origin(value: str) -> tuple[str, str, int] | None:
    """An ``Origin`` header → (scheme, host name, port); None for ``null`` or anything malformed."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path or parts.query or parts.username:
        return None
    return scheme, _host_name(parts.hostname), port if port is not None else _DEFAULT_PORTS[scheme]


class SameOriginOnly:
    """ASGI middleware: web pages must not drive the sidecar.

    * A ``Host`` header that is not a loopback name, the bind host or one of ``allowed_hosts`` gets
      400: a page on a rebinding domain (``attacker.example`` → 127.0.0.1) sends its own name.
    * An ``Origin`` header (browsers send one on cross-origin requests and on every POST) that is
      not the sidecar's own origin gets 403: a page elsewhere cannot pause or clean through simple
      ``text/plain`` or form POSTs, which need no CORS preflight. Requests without ``Origin`` (curl,
      scripts, healthchecks) pass, and so do the Swagger UI's at ``/docs``, which are same-origin.
    """

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.port = settings.port
        bind = _host_name(settings.host)
        wildcard = bind in {"0.0.0.0", "[::]"}  # noqa: S104 - a bind address, not a name anyone sends
        names = [*LOOPBACK_NAMES, *([] if wildcard else [bind]), *settings.allowed_hosts]
        self.hosts = frozenset(names)
        self.shown = ", ".join(dict.fromkeys(names))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await _send_error(send, *refusal)

    def refusal(self, scope: Scope) -> tuple[int, ErrorResponse] | None:
        """Why this request is refused (status and body), or None to let it through."""
        headers: dict[bytes, bytes] = {}
        for key, value in scope.get("headers") or []:
            headers.setdefault(key, value)
        given = str(scope.get("scheme") or "http")
        scheme = {"ws": "http", "wss": "https"}.get(given, given)
        raw_host = headers.get(b"host", b"").decode("latin-1")
        host = split_host(raw_host, scheme)
        if host is None or host[0] not in self.hosts:
            return 400, ErrorResponse(
                error="host_not_allowed",
                message=(
                    f"Host header {raw_host!r} is not a name this sidecar answers to ({self.shown}); "
                    "other names are refused so a web page cannot reach it through DNS rebinding. "
                    f"To reach it by another name, add that name to {ALLOWED_HOSTS_SETTING}"
                ),
            )
        raw_origin = headers.get(b"origin")
        if raw_origin is None:
            return None
        origin = raw_origin.decode("latin-1")
        server = scope.get("server")
        served = {self.port, host[1]} | ({server[1]} if server and isinstance(server[1], int) else set())
        parsed = split_origin(origin)
        if parsed is not None and parsed[0] == scheme and parsed[1] in self.hosts and parsed[2] in served:
            return None
        return 403, ErrorResponse(
            error="cross_origin_refused",
            message=(
                f"cross-origin request refused: Origin {origin!r} is not this sidecar "
                f"({scheme}://{raw_host}); web pages elsewhere may not drive it. Send requests without "
                "an Origin header (curl, scripts) or from the sidecar's own pages (/docs); to allow "
                f"another host name, add it to {ALLOWED_HOSTS_SETTING}"
            ),
        )


async def _send_error(send: Send, status_code: int, body: ErrorResponse) -> None:
    payload = body.model_dump_json(exclude_none=True).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
