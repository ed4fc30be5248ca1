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
from urllib.parse import urlparse

from producer.errors import SeedstreamError
from producer.kafka.sink import require_kafka
from streaming.job import Layout, Pipeline
from streaming.observability import CHECKS_LOG, PROGRESS_LOG, Metrics, PipelineStatus, ProgressListener
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


def data_dir_uri(data_dir: str | Path) -> str:
    """A local path made absolute, or a Hadoop URI (``hdfs://…``) unchanged."""
    text = str(data_dir)
    if urlparse(text).scheme and len(urlparse(text).scheme) > 1:
        return text.rstrip("/")
    return str(Path(text).resolve())


def _local_dir(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path)
    return None


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
        SeedstreamError: when the streaming query fails (the first line of Spark's error).
    """
    root = data_dir_uri(data_dir)
    # One clear line when no broker answers, instead of a query that retries forever.
    asyncio.run(require_kafka(config.kafka.bootstrap_servers, config.kafka.connect_timeout_seconds))
    session = spark or session_for(config)
    local = _local_dir(root)
    pipeline = Pipeline(
        session, config, Layout(root), checks_log=local / "logs" / CHECKS_LOG if local else None
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
        local / "logs" / PROGRESS_LOG if local is not None else None,
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


def main(argv: list[str] | None = None) -> None:
    """spark-submit entry point: the ``seedstream stream`` command with the same flags."""
    from producer.cli import main as cli_main

    sys.argv = ["seedstream", "stream", *(sys.argv[1:] if argv is None else argv)]
    cli_main()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("streaming").setLevel(logging.INFO)
    main()
