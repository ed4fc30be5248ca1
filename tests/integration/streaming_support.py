"""Helpers for the streaming tests: publish records, run the real producer, read the Delta tables."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer

from producer.config import SeedstreamConfig
from producer.generation.clock import format_instant
from producer.generation.scenarios.registry import get_scenario
from producer.generation.testing import DEFAULT_EPOCH, make_config
from producer.kafka.topics import ensure_topics, topic_layouts
from producer.stack.broker import free_port
from tests.fixtures.runtime import SEEDSTREAM

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

EVENT_FIELDS = ("event_id", "driver_id", "company_id", "truck_id", "event_type", "timestamp", "batch_id")
Record = tuple[str, bytes | None, bytes | None]
"""(topic, key, value) — value None is a Kafka record without a value."""


@dataclass(frozen=True)
class StreamCase:
    """One test's isolated world: a config with its own topic prefix and a data dir."""

    config: SeedstreamConfig
    data_dir: Path
    bootstrap: str
    prefix: str
    preset: str = "small"

    @property
    def topics(self) -> dict[str, str]:
        """Role → Kafka topic (scenarios with one topic per role)."""
        scenario = get_scenario(self.config.scenario)
        return dict(scenario.topic_names(self.prefix).names())

    @property
    def all_topics(self) -> dict[str, str]:
        """Scenario topic name → Kafka topic, in publishing order."""
        return get_scenario(self.config.scenario).topic_names(self.prefix).all_names()

    @property
    def env(self) -> dict[str, str]:
        """Environment for subprocesses: the same prefix, the seed and the streaming settings."""
        env = dict(os.environ)
        env["SEEDSTREAM_KAFKA__TOPIC_PREFIX"] = self.prefix
        env["SEEDSTREAM_KAFKA__PARTITIONS"] = str(self.config.kafka.partitions)
        if self.config.seed is not None:
            env["SEEDSTREAM_SEED"] = str(self.config.seed)
        streaming = self.config.streaming.model_dump(mode="json", exclude_none=True)
        for name, value in streaming.items():
            env[f"SEEDSTREAM_STREAMING__{name.upper()}"] = str(value)
        return env


def make_case(
    bootstrap: str, data_dir: Path, prefix: str, preset: str = "small", **overrides: Any
) -> StreamCase:
    config = make_config(
        preset,
        kafka__bootstrap_servers=bootstrap,
        kafka__topic_prefix=prefix,
        kafka__partitions=2,
        streaming__metrics_port=0,
        streaming__ui_port=0,
        streaming__shuffle_partitions=2,
        **overrides,
    )
    return StreamCase(config, data_dir, bootstrap, prefix, preset)


def create_topics(case: StreamCase) -> None:
    layouts = topic_layouts(get_scenario(case.config.scenario).topics(), case.config.kafka)
    asyncio.run(asyncio.wait_for(ensure_topics(layouts, case.config.kafka), timeout=60))


async def _publish(bootstrap: str, groups: list[list[Record]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await asyncio.wait_for(producer.start(), timeout=30)
    try:
        for group in groups:
            for topic, key, value in group:
                await producer.send(topic, key=key, value=value)
            await asyncio.wait_for(producer.flush(), timeout=60)
    finally:
        await producer.stop()


def publish(case: StreamCase, *groups: list[Record]) -> None:
    """Publish groups of records in order; each group is acknowledged before the next starts."""
    asyncio.run(asyncio.wait_for(_publish(case.bootstrap, [list(g) for g in groups]), timeout=120))


def run_cli(case: StreamCase, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDSTREAM, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=case.env,
        cwd=case.data_dir,
    )


def produce_backfill(case: StreamCase, intervals: int, epoch: datetime = DEFAULT_EPOCH) -> None:
    """Backfill ``intervals`` intervals with the real producer (``seedstream produce --from --to``)."""
    length = get_scenario(case.config.scenario).interval_length(case.config)
    result = run_cli(
        case,
        "produce",
        "--config",
        case.preset,
        "--bootstrap-servers",
        case.bootstrap,
        "--data-dir",
        str(case.data_dir / "producer"),
        "--from",
        format_instant(epoch),
        "--to",
        format_instant(epoch + intervals * length),
        "--api-port",
        str(free_port()),
    )
    assert result.returncode == 0, result.stderr


def generate(
    case: StreamCase, intervals: int, epoch: datetime = DEFAULT_EPOCH
) -> dict[str, list[dict[str, Any]]]:
    """``seedstream generate`` output (parsed JSON lines) by scenario topic name, and by role for the
    roles that have one topic (entities, events, ground_truth)."""
    length = get_scenario(case.config.scenario).interval_length(case.config)
    out = case.data_dir / "generated"
    result = run_cli(
        case,
        "generate",
        "--config",
        case.preset,
        "--from",
        format_instant(epoch),
        "--to",
        format_instant(epoch + intervals * length),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    scenario = get_scenario(case.config.scenario)
    by_topic = {
        spec.name: [json.loads(line) for line in (out / f"{kafka}.jsonl").read_text().splitlines()]
        for spec, kafka in zip(scenario.topics(), case.all_topics.values(), strict=True)
    }
    output: dict[str, list[dict[str, Any]]] = dict(by_topic)
    for role in ("entities", "events", "ground_truth"):
        specs = [spec for spec in scenario.topics() if spec.role == role]
        if len(specs) == 1:
            output[role] = by_topic[specs[0].name]
    return output


def records_of(case: StreamCase, role: str, values: Iterable[dict[str, Any]], key: str) -> list[Record]:
    topic = case.topics[role]
    return [
        (topic, str(value[key]).encode(), json.dumps(value, separators=(",", ":")).encode())
        for value in values
    ]


def table(spark: SparkSession, case: StreamCase, kind: str, name: str) -> Any:
    base = case.data_dir / "delta"
    return spark.read.format("delta").load(str(base / kind / name))


def silver_events(spark: SparkSession, case: StreamCase) -> set[tuple[Any, ...]]:
    """Silver driver events as tuples of the model's fields, timestamps formatted like the producer's."""
    from pyspark.sql import functions as F

    frame = table(spark, case, "silver", "driver_events").select(
        *(
            F.date_format("timestamp", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").alias("timestamp")
            if name == "timestamp"
            else F.col(name)
            for name in EVENT_FIELDS
        )
    )
    return {tuple(row) for row in frame.collect()}


def event_tuples(events: Iterable[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {tuple(event[name] for name in EVENT_FIELDS) for event in events}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def shifted(text: str, delta: timedelta) -> str:
    return format_instant(instant(text) + delta)


def silver_batches_with_input(progress_log: Path) -> int:
    """Micro-batches of the silver query that read something, over every run so far. A line that
    is not whole JSON (a run killed, or still writing, mid-line) is skipped."""
    if not progress_log.exists():
        return 0
    lines = []
    for text in progress_log.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return sum(
        1
        for line in lines
        if line.get("event") == "progress"
        and line.get("name") == "silver"
        and line.get("numInputRows", 0) > 0
    )
