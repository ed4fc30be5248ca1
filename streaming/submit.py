"""Run the streaming job: ``seedstream stream …`` locally, or ``spark-submit streaming/submit.py …``.

Under ``spark-submit`` the master and jars come from spark-submit (``--master``, ``--jars`` or
``--packages``), so nothing here assumes a local machine; the data dir may be any Hadoop URI
(``hdfs://…``, ``s3a://…``) that the cluster can write. Locally the connector jars come from the
jar cache and the master defaults to ``local[*]``.

Usage with spark-submit (same flags as ``seedstream stream``; the driver's Python needs the
``seedstream`` package, e.g. ``PYSPARK_PYTHON=.venv/bin/python``)::

    spark-submit --master spark://host:7077 --jars $(ls .cache/jars/spark/*.jar | paste -sd,) \\
        streaming/submit.py --config base --bootstrap-servers kafka:9092 --data-dir hdfs:///seedstream
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from producer.datadir import DataDir, TableLocations, data_dir_uri, local_path
from producer.errors import SeedstreamError
from producer.kafka.client import require_kafka
from streaming.job import Pipeline
from streaming.observability import Metrics, PipelineStatus, ProgressListener
from streaming.session import SparkSettings, build_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from producer.config import SeedstreamConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSummary:
    """What a run did (an ``--available-now`` run returns; a continuous one returns when stopped)."""

    data_dir: str
    batches: int
    intervals_checked: int
    metrics_port: int | None


def _submitted_conf() -> dict[str, str]:
    """The SparkConf spark-submit passed to this driver (empty when not under spark-submit)."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return {}
    from pyspark import SparkConf

    return {key: value for key, value in SparkConf().getAll()}


def session_for(config: SeedstreamConfig) -> SparkSession:
    """The job's Spark session: spark-submit's master and jars if given, else the config's."""
    streaming = config.streaming
    submitted = _submitted_conf()
    master = streaming.master or submitted.get("spark.master") or "local[*]"
    use_local_jars = streaming.use_local_jars and not (
        submitted.get("spark.jars") or submitted.get("spark.jars.packages")
    )
    return build_spark(
        SparkSettings(
            master=master,
            app_name="seedstream-stream",
            shuffle_partitions=streaming.shuffle_partitions,
            ui_port=streaming.ui_port,
            driver_memory=streaming.driver_memory,
            use_local_jars=use_local_jars,
        )
    )


def run_stream(
    config: SeedstreamConfig,
    data_dir: str | Path,
    available_now: bool,
    spark: SparkSession | None = None,
) -> StreamSummary:
    """Run the job until the input is drained (``available_now``) or until interrupted.

    Raises:
        KafkaAuthenticationError: when the broker refuses the configured credentials.
        KafkaUnavailableError: when no broker answers within ``kafka.connect_timeout_seconds``.
        SeedstreamError: when the streaming query fails (the first line of Spark's error).
    """
    root = data_dir_uri(data_dir)
    # One clear line when no broker answers or it refuses our credentials, instead of a query that
    # retries forever; before the Spark session, so nothing is written then.
    asyncio.run(require_kafka(config.kafka, config.kafka.connect_timeout_seconds))
    session = spark or session_for(config)
    local = local_path(root)
    files = DataDir(local) if local is not None else None
    pipeline = Pipeline(
        session, config, TableLocations(root), checks_log=files.checks_log if files else None
    )
    metrics = Metrics.create()
    metrics_port = None
    if config.streaming.metrics_port is not None:
        try:
            metrics_port = metrics.serve(config.streaming.metrics_host, config.streaming.metrics_port)
        except OSError as error:
            raise SeedstreamError(
                f"cannot serve metrics on {config.streaming.metrics_host}:{config.streaming.metrics_port}: "
                f"{error.strerror}; set SEEDSTREAM_STREAMING__METRICS_PORT to a free port"
            ) from None
    listener = ProgressListener(
        metrics,
        files.streaming_progress_log if files is not None else None,
        lambda: PipelineStatus(
            pipeline.last_watermark, dict(pipeline.rows_written), dict(pipeline.intervals_checked)
        ),
    )
    session.streams.addListener(listener)
    try:
        query = pipeline.start(config.kafka.bootstrap_servers, available_now)
        try:
            while not query.awaitTermination(1):
                pass
        except KeyboardInterrupt:
            query.stop()
            raise
        failure = query.exception()
        if failure is not None:
            message = str(failure).strip().splitlines()[0] if str(failure).strip() else repr(failure)
            raise SeedstreamError(f"the streaming query failed: {message}")
        checked = pipeline.final_checks() if available_now else 0
        batches = int(query.lastProgress["batchId"]) + 1 if query.lastProgress else 0
    finally:
        session.streams.removeListener(listener)
    return StreamSummary(root, batches, checked, metrics_port)


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry point: ``seedstream stream``'s flags, one line and a status on failure.

    It parses its own arguments (the CLI is the composition root above this package, not a
    dependency of it) and returns the process exit status.
    """
    import argparse

    from producer.config import load_config
    from producer.datadir import DEFAULT_DATA_DIR

    parser = argparse.ArgumentParser(
        prog="streaming/submit.py", description="The seedstream streaming job (as `seedstream stream`)."
    )
    parser.add_argument("--config", required=True, help="A YAML config file or a preset name.")
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap (default: the config's).")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="A path or a Hadoop URI.")
    parser.add_argument("--available-now", action="store_true", help="Drain what Kafka holds, then exit.")
    parser.add_argument("--master", help="Spark master URL (default: spark-submit's).")
    args = parser.parse_args(argv)
    try:
        config = load_config(
            args.config, {"kafka.bootstrap_servers": args.bootstrap_servers, "streaming.master": args.master}
        )
        summary = run_stream(config, args.data_dir, args.available_now)
    except SeedstreamError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - the one line a user sees
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # noqa: T201
        return 130
    print(  # noqa: T201
        f"stopped after {summary.batches} micro-batches; {summary.intervals_checked} intervals checked",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("streaming").setLevel(logging.INFO)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its failures reach the user as one line
    sys.exit(main())
