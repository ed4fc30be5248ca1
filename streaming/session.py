"""The one Spark session factory: local jars, Delta extensions, small shuffles, quiet logs.

Streaming settings: RocksDB state store with changelog checkpointing (a micro-batch writes only
its changes), FAIR scheduling between the job's queries (pools ``silver`` weight 3, ``bronze`` and
``checks`` weight 1), no Delta auto-compaction or optimized writes (no synchronous rewrite after a
commit), and the Python workers of pandas UDFs on this interpreter. With ``log_file`` set, Spark's
log (stack traces included) goes to that file and nothing but fatal errors to the terminal.

Spark gets its connector jars (Kafka source, Delta) and the pipeline's own jar (the router,
:mod:`streaming.javabuild`) from the local cache through ``spark.jars``, never
``spark.jars.packages``, so no run needs the network. On a cluster, ``spark-submit --jars`` may
provide them instead (``use_local_jars=False``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from producer.stack.jvm import jars
from streaming.javabuild import streaming_jar

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_QUIET_LOG4J2 = """\
status = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
logger.kafka.name = org.apache.kafka
logger.kafka.level = ERROR
logger.delta.name = org.apache.spark.sql.delta
logger.delta.level = WARN
logger.nativeio.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativeio.level = ERROR
logger.snapshot.name = org.apache.spark.sql.execution.streaming
logger.snapshot.level = WARN
logger.kafkadataloss.name = org.apache.spark.sql.kafka010.consumer.KafkaDataConsumer
logger.kafkadataloss.level = ERROR
# The silver micro-batch (and Delta's MERGE) unpersist locally checkpointed RDDs on purpose.
logger.leaves.name = org.apache.spark.rdd.MapPartitionsRDD
logger.leaves.level = ERROR
"""

_FILE_LOG4J2 = """\
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yyyy-MM-dd HH:mm:ss}} %p %c{{1}}: %m%n%ex
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = org.apache.kafka
logger.kafka.level = ERROR
logger.nativeio.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativeio.level = ERROR
logger.kafkadataloss.name = org.apache.spark.sql.kafka010.consumer.KafkaDataConsumer
logger.kafkadataloss.level = ERROR
# The silver micro-batch (and Delta's MERGE) unpersist locally checkpointed RDDs on purpose.
logger.leaves.name = org.apache.spark.rdd.MapPartitionsRDD
logger.leaves.level = ERROR
"""

_FAIR_POOLS = """<?xml version="1.0"?>
<allocations>
  <pool name="silver"><schedulingMode>FIFO</schedulingMode><weight>3</weight><minShare>1</minShare></pool>
  <pool name="bronze"><schedulingMode>FIFO</schedulingMode><weight>1</weight><minShare>0</minShare></pool>
  <pool name="checks"><schedulingMode>FIFO</schedulingMode><weight>1</weight><minShare>0</minShare></pool>
</allocations>
"""


@dataclass(frozen=True)
class SparkSettings:
    """How to build the session; every field has a default that suits one laptop."""

    master: str = "local[*]"
    app_name: str = "seedstream"
    shuffle_partitions: int = 2
    ui_enabled: bool = True
    ui_port: int | None = None
    driver_memory: str = "2g"
    warehouse_dir: str | None = None
    use_local_jars: bool = True
    log_file: str | None = None
    extra_conf: dict[str, str] = field(default_factory=dict)
    metastore: str | None = None
    """A data dir whose persistent metastore (Hive in Derby, :mod:`streaming.catalog`) the session uses."""


def _written(path: Path, text: str) -> Path:
    """``path`` holding ``text`` (written only when it holds something else)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _config_file(name: str, text: str) -> Path:
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return _written(Path(tempfile.gettempdir()) / f"seedstream-{os.getuid()}-{digest}-{name}", text)


def _log_config_file(log_file: str | None = None) -> Path:
    """The JVM's log4j2 configuration: the quiet one in the temp dir (one file, shared), or one that
    writes to ``log_file``, kept beside it (a file per data dir; none left behind in the temp dir)."""
    if log_file is None:
        return _config_file("log4j2.properties", _QUIET_LOG4J2)
    path = Path(log_file).with_name("spark-log4j2.properties")
    path.parent.mkdir(parents=True, exist_ok=True)
    return _written(path, _FILE_LOG4J2.format(path=log_file))


JVM_OPTIONS = "-XX:-DontCompileHugeMethods"
"""HotSpot options of the driver and executors on any master: HotSpot leaves methods over 8,000
bytes of bytecode to the interpreter. It paid off when the parse and its checks were Spark
expressions (``bench/bench_streaming.py --hours 4``: the silver micro-batch's route step 9 s → 7 s
per 200,000 events, the whole job 170.7 s → 161.2 s). Since the parse is one JVM function
(:mod:`streaming.validation`) the difference is within the noise (1 h whole job, alternating runs:
67.4 and 73.2 s without it, 71.0 and 72.9 s with it); kept because the silver query's wide
projections (every topic's typed columns) still generate large methods."""

ROW_CACHE_SERIALIZER = "dev.seedstream.streaming.RowCacheSerializer"
"""Caches rows as their bytes (``streaming/java``): the session's ``spark.sql.cache.serializer``."""

