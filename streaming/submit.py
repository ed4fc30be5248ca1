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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from producer.datadir import DataDir, TableLocations, data_dir_uri, local_path
from producer.errors import BadInputError, KafkaUnavailableError, SeedstreamError
from producer.kafka.client import require_kafka
from streaming.catalog import metastore_in_use
from streaming.contract import plan_for
from streaming.job import Pipeline, first_line
from streaming.observability import KafkaLag, Metrics, ProgressListener, TableCounts
from streaming.session import SparkSettings, build_spark
from streaming.tables import Tables
from streaming.topics import existing_topics, wait_for_topics

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import SparkSession

    from producer.config import SeedstreamConfig

log = logging.getLogger(__name__)

RESTART_WINDOW_SECONDS = 600.0
"""How long a continuous run keeps restarting its queries after Kafka was lost before giving up."""


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


def session_for(
    config: SeedstreamConfig, log_file: Path | None = None, data_dir: Path | None = None
) -> SparkSession:
    """The job's Spark session: spark-submit's master and jars if given, else the config's.

    With a local master, a local ``data_dir`` and no other JVM holding it, the session keeps its
    catalog in the data dir's persistent metastore (:mod:`streaming.catalog`)."""
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
            log_file=str(log_file) if log_file is not None else None,
            metastore=str(data_dir) if _local_metastore(master, data_dir) else None,
        )
    )


def _local_metastore(master: str, data_dir: Path | None) -> bool:
    if data_dir is None or not master.startswith("local"):
        return False
    if metastore_in_use(data_dir):
        log.info("the metastore under %s is open in another process: names in this session only", data_dir)
        return False
    return True


def _log_to_file(path: Path | None) -> None:
    """Send the job's, py4j's and the Kafka lag poller's Python log records to ``path`` (never to
    the terminal)."""
    handler: logging.Handler = logging.FileHandler(path) if path is not None else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("streaming", "py4j", "pyspark", "aiokafka", "asyncio"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO if name == "streaming" else logging.WARNING)
    root = logging.getLogger()
    if not root.handlers:
        # Without a handler, Python's last resort prints a record's traceback to the terminal: e.g.
        # pyspark's Ctrl-C handler logging a failed cancelAllJobs while the JVM goes away.
        root.addHandler(handler)


