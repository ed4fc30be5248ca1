"""Smoke tests of the real runtime: Kafka with aiokafka and Kafka's own tools, Spark, Delta."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from producer.errors import SeedstreamError
from producer.stack.broker import LocalBroker, free_port, port_in_use
from tests.fixtures.runtime import REPO_ROOT, SEEDSTREAM

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RECORDS = [(f"key-{n}".encode(), f'{{"n":{n}}}'.encode()) for n in range(20)]


async def _produce(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await asyncio.wait_for(producer.start(), timeout=30)
    try:
        for key, value in RECORDS:
            await producer.send(topic, key=key, value=value)
        await asyncio.wait_for(producer.flush(), timeout=30)
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await asyncio.wait_for(consumer.start(), timeout=30)
    received: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(30):
            async for message in consumer:
                assert message.key is not None and message.value is not None
                received.append((message.key, message.value))
                if len(received) == count:
                    break
    finally:
        await consumer.stop()
    return received


@pytest.fixture
def filled_topic(kafka_bootstrap: str, topic_factory: Callable[..., Awaitable[str]]) -> str:
    async def fill() -> str:
        topic = await topic_factory("smoke")
        await _produce(kafka_bootstrap, topic)
        return topic

    return asyncio.run(fill())


def test_aiokafka_round_trip(kafka_bootstrap: str, filled_topic: str) -> None:
    received = asyncio.run(_consume(kafka_bootstrap, filled_topic, len(RECORDS)))
    assert received == RECORDS


def test_kafka_console_consumer_reads_what_aiokafka_wrote(kafka_bootstrap: str, filled_topic: str) -> None:
    result = subprocess.run(
        [
            str(REPO_ROOT / "deploy" / "bin" / "kafka-tool"),
            "console-consumer",
            "--bootstrap-server",
            kafka_bootstrap,
            "--topic",
            filled_topic,
            "--from-beginning",
            "--max-messages",
            str(len(RECORDS)),
            "--timeout-ms",
            "30000",
            "--formatter-property",
            "print.key=true",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines() if line.strip()]
    assert lines == [[key.decode(), value.decode()] for key, value in RECORDS]


def test_spark_reads_topic_in_batch(spark: SparkSession, kafka_bootstrap: str, filled_topic: str) -> None:
    frame = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", kafka_bootstrap)
        .option("subscribe", filled_topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )
    rows = frame.selectExpr("CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value").collect()
    assert sorted((row.key, row.value) for row in rows) == sorted(
        (key.decode(), value.decode()) for key, value in RECORDS
    )


def test_spark_streams_topic_into_delta_available_now(
    spark: SparkSession, kafka_bootstrap: str, filled_topic: str, tmp_path: Path
) -> None:
    table = tmp_path / "delta" / "smoke"
    query = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka_bootstrap)
        .option("subscribe", filled_topic)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value", "offset")
        .writeStream.format("delta")
        .option("checkpointLocation", str(tmp_path / "checkpoints" / "smoke"))
        .trigger(availableNow=True)
        .start(str(table))
    )
    assert query.awaitTermination(120), "availableNow query did not finish within 120 s"
    assert query.exception() is None
    rows = spark.read.format("delta").load(str(table)).orderBy("offset").collect()
    assert [(row.key, row.value) for row in rows] == [(k.decode(), v.decode()) for k, v in RECORDS]
    history = spark.sql(f"DESCRIBE HISTORY delta.`{table}`").collect()
    assert history[0].operation == "STREAMING UPDATE"


def test_local_broker_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(SeedstreamError, match=f"port {port} on 127.0.0.1 is already in use"):
            LocalBroker(tmp_path, port=port).start(timeout=10)
    assert not (tmp_path / "kafka" / "broker.json").exists()


def test_local_broker_cli_start_status_stop(tmp_path: Path) -> None:
    port = free_port()
    seedstream = [SEEDSTREAM]
    data_dir = str(tmp_path / "data")
    started = subprocess.run(
        [*seedstream, "kafka", "start", "--port", str(port), "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == f"127.0.0.1:{port}"
        status = subprocess.run(
            [*seedstream, "kafka", "status", "--data-dir", data_dir],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert status.returncode == 0 and f"127.0.0.1:{port}" in status.stdout
        assert (tmp_path / "data" / "kafka" / "broker.log").stat().st_size > 0
    finally:
        stopped = subprocess.run(
            [*seedstream, "kafka", "stop", "--data-dir", data_dir],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert stopped.returncode == 0 and "stopped" in stopped.stderr
    after = subprocess.run(
        [*seedstream, "kafka", "status", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert after.returncode == 1 and "not running" in after.stdout
    assert not port_in_use("127.0.0.1", port)
