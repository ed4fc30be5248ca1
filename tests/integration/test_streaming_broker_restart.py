"""A broker restart under a running ``seedstream stream``: nothing missing and nothing twice.

The test runs its own broker (the shared one cannot be stopped) and stops it while the job is in
the middle of a backlog; the job must keep running without a stack trace on the terminal, resume
once the broker is back on the same port with the same log dir, and take the records produced
after the restart too. Bronze then holds each Kafka record once and silver equals ``generate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from producer.errors import SeedstreamError
from producer.stack.broker import LocalBroker, free_port
from streaming.submit import run_stream
from tests.fixtures.runtime import SEEDSTREAM, runtime_missing
from tests.fixtures.waiting import wait_for
from tests.integration.producer_support import read_topic
from tests.integration.streaming_support import (
    StreamCase,
    create_topics,
    event_tuples,
    generate,
    make_case,
    produce_backfill,
    silver_batches_with_input,
    silver_events,
    table,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.kafka, pytest.mark.spark]

BEFORE = 3
"""Intervals produced before the outage."""
INTERVALS = 6
"""Intervals produced in all (the rest after the broker is back)."""
OUTAGE_SECONDS = 15.0


@pytest.fixture
def restartable_broker(data_dir_factory: Callable[[str], Path]) -> Iterator[LocalBroker]:
    """A broker of this test alone, started; stopped at teardown whatever state the test left it in."""
    broker = LocalBroker(data_dir_factory("broker"), port=free_port())
    try:
        broker.start(timeout=120)
    except SeedstreamError as error:
        runtime_missing(f"no Kafka broker could be started: {error}")
    try:
        yield broker
    finally:
        broker.stop()


def _silver_holds(spark: SparkSession, case: StreamCase, expected: dict[str, list[dict[str, Any]]]) -> bool:
    return silver_events(spark, case) == event_tuples(expected["events"]) and table(
        spark, case, "silver", "driver_batches"
    ).count() == len(expected["ground_truth"])


def test_broker_restart_under_a_running_stream_loses_and_repeats_nothing(
    spark: SparkSession,
    restartable_broker: LocalBroker,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
) -> None:
    broker = restartable_broker
    case = make_case(
        f"{broker.host}:{broker.port}",
        data_dir_factory("stream"),
        unique_name("outage") + ".",
        streaming__trigger_interval="PT1S",
        streaming__max_offsets_per_trigger=60,
        streaming__watermark_delay="PT2H",
        streaming__driver_memory="1g",
    )
    create_topics(case)
    produce_backfill(case, BEFORE)
    expected = generate(case, INTERVALS)

    log = case.data_dir / "logs" / "streaming-progress.jsonl"
    stderr_path = case.data_dir / "stream.err"
    with stderr_path.open("wb") as terminal:
        process = subprocess.Popen(
            [SEEDSTREAM, "stream", "--config", "small", "--bootstrap-servers", case.bootstrap,
             "--data-dir", str(case.data_dir)],
            env=case.env, cwd=case.data_dir, stdout=subprocess.DEVNULL, stderr=terminal,
            start_new_session=True,
        )  # fmt: skip

    def stderr() -> str:
        return stderr_path.read_text(errors="replace")

    try:
        wait_for(
            lambda: silver_batches_with_input(log) >= 1 or process.poll() is not None,
            300,
            "a silver micro-batch with input",
            0.2,
        )
        assert process.poll() is None, stderr()[-2000:]
        before_outage = silver_batches_with_input(log)

        broker.stop()
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            assert process.poll() is None, f"the stream exited while the broker was down:\n{stderr()[-2000:]}"
            time.sleep(0.5)
        broker.start(timeout=120)
        assert process.poll() is None, stderr()[-2000:]

        produce_backfill(case, INTERVALS)  # the producer resumes after the intervals it published
        wait_for(
            lambda: process.poll() is not None or _silver_holds(spark, case, expected),
            240,
            "silver to hold every event after the broker restart",
            5.0,
        )
        assert process.poll() is None, f"the stream exited after the broker restart:\n{stderr()[-2000:]}"
        assert silver_batches_with_input(log) > before_outage
        # the outage reached the terminal as no stack trace (Python or Java)
        for trace in ("Traceback", "\tat ", "Exception"):
            assert trace not in stderr(), stderr()[-3000:]
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)  # Ctrl-C: the job stops its queries, then exits
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=120)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its group (the JVM)
        process.wait(timeout=60)

    assert process.returncode == 130, stderr()[-2000:]
    assert stderr().strip().splitlines()[-1] == "interrupted", stderr()[-2000:]

    # drain whatever bronze's slower trigger had not written yet, from the same checkpoints
    run_stream(case.config, case.data_dir, available_now=True, spark=spark)

    for role, topic in case.topics.items():
        in_kafka = asyncio.run(read_topic(case.bootstrap, topic))
        assert len(in_kafka.values) == len(expected[role]), topic
        bronze = table(spark, case, "bronze", topic)
        assert bronze.count() == bronze.select("partition", "offset").distinct().count(), topic
        bronze_values = Counter(row.value.encode() for row in bronze.select("value").collect())
        assert bronze_values == Counter(in_kafka.values), topic
    assert silver_events(spark, case) == event_tuples(expected["events"])
    assert table(spark, case, "silver", "driver_events").count() == len(expected["events"])
    assert table(spark, case, "silver", "companies").count() == len(expected["entities"])
    assert table(spark, case, "silver", "driver_batches").count() == len(expected["ground_truth"])
    assert table(spark, case, "silver", "quarantine").count() == 0
    checks = table(spark, case, "checks", "interval_checks")
    rows = checks.collect()
    assert len(rows) == INTERVALS * 4 and {row.status for row in rows} == {"complete"}
    assert checks.select("batch_id", "category").distinct().count() == len(rows)
