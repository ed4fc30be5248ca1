"""Scoring a pipeline against the fault labels: per fault kind, what it caught, how, and what it flagged
that was not faulty.

Inputs, all read by path from the tables a pipeline writes (ours, or any that writes the same ones):

- the **labels**: the bronze table of ``<scenario>.fault-labels`` (each row's ``value`` a
  :class:`~producer.generation.fault_labels.FaultLabel` in JSON), or the ``.jsonl`` file
  ``seedstream generate`` wrote;
- per event topic its **silver** table (the record id column, named like the record's id field);
- ``silver/quarantine`` (``reason``, ``source_topic``, ``raw_value``: the record id is read from the
  raw payload, which a ``malformed_json`` fault keeps readable);
- ``checks/interval_checks`` (``batch_id``, ``topic``, ``category_field``, ``expected``,
  ``observed``, ``status``, ``provisional``) and the ground-truth silver table (``batch_id``: which
  intervals were published).

What counts, per label (its ``expected`` outcome):

- **pending**, whatever is expected, while the record is neither in silver nor quarantined and the
  interval that published it has not been published yet (a ``late`` record's later interval) or has
  no check yet (the pipeline may not have read it);
- a quarantine reason (``late``, ``unparseable``, …): **correct** when the record was quarantined
  with that reason, **wrong reason** when with another, **missed** otherwise (accepted, or lost);
- ``accepted`` (``out_of_order``): correct when the record is in silver, wrong reason when quarantined;
- ``dropped_as_duplicate``: correct when the record is in silver exactly once, wrong reason when
  quarantined, missed when twice (or lost);
- ``missing`` (``drop``): per interval and topic, the check's shortfall (expected − observed, from
  the final check, else the provisional one) less what the labelled records explain (each labelled
  record counts ``1 −`` its rows in silver) is what the checks attribute to lost records: up to the
  number of drops they are caught, the rest are missed; beyond it, **false positives** (records
  lost that nobody dropped). Pending while the interval has no check.

False positives of a quarantine kind are clean records (no label) quarantined with its reason;
``flagged`` counts every record given that reason, so precision = correct / flagged (a faulty
record quarantined with the wrong reason lowers the precision of the reason it got). ``accepted``
and ``dropped_as_duplicate`` have no observable false positives (a clean record lost as a "duplicate"
shows as a false positive of ``drop``), so no precision. Recall = correct / injected, where injected
leaves out pending labels.

The streaming job appends the same figures per interval to ``checks/quality_score`` as the checks
close (:class:`QualityScoreWriter`); ``seedstream score`` recomputes them over everything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from producer.errors import BadInputError
from producer.generation.fault_labels import EXPECTED
from producer.generation.fault_settings import FAULT_KINDS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pyspark.sql import Column, DataFrame, SparkSession

    from streaming.contract import PipelinePlan
    from streaming.tables import Tables

log = logging.getLogger(__name__)

LABEL_SCHEMA = (
    "record_id string, kind string, topic string, key string, batch_id string, "
    "published_batch_id string, expected string, detail string"
)
ACCEPTED = "accepted"
DUPLICATE = "dropped_as_duplicate"
MISSING = "missing"
REASON_KINDS: dict[str, str] = {
    expected: kind for kind, expected in EXPECTED.items() if expected not in (ACCEPTED, DUPLICATE, MISSING)
}
"""Quarantine reason → the fault kind whose records should get it."""
NO_PRECISION = frozenset(kind for kind, expected in EXPECTED.items() if expected in (ACCEPTED, DUPLICATE))
"""Kinds without observable false positives (no precision)."""
COUNTS = ("injected", "correct", "wrong_reason", "missed", "pending", "false_positives", "flagged")
SCORE_SCHEMA = (
    "batch_id string, kind string, expected string, injected long, correct long, wrong_reason long, "
    "missed long, pending long, false_positives long, flagged long, scored_at timestamp"
)
"""``checks/quality_score``: one row per closed interval and fault kind."""


@dataclass(frozen=True)
class ScoreInputs:
    """What a pipeline wrote (see the module docstring), as DataFrames."""

    labels: DataFrame
    silver: dict[str, DataFrame]
    """Event topic name → its silver table."""
    quarantine: DataFrame
    checks: DataFrame
    truth: DataFrame


def read_labels(spark: SparkSession, tables: Tables, labels_file: str | None = None) -> DataFrame:
    """The labels: the bronze label table, or ``labels_file`` (``generate``'s ``.jsonl``); one row per
    (topic, record id, kind) even when the label topic holds a label twice."""
    if labels_file is not None:
        if not Path(labels_file).is_file():
            raise BadInputError(f"--labels {labels_file}: no such file (seedstream generate writes "
                                f"<scenario>.fault-labels.jsonl)")  # fmt: skip
        return _distinct_labels(spark.read.schema(LABEL_SCHEMA).json(labels_file))
    return parsed_labels(spark.read.format("delta").load(tables.labels))


def parsed_labels(raw: DataFrame) -> DataFrame:
    """Label records (a ``value`` column of JSON text: bronze, or a Kafka read) → label columns, one
    row per (topic, record id, kind)."""
    labels = raw.select(F.from_json(F.col("value").cast("string"), LABEL_SCHEMA).alias("label")).select(
        "label.*"
    )
    return _distinct_labels(labels)


def _distinct_labels(labels: DataFrame) -> DataFrame:
    """Labels without a record id dropped, one row per (topic, record id, kind): the label topic may
    hold a label twice (a republished interval)."""
    return labels.where(F.col("record_id").isNotNull()).dropDuplicates(["topic", "record_id", "kind"])


def inputs_from(
    spark: SparkSession, tables: Tables, labels_file: str | None = None, labels: DataFrame | None = None
) -> ScoreInputs:
    """The score's inputs read from ``tables`` (by path); the labels from ``labels`` when given."""

    def delta(path: str) -> DataFrame:
        return spark.read.format("delta").load(path)

    plan = tables.plan
    return ScoreInputs(
        labels=labels if labels is not None else read_labels(spark, tables, labels_file),
        silver={topic.name: delta(tables.silver(topic)) for topic in plan.of_role("events")},
        quarantine=delta(tables.quarantine),
        checks=delta(tables.checks),
        truth=delta(tables.silver(plan.ground_truth)),
    )


def _id_in_payload(raw: Column, field: str) -> Column:
    """The value of ``field`` in a JSON payload's text (without quotes), even a truncated one."""
    return F.regexp_extract(raw, '"' + field.replace("\\", "\\\\") + '":"?([^",}]*)', 1)


def _quarantined(inputs: ScoreInputs, plan: PipelinePlan) -> DataFrame:
    """Quarantined records as (topic, record_id, batch_id, reason): the scenario topic name for the
    Kafka topic, the record id and interval read from the raw payload (empty when not readable: a
    truncated payload keeps its id but loses ``batch_id``, the last field)."""
    topic: Column = F.lit(None).cast("string")
    record_id: Column = F.lit("")
    for each in plan.topics:
        field = each.spec.id_field or each.spec.key_field
        is_topic = F.col("source_topic") == F.lit(each.kafka_topic)
        topic = F.when(is_topic, F.lit(each.name)).otherwise(topic)
        record_id = F.when(is_topic, _id_in_payload(F.col("raw_value"), field)).otherwise(record_id)
    rows = inputs.quarantine.select(
        F.coalesce(topic, F.col("source_topic")).alias("topic"),
        record_id.alias("record_id"),
        F.regexp_extract("raw_value", '"batch_id":"([^"]*)"', 1).alias("batch_id"),
        "reason",
    )
    # A record quarantined twice (republished after a producer restart) counts once.
    readable = F.col("record_id") != ""
    return (
        rows.where(readable)
        .dropDuplicates(["topic", "record_id", "reason"])
        .unionByName(rows.where(~readable))
    )


def published_through(inputs: ScoreInputs) -> str | None:
    """The newest interval with a ground-truth record in silver: what has been published."""
    row = inputs.truth.agg(F.max("batch_id")).first()
    return None if row is None else row[0]


def label_outcomes(inputs: ScoreInputs, plan: PipelinePlan, through: str | None) -> DataFrame:
    """One row per label (not ``drop``): kind, expected, batch_id, ``scored_in`` (the interval whose
    closing decides it: where the record was published), ``outcome`` and ``absence`` (1 − its rows in
    silver)."""
    labels = inputs.labels.where(F.col("expected") != MISSING)
    ids = labels.select("topic", "record_id")
    silver_rows = [
        frame.select(
            F.lit(name).alias("topic"), F.col(plan.by_name(name).id_field).cast("string").alias("record_id")
        )
        for name, frame in inputs.silver.items()
    ]
    in_silver = (
        reduce(lambda a, b: a.unionByName(b), silver_rows)
        .join(ids, ["topic", "record_id"], "left_semi")
        .groupBy("topic", "record_id")
        .agg(F.count(F.lit(1)).alias("in_silver"))
    )
    reasons = (
        _quarantined(inputs, plan)
        .join(ids, ["topic", "record_id"], "left_semi")
        .groupBy("topic", "record_id")
        .agg(F.collect_set("reason").alias("reasons"))
    )
    checked = _checked(inputs).select(F.col("batch_id").alias("scored_in"))
    joined = (
        labels.withColumn("scored_in", F.coalesce("published_batch_id", "batch_id"))
        .join(in_silver, ["topic", "record_id"], "left")
        .join(reasons, ["topic", "record_id"], "left")
        .join(checked.withColumn("checked", F.lit(True)), "scored_in", "left")
    )
    silver = F.coalesce(F.col("in_silver"), F.lit(0))
    quarantined = F.coalesce(F.size("reasons"), F.lit(0)) > 0
    expected = F.col("expected")
    unpublished = F.col("published_batch_id").isNotNull() & (
        F.lit(through).isNull() | (F.col("published_batch_id") > F.lit(through))
    )
    undecided = (silver == 0) & ~quarantined & (unpublished | F.col("checked").isNull())
    outcome = (
        F.when(F.array_contains(F.coalesce(F.col("reasons"), F.array()), expected), F.lit("correct"))
        .when(quarantined, F.lit("wrong_reason"))
        .when(undecided, F.lit("pending"))
        .when(expected == ACCEPTED, F.when(silver >= 1, F.lit("correct")).otherwise(F.lit("missed")))
        .when(expected == DUPLICATE, F.when(silver == 1, F.lit("correct")).otherwise(F.lit("missed")))
        .otherwise(F.lit("missed"))
    )
    return joined.select(
        "topic",
        "record_id",
        "kind",
        "expected",
        "batch_id",
        "scored_in",
        outcome.alias("outcome"),
        (F.lit(1) - silver).alias("absence"),
    )


def _checked(inputs: ScoreInputs) -> DataFrame:
    """The intervals (``batch_id``) with a check that can be judged: none of its rows ``cleaned`` (a
    producer clean may have emptied it)."""
    return (
        inputs.checks.groupBy("batch_id")
        .agg(F.max(F.col("status") == F.lit("cleaned")).alias("cleaned"))
        .where(~F.col("cleaned"))
        .select("batch_id")
    )


def _shortfalls(inputs: ScoreInputs) -> DataFrame:
    """Per (batch_id, topic) with a check that has ground truth: expected − observed, from the final
    check when there is one. Each category field's rows are summed with a category without ground
    truth expecting 0 (an accepted record moved to an unknown category is then not short), and the
    fields agree, so the largest is taken (the total when the ground truth declares one)."""
    rows = inputs.checks.join(_checked(inputs), "batch_id", "left_semi")
    per_field = rows.groupBy("batch_id", "topic", "provisional", "category_field").agg(
        F.sum(F.coalesce(F.col("expected"), F.lit(0)) - F.col("observed")).alias("shortfall"),
        F.max(F.col("expected").isNotNull()).alias("has_truth"),
    )
    per_check = (
        per_field.where("has_truth")
        .groupBy("batch_id", "topic", "provisional")
        .agg(F.max("shortfall").alias("shortfall"))
    )
    return per_check.groupBy("batch_id", "topic").agg(F.min_by("shortfall", "provisional").alias("shortfall"))


def drop_outcomes(inputs: ScoreInputs, outcomes: DataFrame, clean: DataFrame) -> DataFrame:
    """Per (batch_id, topic) with drops or a check: drops caught, missed and pending, and records lost
    beyond the drops (false positives of ``drop``). The labelled records and the ``clean`` records
    the pipeline quarantined (already false positives of their reason) explain part of the shortfall."""
    drops = (
        inputs.labels.where(F.col("expected") == MISSING)
        .groupBy("batch_id", "topic")
        .agg(F.count(F.lit(1)).alias("drops"))
    )
    explained = (
        outcomes.select("batch_id", "topic", "absence")
        .unionByName(clean.select("batch_id", "topic", F.lit(1).alias("absence")))
        .groupBy("batch_id", "topic")
        .agg(F.sum("absence").alias("explained"))
    )
    joined = (
        _shortfalls(inputs)
        .join(drops, ["batch_id", "topic"], "full")
        .join(explained, ["batch_id", "topic"], "left")
    )
    checked = F.col("shortfall").isNotNull()
    count = F.coalesce(F.col("drops"), F.lit(0))
    unexplained = F.col("shortfall") - F.coalesce(F.col("explained"), F.lit(0))
    caught = F.least(F.greatest(unexplained, F.lit(0)), count)
    return joined.select(
        "batch_id",
        "topic",
        F.when(checked, caught).otherwise(0).alias("caught"),
        F.when(checked, count - caught).otherwise(0).alias("missed"),
        F.when(checked, 0).otherwise(count).alias("pending"),
        F.when(checked, F.greatest(unexplained - count, F.lit(0))).otherwise(0).alias("lost"),
    )


def _kind_of_reason() -> Column:
    column: Column = F.lit(None).cast("string")
    for reason, kind in REASON_KINDS.items():
        column = F.when(F.col("reason") == F.lit(reason), F.lit(kind)).otherwise(column)
    return column


def per_kind(inputs: ScoreInputs, plan: PipelinePlan, by_interval: bool = False) -> DataFrame:
    """The score: one row per fault kind (``by_interval``: per interval and kind, the interval being
    the one whose closing decides each count) with :data:`COUNTS`."""
    through = published_through(inputs)
    outcomes = label_outcomes(inputs, plan, through).persist()
    try:
        keys = ["batch_id", "kind"] if by_interval else ["kind"]
        zero = F.lit(0).cast("long")

        def counted(frame: DataFrame, **columns: Column) -> DataFrame:
            return frame.select(*keys, *[columns.get(name, zero).cast("long").alias(name) for name in COUNTS])

        def outcome_is(name: str) -> Column:
            return F.when(F.col("outcome") == name, 1).otherwise(0)

        labelled = counted(
            outcomes.withColumn("batch_id", F.col("scored_in")),
            injected=F.when(F.col("outcome") != "pending", 1).otherwise(0),
            correct=outcome_is("correct"),
            wrong_reason=outcome_is("wrong_reason"),
            missed=outcome_is("missed"),
            pending=outcome_is("pending"),
        )
        quarantined = (
            _quarantined(inputs, plan).withColumn("kind", _kind_of_reason()).where(F.col("kind").isNotNull())
        )
        labelled_ids = inputs.labels.select(
            "topic", "record_id", F.coalesce("published_batch_id", "batch_id").alias("scored_in")
        ).dropDuplicates(["topic", "record_id"])
        clean = quarantined.join(labelled_ids, ["topic", "record_id"], "left_anti")
        # A labelled record's quarantine counts in the interval that decides its label, like its
        # outcome; a clean one in the interval its payload names.
        attributed = (
            quarantined.join(labelled_ids, ["topic", "record_id"], "left")
            .withColumn("batch_id", F.coalesce("scored_in", "batch_id"))
            .drop("scored_in")
        )
        event_topics = [topic.name for topic in plan.of_role("events")]
        drops = drop_outcomes(inputs, outcomes, clean.where(F.col("topic").isin(event_topics))).withColumn(
            "kind", F.lit("drop")
        )
        dropped = counted(
            drops,
            injected=F.col("caught") + F.col("missed"),
            correct=F.col("caught"),
            missed=F.col("missed"),
            pending=F.col("pending"),
            false_positives=F.col("lost"),
            flagged=F.col("caught") + F.col("lost"),
        )
        if by_interval:
            attributed = attributed.where(F.col("batch_id") != "")
            clean = clean.where(F.col("batch_id") != "")
        flagged = counted(attributed, flagged=F.lit(1))
        false_positives = counted(clean, false_positives=F.lit(1))
        total = reduce(lambda a, b: a.unionByName(b), [labelled, dropped, flagged, false_positives])
        return total.groupBy(*keys).agg(*[F.sum(name).alias(name) for name in COUNTS])
    finally:
        outcomes.unpersist()


@dataclass(frozen=True)
class KindScore:
    """One fault kind's figures."""

    kind: str
    expected: str
    injected: int
    correct: int
    wrong_reason: int
    missed: int
    pending: int
    false_positives: int | None
    flagged: int | None

    @property
    def precision(self) -> float | None:
        if self.flagged is None or self.flagged == 0:
            return None
        return self.correct / self.flagged

    @property
    def recall(self) -> float | None:
        return self.correct / self.injected if self.injected else None

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "precision": self.precision, "recall": self.recall}


