"""The JVM router (``streaming/java``, :mod:`streaming.router`) inside a real streaming query.

Three micro-batches from a file source (one file each), a 10 s watermark delay: Spark's watermark
is 0 in the first micro-batch and max(event time) − 10 s after it, so the test knows which rows are
late, which copies are duplicates, and what the state must still hold.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from streaming.router import routed, watermarked

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

SCHEMA_COLUMNS = ["_t", "partition", "offset", "_record_id", "_event_time", "payload"]
SCHEMA = "_t int, partition int, offset long, _record_id string, _event_time timestamp, payload string"


def _row(partition: int, offset: int, record_id: str | None, seconds: float | None) -> dict[str, Any]:
    when = None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()
    return {
        "_t": 0, "partition": partition, "offset": offset, "_record_id": record_id,
        "_event_time": when, "payload": f"{record_id}@{partition}/{offset}",
    }  # fmt: skip


BATCHES = [
    [  # watermark 0: nothing is late
        _row(0, 5, "a", 20),
        _row(0, 1, "a", 20),  # the first copy of a by (partition, offset): kept; offset 5 a duplicate
        _row(1, 0, "b", 30),
        _row(0, 2, "c", 40),
        _row(0, 4, None, None),  # not an event: passes untouched
    ],
    [  # watermark 40 - 10 = 30 s
        _row(0, 6, "a", 20),  # late
        _row(0, 7, "d", 30),  # late: event_time <= watermark, Spark's own predicate
        _row(1, 3, "b", 30),  # late (and its group now forgets b)
        _row(0, 8, "c", 40),  # a duplicate of an id the state holds
        _row(1, 1, "e", 35),
        _row(1, 2, "e", 35),  # a duplicate inside the micro-batch
    ],
    [  # watermark still 30 s (the newest event time seen is 40 s); then 90 s
        _row(0, 9, "f", 100),
        _row(0, 10, "c", 40),  # still held (40 > 30): a duplicate again
    ],
]


def _run(spark: SparkSession, tmp_path: Path) -> dict[int, list[dict[str, Any]]]:
    source = tmp_path / "in"
    source.mkdir()
    for number, rows in enumerate(BATCHES):
        path = source / f"{number}.json"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        os.utime(path, (1_700_000_000 + number, 1_700_000_000 + number))  # the file source's order
    seen: dict[int, list[dict[str, Any]]] = {}

    def collect(batch: DataFrame, batch_id: int) -> None:
        rows = [row.asDict() for row in batch.collect()]
        if rows:
            seen[batch_id] = rows

    frame = spark.readStream.schema(SCHEMA).option("maxFilesPerTrigger", 1).json(str(source))
    query = (
        routed(watermarked(frame, delay_seconds=10))
        .writeStream.foreachBatch(collect)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    assert query.awaitTermination(timeout=120), "the router query did not finish within 120 s"
    assert query.exception() is None
    return seen


def _decisions(rows: list[dict[str, Any]]) -> set[tuple[str | None, int, bool]]:
    """The rows kept (not duplicates): (id, offset, late)."""
    return {(row["_record_id"], row["offset"], row["_late"]) for row in rows if not row["_duplicate"]}


def _duplicates(rows: list[dict[str, Any]]) -> set[tuple[str | None, int]]:
    return {(row["_record_id"], row["offset"]) for row in rows if row["_duplicate"]}


def test_router_flags_late_rows_and_duplicates_and_forgets_old_ids(
    spark: SparkSession, tmp_path: Path
) -> None:
    batches = list(_run(spark, tmp_path).values())
    assert len(batches) == 3
    first, second, third = batches
    # every row comes out once (bronze lands them all), each with its decision
    assert [len(batch) for batch in batches] == [len(rows) for rows in BATCHES]
    assert _decisions(first) == {("a", 1, False), ("b", 0, False), ("c", 2, False), (None, 4, False)}
    assert _duplicates(first) == {("a", 5)}
    assert {row["_watermark_ms"] for row in first} == {0}
    assert _decisions(second) == {("a", 6, True), ("d", 7, True), ("b", 3, True), ("e", 1, False)}
    assert _duplicates(second) == {("c", 8), ("e", 2)}
    assert {row["_watermark_ms"] for row in second} == {30_000}
    assert _decisions(third) == {("f", 9, False)}
    assert _duplicates(third) == {("c", 10)}
    assert not any(row["_late"] for row in first + second + third if row["_duplicate"])
    # every column of a row comes out unchanged
    assert {row["payload"] for row in first} == {"a@0/1", "a@0/5", "b@1/0", "c@0/2", "None@0/4"}
    assert set(first[0]) == {*SCHEMA_COLUMNS, "_bucket", "_late", "_duplicate", "_watermark_ms"}
    # the state forgets ids at or before the watermark (a group at a time, when it gets rows)
    state = spark.read.format("statestore").load(str(tmp_path / "checkpoint")).collect()
    held: dict[str, int] = {}
    for row in state:
        value = row["value"].asDict(recursive=True)
        group = value.get("groupState", value)
        ids = group["ids"].split("\x00")
        times = memoryview(bytes(group["times"])).cast("q").tolist()
        held.update(zip(ids, times, strict=True))
    # after the third micro-batch (watermark 30 s): a and b (20 s, 30 s) evicted; c, e, f held
    assert held == {"c": 40_000_000, "e": 35_000_000, "f": 100_000_000}
