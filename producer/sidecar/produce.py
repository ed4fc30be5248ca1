"""``seedstream produce``: run the engine with signals, a backfill progress bar and the sidecar hook."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producer.config import SeedstreamConfig
from producer.datadir import DataDir
from producer.engine.engine import Engine, RunRequest
from producer.errors import BadInputError
from producer.generation.dataset import read_descriptor
from producer.generation.reference import check_range
from producer.generation.shard import Shard
from producer.kafka.client import require_kafka
from producer.sidecar.security import check_bind
from producer.sidecar.server import bind, serve_sidecar

SidecarStopper = Callable[[], Awaitable[None]]


async def start_sidecar(engine: Engine, sock: socket.socket | None = None) -> SidecarStopper | None:
    """Start the sidecar HTTP API (:mod:`producer.sidecar`) in this event loop; returns how to stop it.

    Raises:
        SeedstreamError: for a non-loopback bind without a token, or a port that cannot be bound.
    """
    return await serve_sidecar(engine, engine.config.api, sock)


def produce(
    config: SeedstreamConfig,
    data_dir: Path,
    shard: Shard,
    start: datetime | None,
    end: datetime | None,
    follow: bool,
    console: Console,
) -> Engine:
    """Run the producer until the backfill ends (unless ``follow``) or a signal stops it.

    Raises:
        BadInputError: for inconsistent flags or a range outside the dataset.
        KafkaAuthenticationError: when the broker refuses the configured credentials (nothing written).
        KafkaUnavailableError: when no broker answers within ``kafka.connect_timeout_seconds``.
    """
    if (start is None) != (end is None):
        raise BadInputError("--from and --to go together: give both for a backfill, or neither for realtime")
    if follow and start is None:
        raise BadInputError("--follow continues a backfill into realtime: it needs --from and --to")
    if start is not None and end is not None:
        check_range(config, start, end)
    check_bind(config.api.host, config.api.token)
    # Before the Engine, whose constructor creates the data dir's files: refused credentials or an
    # unreachable broker leave nothing behind.
    asyncio.run(require_kafka(config.kafka, config.kafka.connect_timeout_seconds))
    # So are a corrupt dataset descriptor and a busy API port (the socket is bound here, served later).
    descriptor = DataDir(data_dir).descriptor_file
    if descriptor.is_file():
        read_descriptor(descriptor)
    sock = bind(config.api.host, config.api.port)
    try:
        engine = Engine(config, data_dir, shard, connect_timeout=config.kafka.connect_timeout_seconds)
    except BaseException:
        sock.close()
        raise
    asyncio.run(_main(engine, RunRequest(start, end, follow), console, sock))
    return engine


async def _main(engine: Engine, request: RunRequest, console: Console, sock: socket.socket) -> None:
    engine.install_signal_handlers()
    stop_sidecar = await start_sidecar(engine, sock)
    progress_task = asyncio.create_task(_progress(engine, console)) if request.backfill else None
    try:
        await engine.run(request)
    finally:
        if progress_task is not None:
            await asyncio.sleep(0.3)
            progress_task.cancel()
            await asyncio.gather(progress_task, return_exceptions=True)
        if stop_sidecar is not None:
            await stop_sidecar()


async def _progress(engine: Engine, console: Console) -> None:
    """A rich progress bar of the backfill: intervals done of total, events/s."""
    events_topic = engine.scenario.topic_names(engine.config.kafka.topic_prefix).name("events")
    with Progress(
        TextColumn("backfill [bold]{task.fields[shard]}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("intervals"),
        TextColumn("{task.fields[events]:>10,} events  {task.fields[rate]:>9,.0f} events/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("backfill", total=None, shard=str(engine.shard), events=0, rate=0.0)
        loop = asyncio.get_running_loop()
        began, first_events = loop.time(), engine.stats.total_records(events_topic)
        while True:
            events = engine.stats.total_records(events_topic)
            elapsed = max(loop.time() - began, 1e-6)
            progress.update(
                task,
                total=engine.stats.backfill_total,
                completed=engine.stats.backfill_done,
                events=events,
                rate=(events - first_events) / elapsed,
            )
            await asyncio.sleep(0.25)
