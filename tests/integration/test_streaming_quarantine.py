"""Bad records straight onto the topics: each lands in quarantine with its reason; the query keeps going."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from producer.datadir import TableLocations
from streaming.job import Pipeline
from tests.fixtures.waiting import wait_for
from tests.integration.streaming_support import (
    create_topics,
    event_tuples,
    generate,
    make_case,
    publish,
    records_of,
    shifted,
    silver_events,
    table,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.kafka, pytest.mark.spark]


def _value(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def test_every_quarantine_reason_while_the_query_keeps_running(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
) -> None:
    case = make_case(
        kafka_bootstrap,
        data_dir_factory("stream"),
        unique_name("bad") + ".",
        streaming__trigger_interval="PT1S",
    )
    create_topics(case)
    generated = generate(case, 3)
    first, second, third = sorted(t["batch_id"] for t in generated["ground_truth"])

    def interval(batch_id: str) -> list[tuple[str, bytes | None, bytes | None]]:
        events = [e for e in generated["events"] if e["batch_id"] == batch_id]
        truth = [t for t in generated["ground_truth"] if t["batch_id"] == batch_id]
        return records_of(case, "events", events, "driver_id") + records_of(
            case, "ground_truth", truth, "batch_id"
        )

    pipeline = Pipeline(spark, case.config, TableLocations(str(case.data_dir)))
    query = pipeline.start(case.bootstrap, available_now=False)
    try:
        publish(
            case,
            records_of(case, "entities", generated["entities"], "company_id"),
            interval(first),
            interval(second),
        )
        wait_for(
            lambda: table(spark, case, "silver", "driver_events").count() > 0,
            240,
            "the first events in silver",
            every=1.0,
        )
        wait_for(lambda: pipeline.last_watermark is not None, 60, "a watermark", every=1.0)

        # Every bad record is built from a good event of the second interval, newer than the watermark.
        second_events = [e for e in generated["events"] if e["batch_id"] == second]
        newest = max(second_events, key=lambda e: e["timestamp"])
        oldest_first = min(
            (e for e in generated["events"] if e["batch_id"] == first), key=lambda e: e["timestamp"]
        )
        template = {**newest, "event_id": str(uuid.uuid4())}
        late_company = str(uuid.uuid4())
        stranger = str(uuid.uuid4())
        bad: dict[str, tuple[str, bytes | None]] = {
            "unparseable": ("events", b"{not json"),
            "schema_violation": ("events", _value({k: v for k, v in template.items() if k != "truck_id"})),
            "unknown_event_type": (
                "events",
                _value({**template, "event_id": str(uuid.uuid4()), "event_type": "parked"}),
            ),
            "outside_interval": (
                "events",
                _value(
                    {
                        **template,
                        "event_id": str(uuid.uuid4()),
                        "timestamp": shifted(newest["timestamp"], timedelta(minutes=15)),
                    }
                ),
            ),
            "unknown_company": (
                "events",
                _value(
                    {
                        **template,
                        "event_id": str(uuid.uuid4()),
                        "company_id": stranger,
                        "driver_id": f"DRV-{stranger}-001",
                    }
                ),
            ),
            "company_not_yet_onboarded": (
                "events",
                _value(
                    {
                        **template,
                        "event_id": str(uuid.uuid4()),
                        "company_id": late_company,
                        "driver_id": f"DRV-{late_company}-001",
                    }
                ),
            ),
            "late": ("events", _value({**oldest_first, "event_id": str(uuid.uuid4())})),
        }
        onboarded_late = {
            "company_id": late_company,
            "geography": "US",
            "active": True,
            "created_at": newest["timestamp"],
        }
        publish(
            case,
            [(case.topics["entities"], late_company.encode(), _value(onboarded_late))],
            [(case.topics[role], b"bad", value) for role, value in bad.values()]
            + [
                (case.topics["entities"], b"bad", b"\xff\xfe"),
                (case.topics["ground_truth"], b"bad", b'{"batch_id": 1}'),
            ],
        )
        wait_for(
            lambda: table(spark, case, "silver", "quarantine").count() >= len(bad) + 2,
            240,
            "quarantined records",
            every=1.0,
        )
        # The query is still running and takes the next interval.
        publish(case, interval(third))
        wait_for(
            lambda: table(spark, case, "silver", "driver_events").count() == len(generated["events"]),
            240,
            "the third interval",
            every=1.0,
        )
        assert query.isActive and query.exception() is None
    finally:
        query.stop()

    quarantined = table(spark, case, "silver", "quarantine").collect()
    by_value = {row.raw_value: row for row in quarantined}
    for reason, (role, value) in bad.items():
        assert value is not None
        row = by_value[value.decode()]
        assert (row.reason, row.source_topic) == (reason, case.topics[role]), reason
        assert row.source_offset is not None and row.source_partition is not None
    assert {(row.source_topic, row.reason) for row in quarantined if row.key == "bad"} >= {
        (case.topics["entities"], "unparseable"),
        (case.topics["ground_truth"], "schema_violation"),
    }
    assert len(quarantined) == len(bad) + 2
    assert silver_events(spark, case) == event_tuples(generated["events"])
