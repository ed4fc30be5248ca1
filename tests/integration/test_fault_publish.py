"""A backfill with every fault kind into a real broker publishes what ``seedstream generate`` writes,
and its labels on ``<scenario>.fault-labels``."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from producer.engine.engine import Engine, RunRequest
from producer.generation.fault_labels import FaultLabel, label_topic
from producer.generation.fault_settings import FAULT_KINDS
from producer.generation.shard import Shard
from producer.kafka.records import topic_partitions
from tests.integration.producer_support import expected, producer_config, read_all, read_topic

pytestmark = pytest.mark.kafka

START = datetime(2025, 11, 8, tzinfo=UTC)
END = START + timedelta(hours=2)  # 8 intervals of 15 minutes; late records come 2–3 intervals later


async def test_a_faulted_backfill_publishes_the_generated_records_and_labels(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    data_dir_factory: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    rates = {f"faults__{kind}__rate": 0.06 for kind in FAULT_KINDS}
    config = producer_config("small", kafka_bootstrap, unique_name("faults") + ".", **rates)
    engine = Engine(config, data_dir_factory("producer"), Shard(), connect_timeout=30)
    await asyncio.wait_for(engine.run(RunRequest(START, END)), timeout=120)

    generated = tmp_path / "generated"
    want = expected(config, START, END, generated)
    got = await read_all(config)
    assert Counter(got["events"].values) == Counter(want["events"])
    assert got["ground_truth"].values and len(got["ground_truth"].values) == len(want["ground_truth"])

    topic = label_topic("fleet").full_name(config.kafka.topic_prefix)
    labels = await read_topic(kafka_bootstrap, topic)
    assert labels.values == (generated / f"{topic}.jsonl").read_bytes().splitlines()
    parsed = [FaultLabel.model_validate_json(value) for value in labels.values]
    assert {label.kind for label in parsed} >= set(FAULT_KINDS) - {"reference_not_yet_valid"}
    assert labels.keys == [label.record_id.encode() for label in parsed]
    assert [headers["batch_id"].decode() for headers in labels.headers] == [
        label.batch_id for label in parsed
    ]
    assert {headers["schema"] for headers in labels.headers} == {b"FaultLabel"}
    dropped = {label.record_id for label in parsed if label.kind == "drop"}
    assert dropped and not any(
        label_id in value.decode() for value in got["events"].values for label_id in dropped
    )

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        assert await topic_partitions(consumer, topic) == {0}
    finally:
        await consumer.stop()
