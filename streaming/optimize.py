"""``seedstream optimize``: Delta's ``OPTIMIZE … ZORDER BY`` on the tables the scenario declares
(:meth:`~producer.generation.scenarios.base.Scenario.zorder`: silver and gold tables by name).

Safe while the job runs: OPTIMIZE only rewrites files, and Delta's optimistic concurrency makes a
conflicting commit (a MERGE into the same entity files) fail that one table, which is reported and
can be optimized again later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from producer.errors import BadInputError
from producer.generation.scenarios.registry import get_scenario

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from producer.config import SeedstreamConfig
    from streaming.tables import Tables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Optimized:
    """One table's outcome: files removed and added, or why it was not optimized."""

    table: str
    columns: tuple[str, ...]
    files_removed: int | None = None
    files_added: int | None = None
    problem: str | None = None


def zorder_paths(config: SeedstreamConfig, tables: Tables) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Table name → (path, Z-order columns), for every table the scenario declares."""
    paths = {topic.table: tables.silver(topic) for topic in tables.plan.topics}
    paths.update({name: tables.gold(name) for name in tables.plan.derived})
    declared = get_scenario(config.scenario).zorder()
    unknown = sorted(set(declared) - set(paths))
    if unknown:
        raise BadInputError(f"Z-order declared for tables the pipeline does not have: {', '.join(unknown)}")
    return {name: (paths[name], columns) for name, columns in declared.items()}


def optimize(spark: SparkSession, config: SeedstreamConfig, tables: Tables) -> list[Optimized]:
    from delta.tables import DeltaTable

    results = []
    for name, (path, columns) in zorder_paths(config, tables).items():
        if not DeltaTable.isDeltaTable(spark, path):
            results.append(Optimized(name, columns, problem="no table yet"))
            continue
        try:
            metrics = DeltaTable.forPath(spark, path).optimize().executeZOrderBy(*columns).first()
        except Exception as error:  # noqa: BLE001 - a concurrent commit or a bad column: that table only
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            log.error("optimizing %s failed: %s", name, first)
            results.append(Optimized(name, columns, problem=first))
            continue
        numbers = metrics["metrics"] if metrics is not None else None
        results.append(
            Optimized(
                name,
                columns,
                int(numbers["numFilesRemoved"]) if numbers is not None else None,
                int(numbers["numFilesAdded"]) if numbers is not None else None,
            )
        )
    return results


def optimize_data_dir(config: SeedstreamConfig, data_dir: str) -> list[Optimized]:
    """``seedstream optimize``: a session on ``data_dir``'s tables, every declared table optimized."""
    from streaming.submit import data_dir_session

    spark, tables = data_dir_session(config, data_dir, "optimize.log")
    return optimize(spark, config, tables)
