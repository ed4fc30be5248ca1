"""Processed offsets from streaming progress: what the Kafka-lag gauge and ``bench_freshness.py`` read."""

from __future__ import annotations

import json
from types import SimpleNamespace

from streaming.observability import offsets_of, processed_offsets


def test_kafka_end_offsets_as_text_or_parsed_and_other_sources_skipped() -> None:
    kafka = {"fleet.driver-events": {"0": 120, "2": 7}}
    values = [
        json.dumps(kafka),  # as a listener's progress holds it
        {"fleet.companies": {"0": 1000}},  # as a progress log line parsed from JSON holds it
        "not json",
        None,
        json.dumps({"reservoirVersion": 3}),  # a Delta source's offset: no partitions
    ]
    assert offsets_of(values) == {
        ("fleet.driver-events", 0): 120,
        ("fleet.driver-events", 2): 7,
        ("fleet.companies", 0): 1000,
    }


def test_a_progress_gives_its_sources_end_offsets() -> None:
    progress = SimpleNamespace(
        sources=[SimpleNamespace(endOffset=json.dumps({"t": {"1": 5}})), SimpleNamespace(endOffset=None)]
    )
    assert processed_offsets(progress) == {("t", 1): 5}
