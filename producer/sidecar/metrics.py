"""Prometheus metrics, read from the engine's counters at scrape time (one registry per app).

Per topic, labelled ``topic`` and ``role`` (the scenario's ``entities``, ``events`` or
``ground_truth``; ``other`` for a topic outside the scenario): ``seedstream_records_produced_total``,
``seedstream_batches_produced_total`` and ``seedstream_produced_bytes_total``.
``seedstream_events_produced_total{topic}`` counts event records only (the ``seedstream up`` console
reads it), so entity snapshots and ground-truth records never inflate it.
``seedstream_faults_injected_total{kind}`` counts the faults whose labels Kafka acknowledged, every
kind listed (0 until one is injected), since the process started like every counter here. Also
``seedstream_send_errors_total``, ``seedstream_reconnects_total``, ``seedstream_skipped_intervals_total``,
``seedstream_send_latency_seconds`` (histogram) and the gauges ``seedstream_paused``,
``seedstream_kafka_connected``, ``seedstream_last_interval_end_timestamp_seconds`` and
``seedstream_uptime_seconds``. Names follow Prometheus conventions (``promtool check metrics`` passes):
counters end in ``_total``, units are base units in the name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from producer.engine.engine import Engine
from producer.generation.fault_labels import label_topic
from producer.generation.fault_settings import FAULT_KINDS


class EngineCollector(Collector):
    """Turns one consistent :meth:`EngineStats.snapshot` into metric families."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.prefix = engine.config.kafka.topic_prefix

    def collect(self) -> Iterator[Metric]:
        """Every metric family, from one snapshot of the engine's counters."""
        stats = self.engine.stats.snapshot()
        topics = cast(dict[str, dict[str, int]], stats["topics"])
        scenario = self.engine.scenario
        specs = (*scenario.topics(), label_topic(scenario.name))
        roles = {spec.full_name(self.prefix): spec.role for spec in specs}
        per_topic = (
            ("seedstream_records_produced", "Records acknowledged by Kafka, per topic.", "records"),
            (
                "seedstream_batches_produced",
                "Batches (one per interval or entity batch) acknowledged by Kafka, per topic.",
                "batches",
            ),
            ("seedstream_produced_bytes", "Key and value bytes acknowledged by Kafka, per topic.", "bytes"),
        )
        for name, documentation, key in per_topic:
            family = CounterMetricFamily(name, documentation, labels=["topic", "role"])
            for topic, counters in sorted(topics.items()):
                family.add_metric([topic, roles.get(topic, "other")], counters[key])
            yield family
        events = CounterMetricFamily(
            "seedstream_events_produced",
            "Event records (no entities, no ground truth) acknowledged by Kafka.",
            labels=["topic"],
        )
        for topic, counters in sorted(topics.items()):
            if roles.get(topic) == "events":
                events.add_metric([topic], counters["records"])
        yield events
        faults = CounterMetricFamily(
            "seedstream_faults_injected",
            "Faults injected per kind (their labels acknowledged by Kafka).",
            labels=["kind"],
        )
        injected = cast(dict[str, int], stats["faults_injected"])
        for kind in FAULT_KINDS:
            faults.add_metric([kind], injected.get(kind, 0))
        yield faults
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
