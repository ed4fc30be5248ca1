"""``seedstream validate`` on a real backfill of ``identity.small``: every query passes, a corrupted
table fails naming its query, and the tables keep their names in the data dir's metastore; the
seed's Z-order runs on every declared table (``seedstream optimize``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pyspark.sql import functions as F

from producer.datadir import TableLocations
from producer.generation.scenarios.registry import get_scenario
from streaming.contract import plan_for
from streaming.optimize import optimize
from streaming.submit import run_stream
from streaming.tables import Tables
from streaming.validate import run_validation
from tests.fixtures.runtime import SEEDSTREAM
from tests.integration.streaming_support import make_case, produce_backfill, run_cli, table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.kafka, pytest.mark.spark]

NAMES_CHECK = """
import sys
from streaming.session import SparkSettings, build_spark
spark = build_spark(SparkSettings(master="local[1]", ui_enabled=False, metastore=sys.argv[1]))
catalog = spark.catalog
names = [f"{db.name}.{t.name}" for db in catalog.listDatabases() for t in catalog.listTables(db.name)]
print(sorted(names))
"""


def test_validate_passes_on_a_backfill_and_fails_naming_the_query_on_a_corrupted_table(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
) -> None:
    case = make_case(
        kafka_bootstrap, data_dir_factory("validate"), unique_name("va") + ".", preset="identity.small"
    )
    produce_backfill(case, 4)
    run_stream(case.config, case.data_dir, available_now=True, spark=spark)

    tables = Tables(spark, plan_for(case.config), TableLocations(str(case.data_dir)))
    results = run_validation(spark, case.config, tables)
    names = [result.query.name for result in results]
    for seed_query in ("orphaned_individuals", "temporal_violations", "avg_identifiers_per_person"):
        assert f"{seed_query} (seed)" in names
    assert "out_of_campaign_period (seed)" in names
    assert [result.query.name for result in results if not result.passed] == []
    assert len(results) > 40  # the seed's four, one per constraint and rule, integrity, intervals

    optimized = {result.table: result for result in optimize(spark, case.config, tables)}
    assert set(optimized) == set(get_scenario("identity").zorder())
    assert {result.problem for result in optimized.values()} == {None}
    assert all(result.files_added for result in optimized.values())

    # a response before its exposure
    responses = table(spark, case, "silver", "response_events")
    bad = responses.limit(1).withColumn(
        "response_timestamp", F.col("exposure_timestamp") - F.expr("INTERVAL 1 HOUR")
    )
    bad.write.format("delta").mode("append").save(str(case.data_dir / "delta" / "silver" / "response_events"))
    failed = run_cli(case, "validate", "--config", "identity.small", "--data-dir", str(case.data_dir))
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    last = [line for line in failed.stderr.splitlines() if line.strip()][-1]
    assert "validation queries failed" in last
    assert "temporal_violations (seed)" in last
    assert "FAIL" in failed.stdout

    # the CLI registered the names in the data dir's metastore: any later session sees them
    listed = subprocess.run(
        [sys.executable, "-c", NAMES_CHECK, str(case.data_dir)],
        capture_output=True, text=True, timeout=180, check=False, cwd=case.data_dir,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "identity_silver.households" in listed.stdout
    assert "identity_gold.outcome_metrics" in listed.stdout
    assert "identity_checks.interval_checks" in listed.stdout


def test_validate_refuses_a_data_dir_without_tables(tmp_path: Path) -> None:
    result = subprocess.run(
        [SEEDSTREAM, "validate", "--config", "small", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"no tables under {tmp_path / 'delta'}: run the streaming job" in result.stderr
    assert "Traceback" not in result.stderr
