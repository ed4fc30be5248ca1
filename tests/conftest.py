"""Shared fixtures: one real Kafka broker and one real Spark session per test run.

Kafka comes from ``KAFKA_BOOTSTRAP_SERVERS`` if set, else from testcontainers when a Docker engine
answers, else from our own local KRaft broker on a free port. With ``CI=true`` a missing runtime
fails the test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from producer.errors import SeedstreamError
from producer.stack.broker import LocalBroker, free_port

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO_ROOT = Path(__file__).resolve().parent.parent


def runtime_missing(what: str) -> NoReturn:
    """Skip locally, fail in CI: integration tests never silently skip there."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: integration tests must not skip)")
    pytest.skip(what)


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of a real Kafka broker for the whole test run."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"), port=free_port())
    try:
        info = broker.start(timeout=120)
    except SeedstreamError as error:
        runtime_missing(f"no Kafka broker could be started: {error}")
    try:
        yield info.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """A factory of names that no other test uses (topics, tables, consumer groups)."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture
def topic_factory(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Callable[..., Awaitable[str]]:
    """Create a uniquely named topic on the real broker: ``await topic_factory(partitions=3)``."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def create(prefix: str = "test", partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = unique_name(prefix)
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=30000)
        await asyncio.wait_for(admin.start(), timeout=30)
        try:
            topic = NewTopic(name, partitions, replication_factor=1, topic_configs=config or {})
            await asyncio.wait_for(admin.create_topics([topic]), timeout=30)
        finally:
            await admin.close()
        return name

    return create


@pytest.fixture
def data_dir_factory(tmp_path: Path) -> Callable[[str], Path]:
    """Fresh directories under this test's temp dir: ``data_dir_factory("producer")``."""
    counter = iter(range(1_000_000))

    def make(prefix: str = "data") -> Path:
        path = tmp_path / f"{prefix}-{next(counter)}"
        path.mkdir(parents=True)
        return path

    return make


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One real Spark session with Delta and the Kafka source for the whole test run."""
    try:
        from streaming.session import SparkSettings, build_spark

        session = build_spark(
            SparkSettings(
                app_name="seedstream-tests",
                ui_enabled=False,
                shuffle_partitions=2,
                warehouse_dir=str(tmp_path_factory.mktemp("warehouse")),
            )
        )
    except (ImportError, SeedstreamError) as error:
        runtime_missing(f"no Spark session with Delta could be built: {error}")
    except Exception as error:  # noqa: BLE001 - a JVM that fails to start raises many types
        runtime_missing(f"Spark failed to start: {error}")
    yield session
    session.stop()


@pytest.fixture
def run_async() -> Callable[[Awaitable[Any], float], Any]:
    """Run a coroutine to completion with a timeout from synchronous test code."""

    def run(coroutine: Awaitable[Any], timeout: float = 60.0) -> Any:
        async def bounded() -> Any:
            return await asyncio.wait_for(coroutine, timeout=timeout)

        return asyncio.run(bounded())

    return run
