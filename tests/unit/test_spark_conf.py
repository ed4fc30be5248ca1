"""The Spark configuration the session is built with: JVM options and where the log config lives."""

from __future__ import annotations

import tempfile
from pathlib import Path

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
