"""The silver and checks tables take their shapes from the silver query's plan: the same schemas,
column for column and nullability included, as planning the parse of an empty frame gives."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from producer.config import load_config
from producer.datadir import TableLocations
from streaming.contract import plan_for
from streaming.create import _silver_and_checks_shapes
from streaming.job import Pipeline

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("preset", ["small", "tapflow.small", "identity.small"])
def test_shapes_from_the_silver_plan_equal_the_shapes_from_a_parse(
    spark: SparkSession, tmp_path: Path, preset: str
) -> None:
    config = load_config(preset)
    plan = plan_for(config)
    # Partition counts given: the plan is built without a broker (Kafka is read only at start).
    pipeline = Pipeline(
        spark,
        config,
        TableLocations(f"file:{tmp_path}"),
        partitions={topic.name: 2 for topic in plan.topics},
        labels=False,
    )
    parsed = _silver_and_checks_shapes(pipeline.tables)
    planned = _silver_and_checks_shapes(pipeline.tables, pipeline.silver_frame())
    assert planned.keys() == parsed.keys()
    assert len(parsed) == len(plan.topics) + 4  # + quarantine, observations, checks, quality score
    for path, (frame, partition, properties) in parsed.items():
        other, other_partition, other_properties = planned[path]
        assert other.schema == frame.schema, path
        assert (other_partition, other_properties) == (partition, properties), path
