"""A silver checkpoint made for other event partitions is refused before any query starts, with the
topics that differ and the ways out, instead of Spark's assertion about source counts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from producer.config import load_config
from producer.datadir import TableLocations
from producer.errors import BadInputError
from streaming.contract import plan_for
from streaming.job import SILVER, Pipeline, bronze_query_name

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

CONFIG = load_config("small")
PLAN = plan_for(CONFIG)
EVENTS = PLAN.by_name("fleet.driver-events").kafka_topic
COMPANIES = PLAN.by_name("fleet.companies").kafka_topic
BATCHES = PLAN.by_name("fleet.driver-batches").kafka_topic
METADATA = {"batchWatermarkMs": 0, "batchTimestampMs": 1795488596154, "conf": {}}


def pipeline(spark: SparkSession, root: Path, event_partitions: int) -> Pipeline:
    partitions = {topic.name: 3 for topic in PLAN.topics}
    partitions["fleet.driver-events"] = event_partitions
    partitions["fleet.driver-batches"] = 1
    return Pipeline(spark, CONFIG, TableLocations(f"file:{root}"), partitions=partitions, labels=False)


def write_offsets(root: Path, batch: int, sources: list[dict[str, dict[str, int]] | None]) -> None:
    """``offsets/<batch>`` as Spark writes it (the format of a real silver checkpoint's file; a
    source without an offset is ``-``)."""
    offsets = root / "checkpoints" / SILVER / "offsets"
    offsets.mkdir(parents=True, exist_ok=True)
    lines = ["v1", json.dumps(METADATA), *("-" if s is None else json.dumps(s) for s in sources)]
    (offsets / str(batch)).write_text("\n".join(lines))


def silver_offsets(event_partitions: int, prefix: str = "") -> list[dict[str, dict[str, int]]]:
    events = [{f"{prefix}{EVENTS}": {str(p): 100 * p}} for p in range(event_partitions)]
    return [*events, {f"{prefix}{COMPANIES}": {"0": 3, "1": 4, "2": 5}, f"{prefix}{BATCHES}": {"0": 8}}]


def test_a_checkpoint_of_the_same_partitions_starts_and_none_at_all_too(
    spark: SparkSession, tmp_path: Path
) -> None:
    job = pipeline(spark, tmp_path, 3)
    job.check_checkpoint()  # no checkpoint yet
    write_offsets(tmp_path, 0, silver_offsets(2))
    write_offsets(tmp_path, 1, silver_offsets(3))  # the latest micro-batch is what counts
    assert job.tables.checkpoint_sources(SILVER) == [
        {EVENTS: [0]},
        {EVENTS: [1]},
        {EVENTS: [2]},
        {COMPANIES: [0, 1, 2], BATCHES: [0]},
    ]
    job.check_checkpoint()
    # Partitions added to an entity topic: its source subscribes, and Spark follows them.
    write_offsets(tmp_path, 2, [*silver_offsets(3)[:3], {COMPANIES: {"0": 3}, BATCHES: {"0": 8}}])
    job.check_checkpoint()
    # A source recorded without an offset tells nothing either way.
    write_offsets(tmp_path, 3, [None, *silver_offsets(3)[1:]])
    job.check_checkpoint()


def test_event_partitions_added_are_refused_with_the_topic_and_the_ways_out(
    spark: SparkSession, tmp_path: Path
) -> None:
    write_offsets(tmp_path, 0, silver_offsets(3))
    with pytest.raises(BadInputError) as refused:
        pipeline(spark, tmp_path, 4).check_checkpoint()
    message = str(refused.value)
    assert f"{EVENTS}: 3 partitions in the checkpoint, 4 now" in message
    assert f"seedstream clean --pipeline --data-dir {tmp_path} --yes" in message
    assert refused.value.exit_code == 2


def test_another_topic_prefix_is_refused(spark: SparkSession, tmp_path: Path) -> None:
    write_offsets(tmp_path, 0, silver_offsets(3, prefix="old."))
    with pytest.raises(BadInputError) as refused:
        pipeline(spark, tmp_path, 3).check_checkpoint()
    message = str(refused.value)
    assert f"old.{EVENTS}: 3 partitions in the checkpoint, 0 now" in message
    assert f"{EVENTS}: 0 partitions in the checkpoint, 3 now" in message
    assert f"old.{COMPANIES}: read in the checkpoint, not now" in message
    assert f"{BATCHES}: read now, not in the checkpoint" in message


def test_an_earlier_layout_and_changed_entity_topics_are_refused_naming_the_sources(
    spark: SparkSession, tmp_path: Path
) -> None:
    """One source per event topic (the layout before one per partition): the partitions add up,
    the sources do not. An entity topic added or gone changes what the entity source reads."""
    job = pipeline(spark, tmp_path, 3)
    write_offsets(tmp_path, 0, [{EVENTS: {"0": 1, "1": 2, "2": 3}}, silver_offsets(3)[-1]])
    with pytest.raises(BadInputError, match=f"{EVENTS}: 1 source in the checkpoint, 3 now"):
        job.check_checkpoint()
    write_offsets(tmp_path, 1, [*silver_offsets(3)[:3], {COMPANIES: {"0": 3}, "gone": {"0": 1}}])
    with pytest.raises(BadInputError) as refused:
        job.check_checkpoint()
    assert "gone: read in the checkpoint, not now" in str(refused.value)
    assert f"{BATCHES}: read now, not in the checkpoint" in str(refused.value)
    write_offsets(tmp_path, 2, [None, {EVENTS: {"1": 2}}, silver_offsets(3)[-1]])
    with pytest.raises(BadInputError, match=r"3 sources in the checkpoint \(1 without an offset\), 4 now"):
        job.check_checkpoint()


def test_a_data_dir_whose_topics_had_bronze_queries_is_refused_with_the_ways_out(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Bronze moved into the silver query: the bronze queries' checkpoints of an earlier version
    stopped elsewhere than silver's, so continuing would leave a gap in bronze or land records twice."""
    write_offsets(tmp_path, 0, silver_offsets(3))
    offsets = tmp_path / "checkpoints" / bronze_query_name(EVENTS) / "offsets"
    offsets.mkdir(parents=True)
    (offsets / "4").write_text("\n".join(["v1", json.dumps(METADATA), json.dumps({EVENTS: {"0": 120}})]))
    with pytest.raises(BadInputError) as refused:
        pipeline(spark, tmp_path, 3).check_checkpoint()
    message = str(refused.value)
    assert f"landed bronze in queries of its own ({EVENTS})" in message
    assert f"seedstream clean --pipeline --data-dir {tmp_path} --yes" in message
    assert refused.value.exit_code == 2
    # The fault-label topic keeps its own bronze query: its checkpoint is no reason to refuse.
    (tmp_path / "checkpoints" / bronze_query_name(EVENTS)).rename(
        tmp_path / "checkpoints" / bronze_query_name(PLAN.labels_topic)
    )
    pipeline(spark, tmp_path, 3).check_checkpoint()


