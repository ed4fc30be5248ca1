"""The Spark configuration the session is built with (JVM options, where the log config lives, writers) and
how the silver query's read stage is split across it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from streaming.job import MAX_SPLITS, read_splits
from streaming.session import JVM_OPTIONS, LOCAL_JVM_OPTIONS, SparkSettings, spark_conf


def _log_config(conf: dict[str, str]) -> Path:
    options = conf["spark.driver.extraJavaOptions"].split()
    (setting,) = [o for o in options if o.startswith("-Dlog4j2.configurationFile=file:")]
    return Path(setting.removeprefix("-Dlog4j2.configurationFile=file:"))


def test_driver_and_executors_run_with_the_measured_jvm_options() -> None:
    conf = spark_conf(SparkSettings(use_local_jars=False, master="local[2]"))
    driver = conf["spark.driver.extraJavaOptions"].split()
    for option in [*JVM_OPTIONS.split(), *LOCAL_JVM_OPTIONS.split()]:
        assert option in driver
    assert conf["spark.executor.extraJavaOptions"].split() == JVM_OPTIONS.split()
    assert "-XX:+UseParallelGC" in driver


def test_a_cluster_keeps_its_own_collector_and_inlining() -> None:
    conf = spark_conf(SparkSettings(use_local_jars=False, master="spark://cluster:7077"))
    driver = conf["spark.driver.extraJavaOptions"].split()
    assert set(JVM_OPTIONS.split()) <= set(driver)
    assert not set(LOCAL_JVM_OPTIONS.split()) & set(driver)
    assert not set(LOCAL_JVM_OPTIONS.split()) & set(conf["spark.executor.extraJavaOptions"].split())


def test_a_job_with_a_log_file_keeps_its_log_config_beside_it_not_in_the_temp_dir(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "streaming.log"
    config = _log_config(spark_conf(SparkSettings(use_local_jars=False, log_file=str(log_file))))
    assert config == log_file.with_name("spark-log4j2.properties")
    assert f"appender.file.fileName = {log_file}" in config.read_text()
    # Built again (a restart): the same file, unchanged.
    again = _log_config(spark_conf(SparkSettings(use_local_jars=False, log_file=str(log_file))))
    assert again == config


def test_without_a_log_file_the_quiet_config_is_shared_in_the_temp_dir() -> None:
    config = _log_config(spark_conf(SparkSettings(use_local_jars=False)))
    assert config.parent == Path(tempfile.gettempdir())
    assert "appender.console.target = SYSTEM_ERR" in config.read_text()


def test_partitioned_appends_write_through_concurrent_writers_instead_of_a_sort() -> None:
    conf = spark_conf(SparkSettings(use_local_jars=False, master="local[2]"))
    assert int(conf["spark.sql.maxConcurrentOutputFileWriters"]) >= 2


def test_plans_are_built_without_recording_each_python_call_site() -> None:
    conf = spark_conf(SparkSettings(use_local_jars=False))
    assert conf["spark.python.sql.dataFrameDebugging.enabled"] == "false"


@pytest.mark.parametrize(
    ("sources", "slots", "splits"),
    [
        (3, 2, 2),  # fleet's 3 event partitions on local[2]: 6 tasks, three full rounds
        (4, 2, 1),  # already whole rounds
        (1, 2, 2),
        (3, 4, 4),
        (6, 4, 2),
        (3, 64, MAX_SPLITS),  # a large cluster: bounded
        (0, 0, 1),
    ],
)
def test_the_silver_read_stage_is_split_into_whole_rounds_of_the_parallelism(
    sources: int, slots: int, splits: int
) -> None:
    assert read_splits(sources, slots) == splits
    if splits < MAX_SPLITS and sources and slots:
        assert (sources * splits) % slots == 0
