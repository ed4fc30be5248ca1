"""bronze: one append-only Delta table per topic holding every Kafka record as it arrived.

Rows keep the raw key and value (strings), topic, partition, offset, Kafka timestamp, headers
and the ingest time; tables are partitioned by ingest date. Writes are exactly once across
restarts: each micro-batch appends with Delta's idempotent-write options (``txnAppId`` = the
table's stable writer id, ``txnVersion`` = the micro-batch id), so a batch replayed after a crash
is skipped by the tables that already hold it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

BRONZE_COLUMNS = (
    "key",
    "value",
    "topic",
    "partition",
    "offset",
    "kafka_timestamp",
    "headers",
    "ingest_time",
    "ingest_date",
)


def to_bronze(kafka_records: DataFrame) -> DataFrame:
    """Kafka source rows (``includeHeaders=true``) → bronze rows; the ingest time is the batch's."""
    headers = F.transform(
        F.coalesce(F.col("headers"), F.array()),
        lambda header: F.struct(header["key"].alias("key"), header["value"].cast("string").alias("value")),
    )
    ingest_time = F.current_timestamp()
    return kafka_records.select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        headers.alias("headers"),
        ingest_time.alias("ingest_time"),
        F.to_date(ingest_time).alias("ingest_date"),
    )


def append_idempotent(
    frame: DataFrame, path: str, writer_id: str, micro_batch_id: int, partition_by: str | None = None
) -> None:
    """Append ``frame`` to the Delta table at ``path`` once per ``(writer_id, micro_batch_id)``."""
    writer = (
        frame.write.format("delta")
        .mode("append")
        .option("txnAppId", writer_id)
        .option("txnVersion", micro_batch_id)
    )
    (writer.partitionBy(partition_by) if partition_by else writer).save(path)


def write_bronze(bronze: DataFrame, tables: dict[str, str], writer_id: str, micro_batch_id: int) -> None:
    """Append each topic's rows of one micro-batch to its table (``tables``: topic → path)."""
    for topic, path in tables.items():
        rows = bronze.where(F.col("topic") == topic)
        append_idempotent(rows, path, writer_id, micro_batch_id, "ingest_date")