@contextmanager
def _jvm_stderr_to(log_file: Path | None) -> Iterator[None]:
    """While the Spark JVM is spawned, point file descriptor 2 at ``log_file``: the JVM inherits it,
    so what Java prints past log4j (an uncaught exception in a query's thread when a stop cancels
    a running micro-batch, the JDK's own warnings) lands in the log, not on the user's terminal."""
    if log_file is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with log_file.open("ab") as target:
            os.dup2(target.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def run_stream(
    config: SeedstreamConfig,
    data_dir: str | Path,
    available_now: bool,
    spark: SparkSession | None = None,
    create_topics: Callable[[SeedstreamConfig], None] | None = None,
    reached: Callable[[], None] | None = None,
) -> StreamSummary:
    """Run the job until the input is drained (``available_now``) or until interrupted.

    ``create_topics`` creates the scenario's topics with the producer's settings when given;
    without it the job waits for them to exist. ``reached`` is called once the broker answered
    (the CLI says then what it streams, so an unreachable broker gets its one error line only).

    Raises:
        BadInputError: when the streaming settings cannot work with the scenario's interval.
        KafkaAuthenticationError: when the broker refuses the configured credentials.
        KafkaUnavailableError: when no broker answers within ``kafka.connect_timeout_seconds``.
        SeedstreamError: when a streaming query fails (the first line of Spark's error).
    """
    plan = plan_for(config)
    config.streaming.check_timing(plan.interval)
    root = data_dir_uri(data_dir)
    # One clear line when no broker answers or it refuses our credentials, instead of a query that
    # retries forever; before the Spark session, so nothing is written then.
    asyncio.run(require_kafka(config.kafka, config.kafka.connect_timeout_seconds))
    if reached is not None:
        reached()
    topics = [topic.kafka_topic for topic in plan.topics]
    if create_topics is not None:
        create_topics(config)
    partitions = wait_for_topics(config, topics)
    labels = bool(existing_topics(config, [plan.labels_topic]))
    local = local_path(root)
    files = DataDir(local) if local is not None else None
    if spark is None:
        log_file = files.logs_dir / "streaming.log" if files is not None else None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        _log_to_file(log_file)
        started = time.monotonic()
        with _jvm_stderr_to(log_file):
            session = session_for(config, log_file, files.root if files is not None else None)
        log.info("Spark session ready in %.1f s", time.monotonic() - started)
    else:
        session = spark
    pipeline = Pipeline(
        session,
        config,
        TableLocations(root),
        checks_log=files.checks_log if files else None,
        partitions={topic.name: partitions[topic.kafka_topic] for topic in plan.topics},
        labels=labels,
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
        pipeline.log.counts,
        pipeline.log.cleaned,
    )
    session.streams.addListener(listener)
    pollers = [
        KafkaLag(config.kafka, listener, metrics),
        TableCounts(session, pipeline.tables.silver_paths(), metrics),
    ]
    for poller in pollers:
        poller.start()
    checked = 0
    try:
        if available_now:
            checked = pipeline.run_available_now()
        else:
            _supervise(pipeline, config)
        batches = pipeline.micro_batches()
        pollers[1].poll()
    finally:
        for poller in pollers:
            poller.stop()
        pipeline.stop()
        session.streams.removeListener(listener)
    total, _ = pipeline.log.counts()
    return StreamSummary(root, batches, total + checked, metrics_port)


def _supervise(pipeline: Pipeline, config: SeedstreamConfig) -> None:
    """Run every query until interrupted; when one fails because Kafka went away, wait for Kafka and
    restart all of them from their checkpoints (for up to :data:`RESTART_WINDOW_SECONDS`)."""
    pipeline.start()
    pipeline.register_tables_in_background()
    lost_since: float | None = None
    try:
        while True:
            time.sleep(1.0)
            failed = pipeline.failure()
            if failed is None:
                if lost_since is not None and all(q.isActive for q in pipeline.queries):
                    lost_since = None
                continue
            name, error = failed
            log.error("query %s failed: %s", name, error)
            pipeline.stop()
            lost_since = lost_since or time.monotonic()
            remaining = RESTART_WINDOW_SECONDS - (time.monotonic() - lost_since)
            try:
                asyncio.run(require_kafka(config.kafka, max(remaining, 1.0)))
            except KafkaUnavailableError as unavailable:
                raise SeedstreamError(
                    f"the streaming query {name} failed and Kafka did not come back: {unavailable}"
                ) from None
            if remaining <= 0 or "kafka" not in str(error).lower():
                raise SeedstreamError(f"the streaming query {name} failed: {first_line(error)}")
            log.warning("restarting every query from its checkpoint after %s failed", name)
            pipeline.start()
    except KeyboardInterrupt:
        pipeline.stop()
        raise


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


def data_dir_session(config: SeedstreamConfig, data_dir: str, log_name: str) -> tuple[SparkSession, Tables]:
    """A session on the tables a streaming job wrote under ``data_dir`` (for ``validate``,
    ``optimize``), its log in ``D/logs/<log_name>``; a clear error when there are none yet."""
    plan = plan_for(config)
    root = data_dir_uri(data_dir)
    local = local_path(root)
    if local is not None and not (local / "delta" / "silver").is_dir():
        raise BadInputError(
            f"no tables under {local / 'delta'}: run the streaming job on --data-dir {data_dir} first"
        )
    log_file = DataDir(local).logs_dir / log_name if local is not None else None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    _log_to_file(log_file)
    with _jvm_stderr_to(log_file):
        spark = session_for(config, log_file, local)
    return spark, Tables(spark, plan, TableLocations(root), config.streaming.catalog)
