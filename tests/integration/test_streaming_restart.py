"""kill -9 of a running ``seedstream stream``, then a restart: bronze and silver hold each record once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pyspark.sql import functions as F

from streaming.submit import run_stream
from tests.fixtures.waiting import wait_for
from tests.integration.streaming_support import (
    SEEDSTREAM,
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

INTERVALS = 6


def test_kill_9_mid_run_then_restart_holds_each_record_once(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
) -> None:
    case = make_case(
        kafka_bootstrap,
        data_dir_factory("stream"),
        unique_name("kill") + ".",
        streaming__trigger_interval="PT1S",
        streaming__max_offsets_per_trigger=40,
        streaming__watermark_delay="PT2H",
        streaming__driver_memory="1g",
    )
    create_topics(case)
    produce_backfill(case, INTERVALS)
    expected = generate(case, INTERVALS)

    log = case.data_dir / "logs" / "streaming-progress.jsonl"
    for pause in (0.5, 2.5):  # two kills, at different points of a micro-batch
        before = silver_batches_with_input(log)
        process = subprocess.Popen(
            [SEEDSTREAM, "stream", "--config", "small", "--bootstrap-servers", case.bootstrap,
             "--data-dir", str(case.data_dir)],
            env=case.env, cwd=case.data_dir, stdout=subprocess.DEVNULL,
            stderr=(case.data_dir / "stream.err").open("wb"), start_new_session=True,
        )  # fmt: skip
        try:
            wait_for(
                lambda b=before, p=process: silver_batches_with_input(log) >= b + 2 or p.poll() is not None,  # type: ignore[misc]
                300,
                "two micro-batches",
                0.2,
            )
            assert process.poll() is None, (case.data_dir / "stream.err").read_text()[-2000:]
            time.sleep(pause)  # land somewhere inside a later micro-batch
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL
    assert silver_batches_with_input(log) * 40 < len(expected["events"]), (
        "the job finished before it was killed"
    )

    run_stream(case.config, case.data_dir, available_now=True, spark=spark)

    for role, topic in case.topics.items():
        bronze = table(spark, case, "bronze", topic)
        assert bronze.count() == len(expected[role]), topic
        assert bronze.groupBy("partition", "offset").count().where(F.col("count") > 1).count() == 0
    assert silver_events(spark, case) == event_tuples(expected["events"])
    assert table(spark, case, "silver", "driver_events").count() == len(expected["events"])
    assert table(spark, case, "silver", "companies").count() == len(expected["entities"])
    assert table(spark, case, "silver", "driver_batches").count() == len(expected["ground_truth"])
    assert table(spark, case, "silver", "quarantine").count() == 0
    checks = table(spark, case, "checks", "interval_checks").collect()
    assert len(checks) == INTERVALS * 4 and {row.status for row in checks} == {"complete"}
    assert table(spark, case, "checks", "interval_checks").select(
        "batch_id", "category"
    ).distinct().count() == len(checks)
