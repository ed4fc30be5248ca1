"""Spark's watermark applied to every event, and deduplication by record id within it.

Spark's own stateful operators (``dropDuplicatesWithinWatermark``, aggregations, joins) drop rows
older than the watermark silently; the pipeline must quarantine them as ``late``. The one operator
that sees every row *and* Spark's watermark is ``applyInPandasWithState`` without a timeout: it is
handed all of a group's rows and ``state.getCurrentWatermarkMs()``. :func:`route` is that function.

Groups are (topic, bucket of the record id): all copies of an id meet in one group, and a group's
state holds the ids it has accepted with their event times. Per micro-batch and group:

- rows that are not events that passed the intrinsic checks pass through untouched;
- an event whose time is at or before the watermark is flagged ``_late`` (Spark's own predicate,
  ``event_time <= watermark``) and not remembered;
- of the others, the first copy of each id (by partition, offset) that the state does not hold is
  kept, the rest are dropped (duplicates are not quarantined);
- ids older than the watermark are evicted: any later copy of them is late anyway.

The decisions are a pure function of (rows, state, watermark), so a micro-batch replayed after a
crash produces the same rows. :func:`route_frame` holds them, testable without Spark.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from pyspark.sql import functions as F
from pyspark.sql.streaming.state import GroupStateTimeout

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming.state import GroupState

BUCKETS = 16
"""Groups per topic; part of the state's key, so fixed for the life of a checkpoint."""
STATE_SCHEMA = "ids string, times binary"
"""A group's remembered ids (joined by NUL) and their event times (int64 microseconds, native order)."""
SEPARATOR = "\x00"


def route_frame(
    frame: pd.DataFrame, seen_ids: list[str], seen_times: list[int], watermark_ms: int
) -> tuple[pd.DataFrame, list[str], list[int]]:
    """One group's rows → (rows to keep, with ``_late``; the ids and event times to remember).

    ``_event_time`` is set exactly on events that passed the intrinsic checks; ``seen_*`` are the
    group's remembered ids and their event times (microseconds since the epoch).
    """
    import pandas as pd

    watermark_us = watermark_ms * 1000
    frame = frame.assign(_late=False, _watermark_ms=watermark_ms)
    candidate = frame["_event_time"].notna().to_numpy()
    if not candidate.any():
        return frame, seen_ids, seen_times
    times = np.full(len(frame), np.iinfo(np.int64).min, dtype=np.int64)
    times[candidate] = _micros(frame.loc[candidate, "_event_time"])
    late = candidate & (times <= watermark_us)
    frame["_late"] = late
    on_time = candidate & ~late
    others = frame[~on_time]
    events = frame[on_time].assign(_us=times[on_time]).sort_values(["partition", "offset"], kind="stable")
    events = events[~events["_record_id"].duplicated(keep="first")]
    if seen_ids:
        events = events[~events["_record_id"].isin(set(seen_ids))]
    kept_ids = np.asarray(seen_ids, dtype=object)
    kept_times = np.asarray(seen_times, dtype=np.int64)
    young = kept_times > watermark_us
    ids = [*kept_ids[young].tolist(), *events["_record_id"].tolist()]
    stamps = [*kept_times[young].tolist(), *events["_us"].tolist()]
    return pd.concat([others, events.drop(columns="_us")], ignore_index=True), ids, stamps


def _micros(times: pd.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    values: np.ndarray[Any, np.dtype[np.int64]] = times.to_numpy(dtype="datetime64[us]").astype(np.int64)
    return values


def route(key: tuple[Any, ...], frames: Iterator[pd.DataFrame], state: GroupState) -> Iterator[pd.DataFrame]:
    """The ``applyInPandasWithState`` function around :func:`route_frame`."""
    import pandas as pd

    parts = list(frames)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    seen_ids: list[str] = []
    seen_times: list[int] = []
    if state.exists:
        joined, packed = state.get
        if joined:
            seen_ids = joined.split(SEPARATOR)
            seen_times = np.frombuffer(bytes(packed), dtype=np.int64).tolist()
    out, ids, times = route_frame(frame, seen_ids, seen_times, state.getCurrentWatermarkMs())
    if ids:
        state.update((SEPARATOR.join(ids), np.asarray(times, dtype=np.int64).tobytes()))
    elif state.exists:
        state.remove()
    yield out


def routed(parsed: DataFrame, delay_seconds: float) -> DataFrame:
    """The parsed frame with Spark's watermark declared on ``_event_time`` and :func:`route` applied."""
    from pyspark.sql.types import BooleanType, LongType, StructField, StructType

    bucket = F.when(
        F.col("_record_id").isNotNull(), F.pmod(F.xxhash64("_record_id"), F.lit(BUCKETS))
    ).otherwise(F.pmod(F.col("offset"), F.lit(BUCKETS)))
    keyed = parsed.withWatermark("_event_time", f"{int(delay_seconds * 1000)} milliseconds").withColumn(
        "_bucket", bucket.cast("int")
    )
    schema = StructType(
        [
            *keyed.schema.fields,
            StructField("_late", BooleanType(), False),
            StructField("_watermark_ms", LongType(), False),
        ]
    )
    return keyed.groupBy("_t", "_bucket").applyInPandasWithState(
        route, schema, STATE_SCHEMA, "append", GroupStateTimeout.NoTimeout
    )
