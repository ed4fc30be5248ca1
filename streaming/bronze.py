"""bronze: one append-only Delta table per topic holding every Kafka record as it arrived.

Rows keep the raw key and value (their bytes as text), topic, partition, offset, Kafka timestamp,
headers and the ingest time; tables are partitioned by ingest date.

The scenario's topics are landed by the silver query, from the rows it already read (every record:
duplicates and late ones too, before silver drops or quarantines them), each table appended exactly
once per micro-batch (:class:`streaming.silver.AppendLedger`). Measured on 2 cores
(``bench/bench_streaming.py``, README): a bronze query per topic read Kafka a second time and cost
the job more than these appends. The fault-label topic, which silver does not read, has its own
query with Delta's native streaming sink (:func:`to_bronze`), exactly once by itself (it records
the query id and micro-batch id in the table's log and skips a micro-batch it already committed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming.validation import kafka_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
    "timestampType int, headers array<struct<key: string, value: binary>>"
)
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


def bronze_rows(rows: DataFrame) -> DataFrame:
    """Rows with the columns of :func:`~streaming.validation.kafka_rows` (headers included) → bronze
    rows: key and value as text of their bytes as they came (invalid UTF-8 kept)."""
    return rows.select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("kafka_timestamp"),
        F.col("headers"),
        F.col("ingest_time"),
        F.to_date(F.col("ingest_time")).alias("ingest_date"),
    )


def to_bronze(kafka_records: DataFrame) -> DataFrame:
    """Kafka source rows (``includeHeaders=true``) → bronze rows; the ingest time is the batch's."""
    return bronze_rows(kafka_rows(kafka_records))
