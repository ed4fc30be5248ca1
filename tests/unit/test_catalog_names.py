"""Tables by name: schemas per scenario and layer, and the metastore's lock seen from outside."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from producer.config import load_config
from producer.datadir import TableLocations
from streaming.catalog import Names, metastore_conf, metastore_in_use, named_tables, namespaces
from streaming.contract import plan_for
from streaming.tables import Tables

HOLD = """
import fcntl, sys, time
handle = open(sys.argv[1], "rb+")
fcntl.lockf(handle, fcntl.LOCK_EX)  # what Derby's JVM holds while the database is booted
print("held", flush=True)
time.sleep(60)
"""


def test_every_table_has_a_name_in_its_scenarios_layer_schema() -> None:
    tables = Tables(None, plan_for(load_config("identity.small")), TableLocations("/d"), "main")  # type: ignore[arg-type]
    named = {table.qualified("identity", "main"): table.path for table in named_tables(tables)}
    assert named["main.identity_silver.households"] == "/d/delta/silver/households"
    assert named["main.identity_bronze.content_engagements"] == "/d/delta/bronze/identity.content-engagements"
    assert named["main.identity_gold.outcome_metrics"] == "/d/delta/gold/outcome_metrics"
    assert named["main.identity_checks.interval_checks"] == "/d/delta/checks/interval_checks"
    assert named["main.identity_silver.quarantine"] == "/d/delta/silver/quarantine"
    assert named["main.identity_bronze.fault_labels"] == "/d/delta/bronze/identity.fault-labels"
    assert named["main.identity_checks.quality_score"] == "/d/delta/checks/quality_score"
    assert len(named) == 8 * 2 + 1 + 3 + 2 + 2
    assert namespaces("fleet") == {
        "bronze": "fleet_bronze", "silver": "fleet_silver", "gold": "fleet_gold", "checks": "fleet_checks"
    }  # fmt: skip


def test_the_metastore_lives_under_the_data_dir(tmp_path: Path) -> None:
    conf = metastore_conf(tmp_path)
    assert conf["spark.sql.catalogImplementation"] == "hive"
    assert (
        f"databaseName={tmp_path / 'metastore'};create=true"
        in conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    )
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "warehouse")


def test_a_metastore_open_in_another_process_is_in_use(tmp_path: Path) -> None:
    assert not metastore_in_use(tmp_path)  # never booted
    (tmp_path / "metastore").mkdir()
    lock = tmp_path / "metastore" / "dbex.lck"
    lock.write_bytes(b"")
    assert not metastore_in_use(tmp_path)  # a stale lock file from a process that ended
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert metastore_in_use(tmp_path)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    deadline = time.monotonic() + 10
    while metastore_in_use(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not metastore_in_use(tmp_path)


class _NoSpark:
    """A session that fails on any use: registering names already known must not touch Spark."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"Spark used: {name}")


def test_names_registered_once_are_not_registered_again_and_failures_are_not_raised() -> None:
    tables = Tables(None, plan_for(load_config("identity.small")), TableLocations("/d"))  # type: ignore[arg-type]
    known = {
        table.qualified("identity"): table.path for table in named_tables(tables) if table.layer == "gold"
    }
    names = Names(_NoSpark(), tables, dict(known))  # type: ignore[arg-type]
    assert sorted(names.ensure(layers=("gold",))) == sorted(known)  # all known: Spark never asked
    # one gold table moved (another data dir): it is registered again, and the failure is logged, not raised
    names.known["identity_gold.outcome_metrics"] = "/elsewhere"
    assert names.ensure(layers=("gold",)) == []
