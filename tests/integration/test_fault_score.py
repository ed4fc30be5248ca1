"""Every fault kind end to end: a backfill with all ten kinds into the real broker, then
``stream --available-now`` on real Spark and Delta; our pipeline handles every injected fault as its
label says, ``drop`` gives ``missing`` with the exact difference, and ``seedstream score`` (and the
``quality_score`` table the job writes as intervals close) says so."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from typer.testing import CliRunner

from producer.cli import app
from producer.datadir import TableLocations
from producer.generation.fault_settings import FAULT_KINDS
from streaming.contract import plan_for
from streaming.score import NO_PRECISION, score_tables
from streaming.submit import run_stream
from streaming.tables import Tables
from tests.integration.streaming_support import make_case, produce_backfill, table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.kafka, pytest.mark.spark]

INTERVALS = 8
"""Two hours of ``small`` (15-minute intervals, ~50 events each)."""
RATE = 0.04
ABSENT = {"late", "malformed_json", "schema_violation", "unknown_category", "unknown_reference",
          "reference_not_yet_valid", "outside_interval", "drop"}  # fmt: skip
"""Kinds whose record is not in silver (quarantined, not published yet, or dropped)."""


def _faulted_preset(directory: Path) -> Path:
    """``small`` with every kind at 4 %. A late record comes 50–60 minutes after its event time, and
    each micro-batch reads 22 records per event partition (~13 minutes of events), so the watermark
    (one interval behind) has passed a late record when it is read, whatever the two partitions'
    skew; out-of-order records and duplicates come within a minute."""
    preset = yaml.safe_load((Path(__file__).parents[2] / "configs" / "small.yaml").read_text())
    preset["faults"] = {kind: {"rate": RATE} for kind in FAULT_KINDS}
    preset["faults"]["late"]["delay"] = ["PT50M", "PT60M"]
    path = directory / "small.faults.yaml"
    path.write_text(yaml.safe_dump(preset))
    return path


def test_every_fault_kind_is_caught_with_its_reason_and_scored(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    case = make_case(
        kafka_bootstrap,
        data_dir_factory("faults"),
        unique_name("fs") + ".",
        preset=str(_faulted_preset(tmp_path)),
        streaming__max_offsets_per_trigger=44,
    )
    produce_backfill(case, INTERVALS)
    run_stream(case.config, case.data_dir, available_now=True, spark=spark)

    plan = plan_for(case.config)
    tables = Tables(spark, plan, TableLocations(str(case.data_dir)))
    labels = [json.loads(row.value) for row in table(spark, case, "bronze", plan.labels_topic).collect()]
    published = {row.batch_id for row in table(spark, case, "silver", plan.ground_truth.table).collect()}
    assert len({label["batch_id"] for label in labels}) == INTERVALS
    kinds = Counter(label["kind"] for label in labels)
    assert set(kinds) >= set(FAULT_KINDS) - {"reference_not_yet_valid"}, kinds

    # The score: every injected fault handled as its label says, nothing flagged that was clean.
    scores = {score.kind: score for score in score_tables(spark, tables)}
    pending = sum(1 for label in labels if (label["published_batch_id"] or "") > max(published))
    assert pending and scores["late"].pending == pending  # late records of the last intervals
    for kind in FAULT_KINDS:
        score = scores[kind]
        assert score.injected + score.pending == kinds[kind], kind
        assert (score.correct, score.wrong_reason, score.missed) == (score.injected, 0, 0), score
        if kind in kinds:
            assert score.recall == 1.0, score
        if kind in NO_PRECISION:
            assert (score.precision, score.false_positives) == (None, None), score
        else:
            assert score.false_positives == 0, score
            assert score.precision == (1.0 if score.injected else None), score

    # Quarantine: exactly the faults that have a reason, each with its label's.
    reasons = Counter(row.reason for row in table(spark, case, "silver", "quarantine").collect())
    expected = Counter(
        label["expected"] for label in labels
        if label["expected"] not in ("accepted", "dropped_as_duplicate", "missing")
        and (label["published_batch_id"] or "") <= max(published)
    )  # fmt: skip
    assert reasons == expected

    # Drops: each interval's check reports missing, short by exactly the records that did not reach
    # silver (dropped, quarantined, or late and not published yet).
    events = plan.of_role("events")[0]
    absent = Counter(label["batch_id"] for label in labels if label["kind"] in ABSENT)
    checks = table(spark, case, "checks", "interval_checks").where("category_field IS NULL").collect()
    assert {row.batch_id for row in checks} == published
    for row in checks:
        assert row.topic == events.name
        status = "missing" if absent[row.batch_id] else "complete"
        assert (row.difference, row.status) == (-absent[row.batch_id], status)
    dropped = {label["batch_id"] for label in labels if label["kind"] == "drop"}
    assert dropped and all(row.status == "missing" for row in checks if row.batch_id in dropped)

    # The quality_score table, written by the checks query as the watermark closed intervals.
    final = {row.batch_id for row in checks if not row.provisional}
    quality = table(spark, case, "checks", "quality_score").collect()
    assert final and {row.batch_id for row in quality} <= final
    assert {row.batch_id for row in quality if row.injected} == {
        label["published_batch_id"] or label["batch_id"] for label in labels
    } & final
    for row in quality:
        figures = (row.correct, row.wrong_reason, row.missed, row.false_positives)
        assert figures == (row.injected, 0, 0, 0), row

    # seedstream score prints the same figures.
    result = CliRunner().invoke(
        app, ["score", "--config", case.preset, "--data-dir", str(case.data_dir), "--json"], env=case.env
    )
    assert result.exit_code == 0, result.output
    printed = {entry["kind"]: entry for entry in json.loads(result.stdout)}
    assert printed == {kind: score.as_json() for kind, score in scores.items()}
