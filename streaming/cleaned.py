"""Cleaned ranges: a producer clean seen by the pipeline, so intervals that lost records to it are
reported as ``cleaned`` instead of ``missing`` or ``no_ground_truth``.

``POST /api/clean`` deletes every record of the scenario's topics and then publishes one clean
marker (:mod:`producer.generation.control`) on the ground-truth topic, naming ``cleaned_through``:
the newest interval that may have lost records. :func:`streaming.validation.parse` gives a valid
marker ``_t`` = :data:`~streaming.validation.CONTROL_INDEX` (:func:`is_clean_marker`), so no topic's
rows include it; :func:`marker_observations` turns it into one row of ``checks/observations``:
``topic`` null, ``category_field`` = ``cleaned_at``, ``category`` = the clean's instant, ``batch_id``
and ``interval_start`` = the cleaned range's newest interval and ``event_time`` = its start.

The checks query leaves marker rows out of its aggregation (before its watermark, so a marker
moves nothing). The check writer (:mod:`streaming.checks`) reads them with :class:`CleanMarkers`
whenever intervals close, reports every row not ``complete`` of an interval at or before a
marker's ``cleaned_through`` as ``cleaned``, and logs each clean once. That is enough: an interval
that lost records to a clean can only close after the clean — closing takes a later event, and
every later event was deleted too, so the first one the pipeline sees was published after the
marker, which silver commits to ``checks/observations`` in the same micro-batch or an earlier one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from streaming.validation import CONTROL_INDEX, control_field, interval_start_of

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

CLEANED = "cleaned"
"""The check status of an interval at or before a clean's range that lost records to it."""
CLEANED_AT = "cleaned_at"
"""``category_field`` of a clean marker's observation and check rows (``category``: the instant)."""


def is_clean_marker() -> Column:
    """Whether a row of the parsed frame is a clean marker (valid or not: see ``reason``)."""
    return F.col("_t") == F.lit(CONTROL_INDEX)


def marker_observations(frame: DataFrame, micro_batch_id: int) -> DataFrame:
    """The parsed (or routed) frame's valid clean markers → ``checks/observations`` rows (the
    columns of ``streaming.silver.OBSERVATION_COLUMNS``, in that order)."""
    through = control_field("cleaned_through")
    start = interval_start_of(through)
    shard = control_field("shard")
    return frame.where(is_clean_marker() & F.col("reason").isNull()).select(
        through.alias("batch_id"),
        start.alias("interval_start"),
        F.lit(None).cast("string").alias("topic"),
        F.lit(CLEANED_AT).alias("category_field"),
        control_field(CLEANED_AT).alias("category"),
        F.lit(0).cast("long").alias("observed"),
        F.lit(None).cast("long").alias("expected"),
        shard.alias("shard"),
        F.split(shard, "/").getItem(1).cast("int").alias("shard_count"),
        start.alias("event_time"),
        F.lit(None).cast("int").alias("source_partition"),
        F.lit(micro_batch_id).cast("long").alias("micro_batch_id"),
    )


def is_marker_row() -> Column:
    """Whether an observation, aggregate or check row is a clean marker's (never null)."""
    return F.col("topic").isNull() & F.coalesce(F.col("category_field") == F.lit(CLEANED_AT), F.lit(False))


@dataclass(frozen=True, order=True)
class CleanedRange:
    """One clean: intervals starting at or before ``through`` (``batch_id``) may have lost records."""

    through: datetime
    batch_id: str
    cleaned_at: str


@dataclass
class CleanMarkers:
    """The clean markers in ``checks/observations``, read when intervals close; logs each clean once.

    A clean already in the table when the writer starts is logged only if it turns a row into
    ``cleaned``, so a restarted job does not repeat old cleans.
    """

    spark: SparkSession
    observations: str
    logged: set[CleanedRange] = field(default_factory=set)
    at_start: set[CleanedRange] | None = None

    def read(self) -> list[CleanedRange]:
        """Every clean marker observed so far, oldest range first."""
        rows = (
            self.spark.read.format("delta").load(self.observations).where(is_marker_row())
            .select("batch_id", "interval_start", "category").distinct().collect()
        )  # fmt: skip
        return sorted(CleanedRange(row["interval_start"], row["batch_id"], row["category"]) for row in rows)

    def start(self) -> None:
        """Remember the cleans that happened before this writer started (not logged unless they matter)."""
        if self.at_start is None:
            self.at_start = set(self.read())

    def through(self, lost: dict[str, datetime]) -> datetime | None:
        """The newest cleaned interval start, or None without a clean; logs cleans not logged yet.

        ``lost``: the intervals (batch_id → start) closing now with a row that is not complete.
        """
        self.start()
        ranges = self.read()
        for cleaned in ranges:
            if cleaned in self.logged:
                continue
            hits = sorted(batch for batch, start in lost.items() if start <= cleaned.through)
            if hits or cleaned not in (self.at_start or set()):
                log.info(
                    "producer data cleaned at %s: intervals through %s not checked (%d closed now "
                    "reported as %s%s)",
                    cleaned.cleaned_at,
                    cleaned.batch_id,
                    len(hits),
                    CLEANED,
                    "" if not hits else f": {hits[0]}" if len(hits) == 1 else f": {hits[0]}…{hits[-1]}",
                )
                self.logged.add(cleaned)
        return max((cleaned.through for cleaned in ranges), default=None)
