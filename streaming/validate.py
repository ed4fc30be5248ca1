"""``seedstream validate``: the scenario's validation queries on its tables, by name.

Every scenario gets, from what its models declare:

- **referential integrity**, per reference field: rows of ``{silver}.<topic>`` whose reference
  names no entity of ``{silver}.<target>`` (expected 0);
- **the interval rule**, per event topic: rows whose time field is outside ``[start, start +
  interval)`` of the interval their ``batch_id`` names (expected 0);

then its own (:meth:`~producer.generation.scenarios.base.Scenario.validation_queries`). The tables
are registered by name first (:mod:`streaming.catalog`); each query's ``{layer}`` placeholders
become the scenario's schemas, so the SQL reads as a user would write it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from producer.errors import SeedstreamError
from producer.generation.scenarios.base import ValidationQuery
from producer.generation.scenarios.registry import get_scenario
from streaming.catalog import namespaces, register
from streaming.job import first_line
from streaming.validation import BATCH_ID_FORMATS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from producer.config import SeedstreamConfig
    from streaming.contract import PipelinePlan
    from streaming.tables import Tables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """One query's outcome: its SQL as run, the value (None when it failed to run) or the error."""

    query: ValidationQuery
    sql: str
    value: float | None
    error: str | None = None

    @property
    def passed(self) -> bool:
        if self.value is None:
            return False
        tolerance = self.query.tolerance or 0.0
        return abs(self.value - self.query.expected) <= tolerance

    @property
    def expected(self) -> str:
        expected = _number(self.query.expected)
        return expected if self.query.tolerance is None else f"{expected} ± {_number(self.query.tolerance)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def interval_start_sql(column: str = "batch_id") -> str:
    """SQL for the interval start a batch id names (null when it names none)."""
    parts = ", ".join(f'try_to_timestamp({column}, "{fmt}")' for fmt in BATCH_ID_FORMATS)
    return f"coalesce({parts})"


def generic_queries(plan: PipelinePlan) -> list[ValidationQuery]:
    """Referential integrity and the interval rule, from the plan's declarations."""
    queries = []
    for topic in plan.topics:
        for field, target in topic.references.items():
            entity = plan.by_name(target)
            key = entity.spec.key_field
            queries.append(
                ValidationQuery(
                    f"{topic.table}.{field} → {entity.table}: orphans",
                    f"SELECT COUNT(*) FROM {{silver}}.{topic.table} x WHERE x.{field} IS NOT NULL "  # noqa: S608
                    f"AND NOT EXISTS (SELECT 1 FROM {{silver}}.{entity.table} e WHERE e.{key} = x.{field})",
                    0,
                )
            )
    seconds = int(plan.interval.total_seconds())
    for topic in plan.of_role("events"):
        time, start = topic.time_field, interval_start_sql()
        queries.append(
            ValidationQuery(
                f"{topic.table}: {time} outside its interval",
                f"SELECT COUNT(*) FROM {{silver}}.{topic.table} WHERE {start} IS NULL OR {time} < {start} "  # noqa: S608
                f"OR {time} >= {start} + INTERVAL {seconds} SECONDS",
                0,
            )
        )
    return queries


def queries_for(config: SeedstreamConfig, plan: PipelinePlan) -> list[ValidationQuery]:
    return [*generic_queries(plan), *get_scenario(config.scenario).validation_queries(config)]


def run_validation(spark: SparkSession, config: SeedstreamConfig, tables: Tables) -> list[Result]:
    """Register the tables by name, then run every query; a query that fails to run fails."""
    try:
        register(spark, tables)
    except Exception as error:  # noqa: BLE001 - Spark/metastore errors: one line, details in the log
        log.exception("registering the tables by name failed")
        raise SeedstreamError(f"could not register the tables by name: {first_line(error)}") from error
    schemas = namespaces(tables.plan.scenario, tables.catalog)
    results = []
    for query in queries_for(config, tables.plan):
        sql = query.sql.format(**schemas)
        try:
            row = spark.sql(sql).first()
            value = None if row is None or row[0] is None else float(row[0])
            results.append(Result(query, sql, value, None if value is not None else "no value"))
        except Exception as error:  # noqa: BLE001 - Spark's analysis and runtime errors: a failed query
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            log.error("validation query %r failed: %s\n%s", query.name, first, sql)
            results.append(Result(query, sql, None, first))
    return results


def validate_data_dir(config: SeedstreamConfig, data_dir: str) -> list[Result]:
    """``seedstream validate``: a session on ``data_dir``'s tables (its metastore when free), every query."""
    from streaming.submit import data_dir_session

    spark, tables = data_dir_session(config, data_dir, "validate.log")
    return run_validation(spark, config, tables)
