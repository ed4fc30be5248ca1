"""``seedstream score``: a session on the tables a pipeline wrote under a data dir, and the score of
what it did with the injected faults (:mod:`streaming.score`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from producer.errors import BadInputError, SeedstreamError
from streaming.job import first_line
from streaming.score import KindScore, score_tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from producer.config import SeedstreamConfig

log = logging.getLogger(__name__)


def score_data_dir(
    config: SeedstreamConfig, data_dir: str, labels_file: str | None = None
) -> list[KindScore]:
    """``seedstream score``: a session on ``data_dir``'s tables, the score over all of them; one
    clear error when a table it reads is not there."""
    from streaming.submit import data_dir_session

    spark, tables = data_dir_session(config, data_dir, "score.log")
    paths = [tables.quarantine, tables.checks, tables.silver(tables.plan.ground_truth)]
    paths += [tables.silver(topic) for topic in tables.plan.of_role("events")]
    if labels_file is None:
        paths.append(tables.labels)
    missing = [path for path in paths if not _is_delta(spark, path)]
    if missing:
        hint = ""
        if missing == [tables.labels]:
            hint = " (the streaming job lands the label topic there; or pass --labels FILE.jsonl)"
        raise BadInputError(f"no Delta table at {', '.join(missing)}{hint}")
    try:
        return score_tables(spark, tables, labels_file)
    except BadInputError:
        raise
    except Exception as error:  # noqa: BLE001 - Spark's errors: one line, details in the log
        log.exception("scoring %s failed", data_dir)
        raise SeedstreamError(f"scoring {data_dir} failed: {first_line(error)}") from error


def _is_delta(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))
