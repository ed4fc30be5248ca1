"""Prometheus metrics, read from the engine's counters at scrape time (one registry per app).

Names: ``seedstream_events_produced_total{topic}`` (records per topic; the ``seedstream up`` console
reads it), ``seedstream_batches_produced_total{topic}``, ``seedstream_bytes_produced_total{topic}``,
``seedstream_send_errors_total``, ``seedstream_send_latency_seconds`` (histogram),
``seedstream_paused``, ``seedstream_last_interval_end_timestamp_seconds``,
``seedstream_kafka_connected``, plus reconnects, skipped intervals and uptime.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from producer.engine.engine import Engine


class EngineCollector(Collector):
    """Turns one consistent :meth:`EngineStats.snapshot` into metric families."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        """Every metric family, from one snapshot of the engine's counters."""
        stats = self.engine.stats.snapshot()
        topics = cast(dict[str, dict[str, int]], stats["topics"])
        per_topic = (
            ("seedstream_events_produced", "Records acknowledged by Kafka, per topic.", "records"),
            (
                "seedstream_batches_produced",
                "Record batches (intervals, entity batches) sent, per topic.",
                "batches",
            ),
            ("seedstream_bytes_produced", "Key and value bytes acknowledged by Kafka, per topic.", "bytes"),
        )
        for name, documentation, key in per_topic:
            family = CounterMetricFamily(name, documentation, labels=["topic"])
            for topic, counters in sorted(topics.items()):
                family.add_metric([topic], counters[key])
            yield family
        yield CounterMetricFamily(
            "seedstream_send_errors",
            "Failed sends, commits and connects.",
            value=_number(stats["send_errors"]),
        )
        yield CounterMetricFamily(
            "seedstream_reconnects", "Reconnects after a Kafka failure.", value=_number(stats["reconnects"])
        )
        yield CounterMetricFamily(
            "seedstream_skipped_intervals",
            "Intervals never published (paused or abandoned).",
            value=_number(stats["skipped_intervals"]),
        )
        latency = cast(dict[str, Any], stats["send_latency"])
        buckets = [
            (_bound(bound), count) for bound, count in zip(latency["buckets"], latency["counts"], strict=True)
        ]
        buckets.append(("+Inf", latency["count"]))
        yield HistogramMetricFamily(
            "seedstream_send_latency_seconds",
            "Seconds from sending a batch to its acknowledgement.",
            buckets=buckets,
            sum_value=latency["sum"],
        )
        yield GaugeMetricFamily(
            "seedstream_paused", "1 while the producer is paused.", value=1.0 if self.engine.paused else 0.0
        )
        yield GaugeMetricFamily(
            "seedstream_kafka_connected",
            "1 while the producer is connected to Kafka.",
            value=1.0 if stats["connected"] else 0.0,
        )
        last_end = self.engine.stats.last_interval_end
        yield GaugeMetricFamily(
            "seedstream_last_interval_end_timestamp_seconds",
            "Unix time of the end of the last interval Kafka acknowledged (0 before the first).",
            value=last_end.timestamp() if last_end is not None else 0.0,
        )
        yield GaugeMetricFamily(
            "seedstream_uptime_seconds",
            "Seconds since the producer started.",
            value=_number(stats["uptime_seconds"]),
        )


def _number(value: object) -> float:
    assert isinstance(value, int | float)
    return float(value)


def _bound(bound: float) -> str:
    return repr(float(bound))


def build_registry(engine: Engine) -> CollectorRegistry:
    """A fresh registry (not the process-global one) holding ``engine``'s metrics."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(EngineCollector(engine))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``."""
    return generate_latest(registry)
