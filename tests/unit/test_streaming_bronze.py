"""bronze rows: Kafka records as they came, headers as text, the micro-batch's ingest time and date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from streaming.bronze import BRONZE_COLUMNS, KAFKA_SCHEMA, to_bronze

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

AT = datetime(2025, 11, 8, 12, 0, tzinfo=UTC)


def test_bronze_keeps_every_record_with_its_headers_as_text(spark: SparkSession) -> None:
    headers = [("batch_id", b"20251108T1200Z"), ("schema", b"DriverEvent"), ("binary", b"\xff")]
    records = [
        (b"k1", b'{"a": 1}', "t", 0, 7, AT, 0, headers),
        (None, b"not json", "t", 1, 8, AT, 0, None),
    ]
    rows = to_bronze(spark.createDataFrame(records, KAFKA_SCHEMA)).orderBy("offset").collect()
    assert tuple(rows[0].asDict()) == BRONZE_COLUMNS
    first, second = (row.asDict(recursive=True) for row in rows)
    assert first["headers"] == [
        {"key": "batch_id", "value": "20251108T1200Z"},
        {"key": "schema", "value": "DriverEvent"},
        {"key": "binary", "value": "\ufffd"},
    ]
    assert (first["key"], first["value"], first["partition"], first["offset"]) == ("k1", '{"a": 1}', 0, 7)
    assert second["headers"] == []  # a record without headers: an empty list, not null
    assert (second["key"], second["value"]) == (None, "not json")
    assert first["ingest_date"] == first["ingest_time"].date() == second["ingest_date"]
