"""The scorer on hand-made tables of a pipeline that gets things wrong: a wrong reason, a missed fault,
an accepted duplicate, a clean record quarantined, records lost that nobody dropped, a late record
not published yet, records the pipeline may not have read and a drop whose interval has no check;
per kind and per interval."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from producer.datadir import TableLocations
from producer.errors import BadInputError
from producer.generation.fault_labels import EXPECTED
from producer.generation.testing import make_config
from streaming.contract import plan_for
from streaming.score import ScoreInputs, interval_rows, kind_scores, per_kind, read_labels
from streaming.score_report import score_data_dir
from streaming.tables import Tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

B1, B2, B3, B4 = "20251108T0000Z", "20251108T0015Z", "20251108T0030Z", "20251108T0045Z"
EVENTS = "fleet.driver-events"
KAFKA_EVENTS = "fleet.driver-events"  # the topic prefix is empty in this config


def _label(record_id: str, kind: str, batch_id: str = B1, published: str | None = B1) -> dict[str, Any]:
    return {
        "record_id": record_id, "kind": kind, "topic": EVENTS, "key": "k", "batch_id": batch_id,
        "published_batch_id": None if kind == "drop" else published, "expected": EXPECTED[kind],  # type: ignore[index]
        "detail": "",
    }  # fmt: skip


def _quarantined(record_id: str, reason: str, batch_id: str = B1, truncated: bool = False) -> dict[str, str]:
    """A quarantine row; its payload as the producer writes it (``batch_id`` last), or cut after the
    record id as a ``malformed_json`` fault cuts it."""
    raw = f'{{"event_id":"{record_id}","driver_id":"d","batch_id":"{batch_id}"}}'
    if truncated:
        raw = raw[: raw.index(",") + 3]
    return {"reason": reason, "source_topic": KAFKA_EVENTS, "raw_value": raw}


def _check(
    batch_id: str, expected: int, observed: int, provisional: bool = False, status: str | None = None
) -> dict[str, Any]:
    return {
        "batch_id": batch_id, "topic": EVENTS, "category_field": None, "expected": expected,
        "observed": observed, "status": status or ("missing" if observed < expected else "complete"),
        "provisional": provisional,
    }  # fmt: skip


@pytest.fixture(scope="module")
def scored(spark: SparkSession) -> tuple[Any, ScoreInputs]:
    plan = plan_for(make_config("small", kafka__topic_prefix=""))
    assert plan.by_name(EVENTS).kafka_topic == KAFKA_EVENTS
    labels = [
        _label("r1", "late"),  # quarantined late: correct
        _label("r2", "malformed_json"),  # quarantined as a schema violation: wrong reason
        _label("r3", "unknown_category"),  # accepted into silver: missed
        _label("r4", "out_of_order"),  # quarantined late: wrong reason
        _label("r5", "duplicate"),  # in silver twice: missed
        _label("r6", "drop"),  # B1 is 6 short; r1 r2 r4 r7 r12 explain 5, r5 −1: r6 + one lost
        _label("r7", "late", published=B4),  # B4 not published yet: pending
        _label("r8", "drop", batch_id=B3),  # B3's check is `cleaned`: pending
        _label("r9", "out_of_order", batch_id=B2, published=B2),  # in silver: correct
        _label("r10", "unknown_category", batch_id=B3, published=B3),  # nowhere, B3 unchecked: pending
        _label("r11", "late", batch_id=B2, published=B2),  # nowhere, B2 checked: missed
        _label("r12", "malformed_json"),  # quarantined unparseable, its batch_id cut off: correct
    ]
    quarantine = [
        _quarantined("r1", "late"),
        _quarantined("r1", "late"),  # republished after a producer restart: one record
        _quarantined("r2", "schema_violation"),
        _quarantined("r12", "unparseable", truncated=True),
        _quarantined("r4", "late"),
        _quarantined("c1", "unknown_reference", batch_id=B2),  # a clean record
        {"reason": "schema_violation", "source_topic": "fleet.companies", "raw_value": '{"company_id":"x"'},
    ]
    silver = [("r3", B1), ("r5", B1), ("r5", B1), ("r9", B2), ("c2", B2)]
    checks = [
        _check(B1, 10, 4, provisional=True),
        _check(B1, 10, 4),
        _check(B2, 5, 5, provisional=True),  # c1 and r11 are missing, but c2 is a surplus
        _check(B3, 10, 8, status="cleaned"),
    ]
    inputs = ScoreInputs(
        labels=spark.createDataFrame(labels),
        silver={EVENTS: spark.createDataFrame(silver, "event_id string, batch_id string")},
        quarantine=spark.createDataFrame(quarantine),
        checks=spark.createDataFrame(
            checks,
            "batch_id string, topic string, category_field string, expected long, observed long, "
            "status string, provisional boolean",
        ),
        truth=spark.createDataFrame([(B1,), (B2,), (B3,)], "batch_id string"),
    )
    return plan, inputs


def test_each_outcome_is_counted_for_its_kind(scored: tuple[Any, ScoreInputs]) -> None:
    plan, inputs = scored
    scores = {score.kind: score for score in kind_scores(per_kind(inputs, plan).collect())}

    def figures(kind: str) -> tuple[Any, ...]:
        s = scores[kind]
        return (s.injected, s.correct, s.wrong_reason, s.missed, s.pending, s.false_positives, s.flagged)

    assert figures("late") == (2, 1, 0, 1, 1, 0, 2)  # r4's quarantine row also got `late`
    assert scores["late"].precision == 0.5 and scores["late"].recall == 0.5
    assert figures("malformed_json") == (2, 1, 1, 0, 0, 0, 1)
    assert scores["malformed_json"].precision == 1.0 and scores["malformed_json"].recall == 0.5
    assert figures("schema_violation") == (0, 0, 0, 0, 0, 1, 2)  # r2 and the clean entity row
    assert scores["schema_violation"].precision == 0.0 and scores["schema_violation"].recall is None
    assert figures("unknown_category") == (1, 0, 0, 1, 1, 0, 0)
    assert figures("out_of_order") == (2, 1, 1, 0, 0, None, None)
    assert figures("duplicate") == (1, 0, 0, 1, 0, None, None)
    assert figures("unknown_reference") == (0, 0, 0, 0, 0, 1, 1)
    assert figures("drop") == (1, 1, 0, 0, 1, 1, 2)  # B1: 6 short − 4 explained = r6 + one lost record
    assert scores["drop"].precision == 0.5
    assert figures("reference_not_yet_valid") == (0, 0, 0, 0, 0, 0, 0)


def test_interval_rows_attribute_each_count_to_the_interval_that_decides_it(
    scored: tuple[Any, ScoreInputs],
) -> None:
    plan, inputs = scored
    rows = {(row.batch_id, row.kind): row for row in interval_rows(inputs, plan, [B1, B2]).collect()}
    assert {batch for batch, _ in rows} == {B1, B2}
    assert (rows[(B1, "drop")].correct, rows[(B1, "drop")].false_positives) == (1, 1)
    assert (rows[(B2, "out_of_order")].injected, rows[(B2, "out_of_order")].correct) == (1, 1)
    assert rows[(B2, "unknown_reference")].false_positives == 1
    assert rows[(B1, "late")].expected == "late"
    # A labelled record's quarantine row counts where its label is decided, even when its payload
    # no longer names the interval (r12, cut before batch_id).
    assert (rows[(B1, "malformed_json")].correct, rows[(B1, "malformed_json")].flagged) == (1, 1)
    assert rows[(B1, "late")].flagged == 2
    assert (B4, "late") not in rows  # pending until B4 closes


def test_a_data_dir_without_tables_or_labels_is_refused_naming_what_is_missing(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = make_config("small")
    with pytest.raises(BadInputError, match="run the streaming job on --data-dir"):
        score_data_dir(config, str(tmp_path / "empty"))
    (tmp_path / "d" / "delta" / "silver").mkdir(parents=True)
    with pytest.raises(BadInputError, match="no Delta table at"):
        score_data_dir(config, str(tmp_path / "d"))
    with pytest.raises(BadInputError, match="--labels .*: no such file"):
        tables = Tables(spark, plan_for(config), TableLocations(str(tmp_path)))
        read_labels(spark, tables, str(tmp_path / "x"))
