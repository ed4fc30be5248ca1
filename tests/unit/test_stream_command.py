"""`seedstream stream` against an address where no broker answers: one clear line, bounded time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from producer.stack.broker import free_port
from tests.fixtures.runtime import REPO_ROOT


def test_stream_with_unreachable_kafka_fails_fast_with_one_line(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "producer.cli", "stream", "--config", "small", "--bootstrap-servers", address,
         "--data-dir", str(tmp_path / "data"), "--available-now"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False,
        env={**os.environ, "SEEDSTREAM_KAFKA__CONNECT_TIMEOUT_SECONDS": "3", "COLUMNS": "300"},
    )  # fmt: skip
    assert time.monotonic() - started < 45
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.stderr.strip().splitlines() == errors, result.stderr  # not even "streaming … into"
    assert len(errors) == 1, result.stderr
    assert f"cannot reach Kafka at {address}" in errors[0]
    assert "seedstream kafka start" in errors[0]
    assert not (tmp_path / "data" / "delta").exists()


def test_spark_submit_entry_runs_the_job_without_the_cli(tmp_path: Path) -> None:
    """``spark-submit streaming/submit.py`` parses the same flags itself and fails with one line."""
    spark_submit = Path(sys.executable).parent / "spark-submit"
    address = f"127.0.0.1:{free_port()}"
    result = subprocess.run(
        [str(spark_submit), "--master", "local[1]", "streaming/submit.py", "--config", "small",
         "--bootstrap-servers", address, "--data-dir", str(tmp_path / "data"), "--available-now"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False,
        env={**os.environ, "SEEDSTREAM_KAFKA__CONNECT_TIMEOUT_SECONDS": "2",
             "PYSPARK_PYTHON": sys.executable},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    output = result.stdout + result.stderr  # Spark's PythonRunner merges the driver's stderr into stdout
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert "Traceback" not in output
    assert f"cannot reach Kafka at {address}" in errors[0]
    assert not (tmp_path / "data" / "delta").exists()


def test_spark_submit_entry_refuses_a_bad_preset_with_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "streaming/submit.py", "--config", "no-such-preset"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: config 'no-such-preset' is neither a file nor a preset")


def test_a_foreach_batch_failure_shows_the_java_error_not_the_python_proxy_line() -> None:
    from streaming.job import first_line

    text = (
        "An exception was raised by the Python Proxy. Return Message: Traceback (most recent call last):\n"
        '  File "/x/silver.py", line 352, in append\n'
        "    (writer.partitionBy(partition_by) if partition_by else writer).save(path)\n"
        "py4j.protocol.Py4JJavaError: An error occurred while calling o23144.save.\n"
        ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 204.0 failed "
        "1 times: java.lang.OutOfMemoryError: Java heap space\n"
        "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:1)\n"
    )
    assert first_line(text) == (
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 204.0 failed "
        "1 times: java.lang.OutOfMemoryError: Java heap space"
    )
    python_only = (
        "An exception was raised by the Python Proxy. Return Message: Traceback (most recent call last):\n"
        '  File "/x/silver.py", line 1, in f\n'
        "ValueError: a bad value\n"
    )
    assert first_line(python_only) == "ValueError: a bad value"
    assert first_line("org.apache.kafka.common.KafkaException: gone\n\tat x") == (
        "org.apache.kafka.common.KafkaException: gone"
    )
    assert len(first_line("An exception was raised by the Python Proxy\n: " + "x" * 1000)) == 400