def kind_scores(rows: Iterable[Any]) -> list[KindScore]:
    """Collected :func:`per_kind` rows → one :class:`KindScore` per fault kind, in the fixed kind order
    (kinds with nothing to count are listed with zeros)."""
    found = {row["kind"]: row for row in rows}
    scores = []
    for kind in FAULT_KINDS:
        row = found.get(kind)
        counts = {name: int(row[name] or 0) if row is not None else 0 for name in COUNTS}
        observable = kind not in NO_PRECISION
        scores.append(
            KindScore(
                kind=kind,
                expected=EXPECTED[kind],
                injected=counts["injected"],
                correct=counts["correct"],
                wrong_reason=counts["wrong_reason"],
                missed=counts["missed"],
                pending=counts["pending"],
                false_positives=counts["false_positives"] if observable else None,
                flagged=counts["flagged"] if observable else None,
            )
        )
    return scores


def score_tables(spark: SparkSession, tables: Tables, labels_file: str | None = None) -> list[KindScore]:
    """``seedstream score``: the figures over everything the tables hold."""
    return kind_scores(per_kind(inputs_from(spark, tables, labels_file), tables.plan).collect())


def restricted(inputs: ScoreInputs, intervals: list[str]) -> ScoreInputs:
    """``inputs`` cut down to what the counts of ``intervals`` depend on: their labels (by interval or
    by publishing interval), and the silver rows and checks of those labels' intervals (Delta skips
    files by ``batch_id``), so scoring a closed interval does not read the whole run."""
    labels = inputs.labels.where(
        F.col("batch_id").isin(intervals) | F.coalesce("published_batch_id", "batch_id").isin(intervals)
    )
    batches = sorted({row[0] for row in labels.select("batch_id").distinct().collect()} | set(intervals))
    in_batches = F.col("batch_id").isin(batches)
    return ScoreInputs(
        labels=labels,
        silver={name: frame.where(in_batches) for name, frame in inputs.silver.items()},
        quarantine=inputs.quarantine,
        checks=inputs.checks.where(in_batches),
        truth=inputs.truth,
    )


