"""Where every Delta table and checkpoint of the pipeline lives (created by :mod:`streaming.create`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from producer.datadir import TableLocations
    from streaming.contract import PipelinePlan, TopicPlan


@dataclass(frozen=True)
class Tables:
    """The pipeline's tables and checkpoints under one data dir."""

    spark: SparkSession
    plan: PipelinePlan
    locations: TableLocations
    catalog: str | None = None
    """``streaming.catalog``: the catalog the tables' names live in (:mod:`streaming.catalog`)."""

    def bronze(self, topic: TopicPlan) -> str:
        return self.locations.bronze(topic.kafka_topic)

    def silver(self, topic: TopicPlan) -> str:
        return self.locations.silver(topic.table)

    @property
    def quarantine(self) -> str:
        return self.locations.silver("quarantine")

    @property
    def labels(self) -> str:
        """The bronze table of the scenario's fault-label topic."""
        return self.locations.bronze(self.plan.labels_topic)

    @property
    def quality_score(self) -> str:
        return self.locations.checks("quality_score")

    @property
    def observations(self) -> str:
        return self.locations.checks("observations")

    @property
    def checks(self) -> str:
        return self.locations.checks("interval_checks")

    def gold(self, name: str) -> str:
        return self.locations.gold(name)

    def checkpoint(self, query: str) -> str:
        return self.locations.checkpoint(query)

    def query_id(self, query: str) -> str:
        """The stable id Spark keeps in a query's checkpoint (new with every new checkpoint)."""
        first = self.spark.sparkContext.textFile(f"{self.checkpoint(query)}/metadata").first()
        return f"{query}:{json.loads(first)['id']}"

    def checkpoint_sources(self, query: str) -> list[dict[str, list[int]] | None] | None:
        """Each source's topic partitions in a query's latest offsets, in the query's source order
        (None: the query has not planned a micro-batch yet).

        Spark writes ``offsets/<micro-batch>`` as the line ``v1``, the micro-batch's metadata, then
        one line per source; a Kafka source's is ``{topic: {partition: offset}}`` (another kind of
        source gives an empty mapping here), and a source without an offset yet is ``-`` (None
        here)."""
        spark = self.spark
        offsets = f"{self.checkpoint(query)}/offsets"
        path = spark._jvm.org.apache.hadoop.fs.Path(offsets)  # type: ignore[union-attr]  # noqa: SLF001
        files = path.getFileSystem(spark._jsc.hadoopConfiguration())  # noqa: SLF001
        if not files.exists(path):
            return None
        names = [status.getPath().getName() for status in files.listStatus(path)]
        batches = [int(name) for name in names if name.isdigit()]
        if not batches:
            return None
        latest = files.open(spark._jvm.org.apache.hadoop.fs.Path(f"{offsets}/{max(batches)}"))  # type: ignore[union-attr]  # noqa: SLF001
        try:
            text = spark._jvm.org.apache.commons.io.IOUtils.toString(latest, "UTF-8")  # type: ignore[union-attr]  # noqa: SLF001
        finally:
            latest.close()
        lines = str(text).splitlines()
        sources: list[dict[str, list[int]] | None] = []
        for line in lines[2:]:
            try:
                value = json.loads(line)
            except ValueError:
                sources.append(None)
                continue
            kafka = value.items() if isinstance(value, dict) else []
            sources.append({topic: sorted(map(int, ps)) for topic, ps in kafka if isinstance(ps, dict)})
        return sources

    def silver_paths(self) -> dict[str, str]:
        """Silver table name → path (every topic's table and the quarantine)."""
        paths = {topic.table: self.silver(topic) for topic in self.plan.topics}
        paths["quarantine"] = self.quarantine
        return paths
