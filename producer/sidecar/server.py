"""Serving the sidecar with uvicorn in the engine's own event loop, and stopping both together.

The socket is bound before anything else runs, so a busy port or a refused bind is one clear error
at start. uvicorn's own signal handling is switched off: the engine owns SIGINT/SIGTERM, and the
server stops when the engine's run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Generator

import uvicorn

from producer.config import ApiSettings
from producer.engine.engine import Engine
from producer.errors import SeedstreamError
from producer.sidecar.app import create_app
from producer.sidecar.security import check_bind

SHUTDOWN_SECONDS = 5.0


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the engine."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``.

    Raises:
        SeedstreamError: naming the address and the fix when it cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as error:
        raise SeedstreamError(
            f"the sidecar API cannot listen on {host}:{port} ({error.strerror or error}); "
            "pass a free --api-port or stop whatever uses it"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve_sidecar(
    engine: Engine, settings: ApiSettings, sock: socket.socket | None = None
) -> Callable[[], Awaitable[None]]:
    """Start the sidecar next to ``engine`` in this event loop; returns the coroutine that stops it.

    Raises:
        SeedstreamError: for a non-loopback bind without a token, or an address that cannot be bound.
    """
    check_bind(settings.host, settings.token)
    sock = sock or bind(settings.host, settings.port)
    config = uvicorn.Config(
        create_app(engine, settings),
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=int(SHUTDOWN_SECONDS),
        server_header=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="seedstream-sidecar")
    engine.log.info(
        "api", "sidecar listening", url=f"http://{settings.host}:{sock.getsockname()[1]}", docs="/docs"
    )

    def report(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            engine.log.error("api", "sidecar stopped unexpectedly", error=repr(done.exception()))

    task.add_done_callback(report)

    async def stop() -> None:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_SECONDS + 2)
        except (TimeoutError, Exception):  # noqa: BLE001 - stopping must not mask the engine's outcome
            server.force_exit = True
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        finally:
            sock.close()

    return stop