LOCAL_JVM_OPTIONS = "-XX:+UseParallelGC -XX:FreqInlineSize=100 -XX:MaxInlineLevel=6"
"""Added with a ``local[…]`` master, where one JVM on a few cores runs the driver, the tasks, the JIT
and the collector (a cluster's executors keep their own settings). Measured on 2 cores with
``seedstream stream --available-now`` over 4 h of ``scaling``:

- ``-XX:+UseParallelGC``: the throughput collector instead of G1, whose concurrent threads took
  ~13 s of CPU in a 90 s run. 164.7 s with G1, 146.3 s with it; steady silver micro-batches
  ~8.5 s → ~7 s per 200,000 events.
- ``-XX:FreqInlineSize=100 -XX:MaxInlineLevel=6`` (JDK 17's defaults: 325 and 15): the JIT
  compilers took ~68 s of CPU in a 90 s run (C2 54 s), beside ~40 s in Spark's tasks; shallower
  inlining makes each C2 compile cheaper. 140.8 s with the defaults, 129.0 and 131.4 s with these,
  134.2 and 135.0 s with 150 and 9, 137.4 s with 60 and 4.
"""


def spark_conf(settings: SparkSettings) -> dict[str, str]:
    """The Spark configuration the session is built with (exposed for tests and spark-submit)."""
    conf: dict[str, str] = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": str(settings.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": settings.driver_memory,
        "spark.driver.extraJavaOptions": (
            f"-Dlog4j2.configurationFile=file:{_log_config_file(settings.log_file)} {JVM_OPTIONS}"
            + (f" {LOCAL_JVM_OPTIONS}" if settings.master.startswith("local") else "")
        ),
        "spark.executor.extraJavaOptions": JVM_OPTIONS,
        "spark.databricks.delta.snapshotPartitions": str(max(settings.shuffle_partitions, 1)),
        "spark.sql.streaming.metricsEnabled": "true",
        "spark.sql.adaptive.enabled": "false",
        "spark.databricks.delta.writeChecksumFile.enabled": "false",
        "spark.scheduler.mode": "FAIR",
        "spark.scheduler.allocation.file": f"file:{_config_file('fairscheduler.xml', _FAIR_POOLS)}",
        "spark.sql.streaming.stateStore.providerClass": (
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
        ),
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows": "true",
        "spark.databricks.delta.autoCompact.enabled": "false",
        "spark.databricks.delta.optimizeWrite.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # PySpark otherwise records each DataFrame function call's Python call site in the JVM (about
        # five py4j round trips and a stack walk per call), for error messages. The job builds its
        # plans from thousands of such calls: the silver query's plan 4.7–7.0 s → 1.3–1.8 s
        # (24,387 → 8,857 round trips), and so each micro-batch's planning in `foreachBatch`.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        # Memory pages of 8 MB instead of the derived 64 MB: the silver micro-batch runs several sorts
        # and hash builds at once (parallel table writes), and whole 64 MB pages exhausted the 2 GB
        # heap on the identity preset's entity backlog.
        "spark.buffer.pageSize": "8m",
        # Generated code is compiled once per distinct text: without the stage id in the class name
        # the same pipeline in another plan (each micro-batch's foreachBatch actions, each source)
        # reuses the class, and a cache larger than the default 100 keeps the job's classes (it
        # compiles ~300 distinct ones; evicted ones were compiled again every micro-batch).
        "spark.sql.codegen.useIdInClassName": "false",
        "spark.sql.codegen.cache.maxEntries": "1000",
        # The silver micro-batch is cached and read a few times within seconds, whole rows each
        # time: it is cached as the rows' bytes, not encoded into columns with statistics
        # (``RowCacheSerializer``). Measured over 4 h of scaling: steady micro-batches 8.5 → 7.5 s,
        # whole job 162 → 152 s. It spills to disk if memory runs short.
        "spark.sql.cache.serializer": ROW_CACHE_SERIALIZER,
        # Partitioned appends (bronze by ingest date, events by event date, quarantine) write each
        # task's rows to one open file per partition value instead of sorting them by it first; a
        # micro-batch spans a day or two, and past four values a task falls back to the sort.
        "spark.sql.maxConcurrentOutputFileWriters": "4",
        # Timestamps written as Parquet's standard INT64 microseconds instead of Spark's legacy
        # default INT96 (deprecated by Parquet; every current reader takes both, and a table may
        # hold files of either). An INT96 column goes through Parquet's fixed-length dictionary
        # writer: appending the 1 h job's silver/driver_events (398,707 rows) took 0.89 s instead
        # of 1.10 s (medians of three).
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    if settings.master.startswith("local"):
        conf["spark.pyspark.python"] = sys.executable
        conf["spark.pyspark.driver.python"] = sys.executable
    if settings.master.startswith("local"):
        # Local mode talks to itself only: keep every Spark socket on loopback.
        conf.setdefault("spark.driver.host", "127.0.0.1")
        conf.setdefault("spark.driver.bindAddress", "127.0.0.1")
    if settings.use_local_jars:
        conf["spark.jars"] = ",".join(str(jar) for jar in [*jars("spark"), streaming_jar()])
    if settings.ui_port is not None:
        conf["spark.ui.port"] = str(settings.ui_port)
    if settings.warehouse_dir:
        conf["spark.sql.warehouse.dir"] = settings.warehouse_dir
    if settings.metastore is not None:
        from streaming.catalog import metastore_conf

        conf.update(metastore_conf(Path(settings.metastore)))
        logs = Path(settings.log_file).parent if settings.log_file else Path(settings.metastore)
        derby_log = logs / "derby.log"
        conf["spark.driver.extraJavaOptions"] += f" -Dderby.stream.error.file={derby_log}"
    conf.update(settings.extra_conf)
    return conf


def build_spark(settings: SparkSettings | None = None) -> SparkSession:
    """Build (or return the active) Spark session with Delta and the Kafka source available."""
    from pyspark.sql import SparkSession

    settings = settings or SparkSettings()
    if settings.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # pandas' FutureWarnings from inside pyspark's Arrow serializer would reach the terminal
        os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    builder = SparkSession.builder.master(settings.master).appName(settings.app_name)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
