"""The row cache (``RowCacheSerializer``, ``spark.sql.cache.serializer``): a cached frame reads back
exactly what it was, whole or a few columns, every type the pipeline caches, nulls included."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pytest
from pyspark.sql import functions as F

from streaming.session import ROW_CACHE_SERIALIZER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark


def _frame(spark: SparkSession, rows: int, partitions: int = 3, pad: int = 300) -> DataFrame:
    """``rows`` rows of every type in ``partitions`` partitions; every 7th row (from 3) null in
    every nullable column; ``name`` padded by ``id % pad`` characters, so row sizes vary."""
    i = F.col("id")
    columns = {
        "name": F.concat(
            F.lit("name-"), i.cast("string"), F.repeat(F.lit("é"), i % 5), F.repeat(F.lit("x"), i % pad)
        ),
        "amount": (i / 4).cast("decimal(12,2)"),
        "ratio": i / 3,
        "flag": i % 2 == 0,
        "at": F.timestamp_micros(F.lit(1_762_560_000_000_000) + i),
        "day": F.date_add(F.lit(date(2025, 11, 1)), (i % 28).cast("int")),
        "tags": F.array(
            F.concat(F.lit("t"), (i % 3).cast("string")), F.concat(F.lit("u"), (i % 4).cast("string"))
        ),
        "counts": F.create_map(F.lit("a"), i, F.lit("b"), -i),
        "nested": F.struct(
            (i % 10).cast("int").alias("a"), F.concat(F.lit("b"), i.cast("string")).alias("b")
        ),
        "raw": F.unhex(F.lpad(F.hex(i % 256), 2, "0")),
    }
    nulls = i % 7 == 3
    return spark.range(rows, numPartitions=partitions).select(
        i, *(F.when(~nulls, column).alias(name) for name, column in columns.items())
    )


def test_the_session_caches_rows(spark: SparkSession) -> None:
    assert spark.conf.get("spark.sql.cache.serializer") == ROW_CACHE_SERIALIZER
    frame = _frame(spark, 10).persist()
    try:
        frame.count()
        plan = frame._jdf.queryExecution().executedPlan().toString()  # noqa: SLF001
        assert "InMemoryTableScan" in plan
    finally:
        frame.unpersist()


def test_a_cached_frame_reads_back_whole_and_by_columns(spark: SparkSession) -> None:
    # One partition of 25,000 small rows: three cached batches, closed by the row count (10,000).
    source = _frame(spark, 25_000, partitions=1)
    expected = sorted(source.collect(), key=lambda r: r["id"])
    cached = source.persist()
    try:
        assert cached.count() == 25_000
        assert sorted(cached.collect(), key=lambda r: r["id"]) == expected
        # A projection in another order, a filter and an aggregate over the cache.
        picked = cached.select("nested", "id", "tags").where(F.col("id") % 2 == 0)
        assert sorted(picked.collect(), key=lambda r: r["id"]) == [
            (r["nested"], r["id"], r["tags"]) for r in expected if r["id"] % 2 == 0
        ]
        totals = cached.groupBy("flag").agg(F.count(F.lit(1)).alias("n")).collect()
        assert {r["flag"]: r["n"] for r in totals} == {
            flag: sum(1 for r in expected if r["flag"] is flag) for flag in (True, False, None)
        }
        # A cache of a cache-derived frame (what the silver micro-batch does: routed → checked).
        derived = cached.where(F.col("name").isNotNull()).withColumn("n2", F.col("id") * 2).persist()
        try:
            assert derived.count() == sum(1 for r in expected if r["name"] is not None)
            assert sorted(derived.select("id", "n2").collect()) == sorted(
                (r["id"], r["id"] * 2) for r in expected if r["name"] is not None
            )
        finally:
            derived.unpersist()
    finally:
        cached.unpersist()


def test_batches_closed_by_size_read_back(spark: SparkSession) -> None:
    # One partition of 3,000 rows of ~3 KB: about 9 MB, so batches close by bytes (4 MB), not rows.
    source = _frame(spark, 3_000, partitions=1, pad=6_000)
    expected = sorted(source.collect(), key=lambda r: r["id"])
    cached = source.persist()
    try:
        assert sorted(cached.collect(), key=lambda r: r["id"]) == expected
        assert sorted(r["id"] for r in cached.select("id").collect()) == list(range(3_000))
    finally:
        cached.unpersist()


def test_an_empty_frame_caches(spark: SparkSession) -> None:
    cached = _frame(spark, 0).persist()
    try:
        assert cached.count() == 0
        assert cached.select("id").collect() == []
    finally:
        cached.unpersist()