def interval_rows(inputs: ScoreInputs, plan: PipelinePlan, intervals: list[str]) -> DataFrame:
    """``checks/quality_score`` rows for the ``intervals`` just closed."""
    expected = F.create_map(*[F.lit(x) for pair in EXPECTED.items() for x in pair])
    scored = per_kind(restricted(inputs, intervals), plan, by_interval=True).where(
        F.col("batch_id").isin(intervals)
    )
    return scored.select(
        "batch_id",
        "kind",
        expected[F.col("kind")].alias("expected"),
        *COUNTS,
        F.current_timestamp().alias("scored_at"),
    )


@dataclass
class QualityScoreWriter:
    """Appends ``checks/quality_score`` rows for the intervals each checks micro-batch closed, exactly
    once per micro-batch (Delta's ``txnAppId``/``txnVersion``), while the label topic holds labels.

    The labels come from Kafka (``read_labels``: a batch read of the label topic), not from its bronze
    table: an interval's labels are committed with (before) its ground truth, so they are all there
    once the watermark closes it, while the bronze query lands them on its own, slower trigger."""

    spark: SparkSession
    tables: Tables
    read_labels: Callable[[], DataFrame]

    def __call__(self, intervals: list[str], micro_batch_id: int, writer_id: str) -> None:
        if not intervals:
            return
        labels = parsed_labels(self.read_labels()).persist()
        try:
            if not labels.limit(1).count():
                return
            inputs = inputs_from(self.spark, self.tables, labels=labels)
            (
                interval_rows(inputs, self.tables.plan, intervals)
                .write.format("delta").mode("append")
                .option("txnAppId", f"{writer_id}:quality_score").option("txnVersion", micro_batch_id)
                .save(self.tables.quality_score)
            )  # fmt: skip
        finally:
            labels.unpersist()
