"""Helpers for the producer tests: read topics as a ``read_committed`` consumer, expected records."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from producer.config import SeedstreamConfig, load_config
from producer.generation.reference import generate_files
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard
from producer.kafka.records import topic_partitions


@dataclass
class TopicRecords:
    """What a consumer read from one topic."""

    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    headers: list[dict[str, bytes]] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)


def producer_config(preset: str, bootstrap: str, prefix: str, **overrides: object) -> SeedstreamConfig:
    """A preset aimed at the test broker with its own topic prefix."""
    settings = {"kafka.bootstrap_servers": bootstrap, "kafka.topic_prefix": prefix, "kafka.partitions": 2}
    settings.update({key.replace("__", "."): value for key, value in overrides.items()})
    return load_config(preset, settings)


def config_file(config: SeedstreamConfig, directory: Path) -> Path:
    """``config`` written as a YAML file for ``seedstream`` subprocesses (without the streaming section)."""
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude={"streaming"})))
    return path


def topic_names(config: SeedstreamConfig) -> dict[str, str]:
    """role → full topic name."""
    return dict(get_scenario(config.scenario).topic_names(config.kafka.topic_prefix).names())


SETTLE_SECONDS = 10.0
"""How long :func:`read_topic` waits for the commit markers of finished transactions."""


async def _settled_ends(
    consumer: AIOKafkaConsumer, bootstrap: str, assigned: list[TopicPartition], settle: float
) -> dict[TopicPartition, int]:
    """The ``read_committed`` end offsets once every partition's last stable offset has reached its
    high watermark, or as they are after ``settle`` seconds (a transaction still open).

    A producer's ``commit_transaction`` returns once the coordinator has logged the commit; the
    markers that make the records visible reach the partitions a little later, so a reader that
    starts right after the producer returned can find the last transaction not yet readable."""
    marks = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_uncommitted")
    await asyncio.wait_for(marks.start(), timeout=30)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settle
        while True:
            stable = await consumer.end_offsets(assigned)
            high = await marks.end_offsets(assigned)
            if all(stable[tp] >= high[tp] for tp in assigned) or loop.time() >= deadline:
                return dict(stable)
            await asyncio.sleep(0.1)
    finally:
        await marks.stop()


async def read_topic(
    bootstrap: str, topic: str, timeout: float = 60.0, settle: float = SETTLE_SECONDS
) -> TopicRecords:
    """Everything committed in ``topic`` up to its current end (``read_committed``), waiting up to
    ``settle`` seconds for the markers of transactions already committed (:func:`_settled_ends`)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await asyncio.wait_for(consumer.start(), timeout=30)
    result = TopicRecords()
    try:
        partitions = await topic_partitions(consumer, topic)
        assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await _settled_ends(consumer, bootstrap, assigned, settle)
        async with asyncio.timeout(timeout):
            for tp in assigned:
                while await consumer.position(tp) < end[tp]:
                    batch = await consumer.getmany(tp, timeout_ms=500)
                    for message in batch.get(tp, []):
                        assert message.key is not None and message.value is not None
                        result.keys.append(message.key)
                        result.values.append(message.value)
                        result.headers.append(dict(message.headers or ()))
                        result.timestamps_ms.append(message.timestamp)
    finally:
        await consumer.stop()
    return result


async def read_all(config: SeedstreamConfig) -> dict[str, TopicRecords]:
    """role → committed records of each of the config's topics."""
    names = topic_names(config)
    return {role: await read_topic(config.kafka.bootstrap_servers, name) for role, name in names.items()}


def expected(config: SeedstreamConfig, start: datetime, end: datetime, out: Path) -> dict[str, list[bytes]]:
    """role → the record values ``seedstream generate`` writes for the range (single instance)."""
    generate_files(config, start, end, out, shard=Shard())
    names = topic_names(config)
    return {
        role: [line for line in (out / f"{name}.jsonl").read_bytes().splitlines() if line]
        for role, name in names.items()
    }


def without_generation_time(values: list[bytes]) -> Counter[str]:
    """Ground-truth values with the one non-deterministic field removed, as a multiset."""
    counter: Counter[str] = Counter()
    for value in values:
        record = json.loads(value)
        record.pop("generation_time", None)
        counter[json.dumps(record, sort_keys=True)] += 1
    return counter


def summed_truth(values: list[bytes]) -> dict[str, tuple[int, dict[str, int], int]]:
    """batch_id → (event_count, event_type_counts, eligible_companies) summed over shards."""
    sums: dict[str, tuple[int, dict[str, int], int]] = {}
    for value in values:
        record = json.loads(value)
        count, types, eligible = sums.get(record["batch_id"], (0, {}, 0))
        merged = {name: types.get(name, 0) + n for name, n in record["event_type_counts"].items()}
        sums[record["batch_id"]] = (
            count + record["event_count"],
            merged,
            eligible + record["eligible_companies"],
        )
    return sums


def events_per_batch(values: list[bytes]) -> Counter[str]:
    """batch_id → number of events."""
    return Counter(json.loads(value)["batch_id"] for value in values)


async def read_every_topic(config: SeedstreamConfig) -> dict[str, TopicRecords]:
    """Scenario topic name → committed records, for scenarios with any number of topics per role."""
    names = get_scenario(config.scenario).topic_names(config.kafka.topic_prefix).all_names()
    return {name: await read_topic(config.kafka.bootstrap_servers, full) for name, full in names.items()}


def expected_every_topic(
    config: SeedstreamConfig, start: datetime, end: datetime, out: Path
) -> dict[str, list[bytes]]:
    """Scenario topic name → the record values ``seedstream generate`` writes for the range."""
    generate_files(config, start, end, out, shard=Shard())
    names = get_scenario(config.scenario).topic_names(config.kafka.topic_prefix).all_names()
    return {
        name: [line for line in (out / f"{full}.jsonl").read_bytes().splitlines() if line]
        for name, full in names.items()
    }
