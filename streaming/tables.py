"""Where every Delta table and checkpoint of the pipeline lives (created by :mod:`streaming.create`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
        text = self._text(f"{self.checkpoint(query)}/metadata")
        if text is None:
            raise FileNotFoundError(f"{self.checkpoint(query)}/metadata")
        return f"{query}:{json.loads(text.splitlines()[0])['id']}"

    def checkpoint_sources(self, query: str) -> list[dict[str, list[int]] | None] | None:
        """Each source's topic partitions in a query's latest offsets, in the query's source order
        (None: the query has not planned a micro-batch yet).

        Spark writes ``offsets/<micro-batch>`` as the line ``v1``, the micro-batch's metadata, then
        one line per source; a Kafka source's is ``{topic: {partition: offset}}`` (another kind of
        source gives an empty mapping here), and a source without an offset yet is ``-`` (None
        here)."""
        sources = self._offsets(query, None)
        if sources is None:
            return None
        return [
            None if source is None else {topic: sorted(parts) for topic, parts in source.items()}
            for source in sources
        ]

    def planned_micro_batch(self, query: str) -> int:
        """The last micro-batch whose offsets ``query``'s checkpoint holds (-1: none yet)."""
        path, files = self._file(f"{self.checkpoint(query)}/offsets")
        if not files.exists(path):
            return -1
        names = [status.getPath().getName() for status in files.listStatus(path)]
        return max((int(name) for name in names if name.isdigit()), default=-1)

    def batch_offsets(self, query: str, micro_batch: int) -> dict[str, dict[int, int]] | None:
        """Where micro-batch ``micro_batch`` of ``query`` ends in every Kafka topic it reads:
        topic → partition → offset, over all of its sources (None: Spark has not planned that
        micro-batch, or no longer keeps its offsets). Spark writes them before it runs the
        micro-batch, so ``foreachBatch`` can read its own and the previous one's."""
        sources = self._offsets(query, micro_batch)
        if sources is None:
            return None
        ends: dict[str, dict[int, int]] = {}
        for source in sources:
            for topic, parts in (source or {}).items():
                ends.setdefault(topic, {}).update(parts)
        return ends

    def _offsets(self, query: str, micro_batch: int | None) -> list[dict[str, dict[int, int]] | None] | None:
        """The sources' lines of ``offsets/<micro_batch>`` (the latest when None), parsed; None
        when there is no such file."""
        if micro_batch is None:
            micro_batch = self.planned_micro_batch(query)
            if micro_batch < 0:
                return None
        text = self._text(f"{self.checkpoint(query)}/offsets/{micro_batch}")
        if text is None:
            return None
        sources: list[dict[str, dict[int, int]] | None] = []
        for line in text.splitlines()[2:]:
            try:
                value = json.loads(line)
            except ValueError:
                sources.append(None)
                continue
            kafka = value.items() if isinstance(value, dict) else []
            sources.append(
                {
                    topic: {int(part): int(offset) for part, offset in parts.items()}
                    for topic, parts in kafka
                    if isinstance(parts, dict)
                }
            )
        return sources

    def _text(self, location: str) -> str | None:
        """A small file's text through Hadoop's file system (no Spark job); None when absent."""
        path, files = self._file(location)
        if not files.exists(path):
            return None
        stream = files.open(path)
        try:
            return str(self.spark._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))  # type: ignore[union-attr]  # noqa: SLF001
        finally:
            stream.close()

    def _file(self, location: str) -> tuple[Any, Any]:
        """Hadoop's ``Path`` of ``location`` and the file system that holds it."""
        path = self.spark._jvm.org.apache.hadoop.fs.Path(location)  # type: ignore[union-attr]  # noqa: SLF001
        return path, path.getFileSystem(self.spark._jsc.hadoopConfiguration())  # noqa: SLF001

    def silver_paths(self) -> dict[str, str]:
        """Silver table name → path (every topic's table and the quarantine)."""
        paths = {topic.table: self.silver(topic) for topic in self.plan.topics}
        paths["quarantine"] = self.quarantine
        return paths