def test_a_micro_batch_without_entity_records_is_told_by_the_offsets_spark_wrote(
    spark: SparkSession, tmp_path: Path
) -> None:
    job = pipeline(spark, tmp_path, 2)
    writer = job.silver_writer
    assert job.tables.planned_micro_batch(SILVER) == -1
    assert job.tables.batch_offsets(SILVER, 0) is None
    entities = {COMPANIES: {"0": 3, "1": 4, "2": 5}, BATCHES: {"0": 8}}
    events = [{EVENTS: {"0": 10}}, {EVENTS: {"1": 20}}]
    write_offsets(tmp_path, 0, [*events, entities])
    write_offsets(tmp_path, 1, [{EVENTS: {"0": 15}}, {EVENTS: {"1": 25}}, {**entities, BATCHES: {"0": 9}}])
    write_offsets(
        tmp_path,
        2,
        [{EVENTS: {"0": 15}}, {EVENTS: {"1": 25}}, {**entities, COMPANIES: {"0": 3, "1": 4, "2": 6}}],
    )
    assert job.tables.planned_micro_batch(SILVER) == 2
    # Every source's offsets in one mapping: topic → partition → where the micro-batch ends.
    assert job.tables.batch_offsets(SILVER, 1) == {
        EVENTS: {0: 15, 1: 25},
        COMPANIES: {0: 3, 1: 4, 2: 5},
        BATCHES: {0: 9},
    }
    assert not writer.without_entities(0)  # where the first micro-batch starts is not written down
    assert writer.without_entities(1)  # the entity topic ends where micro-batch 0 ended
    assert not writer.without_entities(2)  # companies partition 2 moved on
    assert not writer.without_entities(4)  # offsets not (or no longer) there
