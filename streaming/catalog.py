"""Tables by name: every table of the pipeline registered in the Spark catalog as ``<schema>.<table>``.

Schemas per scenario and layer: ``<scenario>_bronze`` (one table per topic), ``<scenario>_silver``
(one per topic, and ``quarantine``), ``<scenario>_gold`` (the scenario's derived tables) and
``<scenario>_checks`` (``observations``, ``interval_checks``); table names are the topics' table
names (``identity.content-engagements`` → ``content_engagements``, the seed's names for the
identity graph). With ``streaming.catalog`` set (e.g. Unity Catalog's ``main``), names are
``<catalog>.<schema>.<table>``.

Tables are *external*: registered with their location under the data dir, so the Delta files stay
the truth and dropping a name never deletes data. Registering is idempotent; a name that points
elsewhere (another data dir used with the same catalog) is re-pointed, with a log line.

Which catalog: on a cluster, whatever the session is configured with. Locally (``local[…]`` master
and a local data dir) the job keeps a persistent Hive metastore in embedded Derby under
``D/metastore`` (warehouse ``D/warehouse``), so a later Spark session configured with
:func:`metastore_conf` sees every table by name. Embedded Derby admits one JVM at a time: a
second seedstream process on the same data dir while the job runs (``validate``, ``optimize``)
registers the names in its own session's catalog instead (:func:`metastore_in_use`).
"""

from __future__ import annotations

import fcntl
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from streaming.tables import Tables

log = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold", "checks")


@dataclass(frozen=True)
class NamedTable:
    """One table's catalog name and location."""

    layer: str
    name: str
    path: str

    def schema(self, scenario: str, catalog: str | None = None) -> str:
        base = f"{scenario}_{self.layer}"
        return f"{catalog}.{base}" if catalog else base

    def qualified(self, scenario: str, catalog: str | None = None) -> str:
        return f"{self.schema(scenario, catalog)}.{self.name}"


def named_tables(tables: Tables) -> list[NamedTable]:
    """Every table of the pipeline with its layer, name and location."""
    plan = tables.plan
    named = [NamedTable("bronze", topic.table, tables.bronze(topic)) for topic in plan.topics]
    named.append(NamedTable("bronze", "fault_labels", tables.labels))
    named += [NamedTable("silver", topic.table, tables.silver(topic)) for topic in plan.topics]
    named.append(NamedTable("silver", "quarantine", tables.quarantine))
    named += [NamedTable("gold", name, tables.gold(name)) for name in plan.derived]
    named.append(NamedTable("checks", "observations", tables.observations))
    named.append(NamedTable("checks", "interval_checks", tables.checks))
    named.append(NamedTable("checks", "quality_score", tables.quality_score))
    return named


def namespaces(scenario: str, catalog: str | None = None) -> dict[str, str]:
    """Layer → schema name, e.g. ``{"silver": "identity_silver", …}`` (what queries are written with)."""
    return {layer: NamedTable(layer, "", "").schema(scenario, catalog) for layer in LAYERS}


def _quote(name: str) -> str:
    return ".".join(f"`{part}`" for part in name.split("."))


def register(
    spark: SparkSession, tables: Tables, layers: tuple[str, ...] = LAYERS, known: dict[str, str] | None = None
) -> list[str]:
    """Register every existing Delta table of ``tables`` (in ``layers``) by name in
    ``tables.catalog``; the names registered. ``known`` (name → location) holds what this session
    registered already: those are skipped, and the new ones are added to it."""
    from delta.tables import DeltaTable

    scenario, catalog = tables.plan.scenario, tables.catalog
    known = {} if known is None else known
    registered = []
    created: set[str] = set()
    for table in named_tables(tables):
        if table.layer not in layers:
            continue
        if known.get(table.qualified(scenario, catalog)) == table.path:
            registered.append(table.qualified(scenario, catalog))
            continue
        if not DeltaTable.isDeltaTable(spark, table.path):
            continue  # a gold table before its first refresh
        schema = table.schema(scenario, catalog)
        if schema not in created:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
            created.add(schema)
        name = table.qualified(scenario, catalog)
        location = table.path.replace("'", "\\'")
        if spark.catalog.tableExists(name):
            current = spark.sql(f"DESCRIBE DETAIL {_quote(name)}").first()
            if current is not None and _same_location(str(current["location"]), table.path):
                registered.append(name)
                continue
            was = current["location"] if current is not None else None
            log.warning("%s pointed at %s: re-pointed at %s", name, was, table.path)
            spark.sql(f"DROP TABLE {_quote(name)}")  # external: the files stay
        spark.sql(f"CREATE TABLE IF NOT EXISTS {_quote(name)} USING DELTA LOCATION '{location}'")
        registered.append(name)
        known[name] = table.path
    log.info("registered %d tables in %s", len(registered), ", ".join(sorted(created)) or "no schema")
    return registered


@dataclass
class Names:
    """The job's tables by name in its session: each (name, location) registered once, from any
    thread; a failure is logged, not raised (the job's data does not depend on its names)."""

    spark: SparkSession
    tables: Tables
    known: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, layers: tuple[str, ...] = LAYERS) -> list[str]:
        """Register the tables of ``layers`` not registered yet; the names, [] on failure."""
        with self._lock:
            try:
                return register(self.spark, self.tables, layers, self.known)
            except Exception:  # noqa: BLE001 - logged; names are a convenience over the Delta paths
                log.exception("registering the %s tables by name failed", "/".join(layers))
                return []


def _same_location(a: str, b: str) -> bool:
    def normal(path: str) -> str:
        return path.removeprefix("file://").removeprefix("file:").rstrip("/")

    return normal(a) == normal(b)


def metastore_dir(data_dir: Path) -> Path:
    return data_dir / "metastore"


def metastore_conf(data_dir: Path) -> dict[str, str]:
    """The Spark settings of the local persistent metastore under ``data_dir`` (Hive in Derby)."""
    database = metastore_dir(data_dir)
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={database};create=true",
        "spark.sql.warehouse.dir": str(data_dir / "warehouse"),
        "spark.hadoop.hive.metastore.schema.verification": "false",
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
    }


def metastore_in_use(data_dir: Path) -> bool:
    """Whether another JVM has the Derby metastore under ``data_dir`` open (Derby locks
    ``dbex.lck`` while a database is booted)."""
    lock = metastore_dir(data_dir) / "dbex.lck"
    if not lock.exists():
        return False
    try:
        with lock.open("rb+") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(handle, fcntl.LOCK_UN)
    except OSError:
        return True
    return False
