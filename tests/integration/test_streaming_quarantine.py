"""A running job: bad records land in quarantine with their reason and detail, duplicates vanish, a
record older than Spark's reported watermark is ``late``, and intervals close only as the watermark
passes them (a missing ground truth is reported then)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pyspark.sql import functions as F

from producer.datadir import TableLocations
from streaming.job import Pipeline
from tests.fixtures.waiting import wait_for
from tests.integration.streaming_support import (
    Record,
    create_topics,
    event_tuples,
    generate,
    instant,
    make_case,
    publish,
    records_of,
    shifted,
    silver_events,
    table,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

pytestmark = [pytest.mark.kafka, pytest.mark.spark]


def _value(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def _watermark(query: StreamingQuery) -> datetime | None:
    progress = query.lastProgress
    text = (progress or {}).get("eventTime", {}).get("watermark")
    if not text or text.startswith("1970"):
        return None
    return instant(text)


def test_reasons_duplicates_late_and_watermark_closing_while_the_query_runs(
    spark: SparkSession,
    kafka_bootstrap: str,
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="streaming.silver")
    case = make_case(
        kafka_bootstrap,
        data_dir_factory("stream"),
        unique_name("bad") + ".",
        streaming__trigger_interval="PT1S",
    )
    create_topics(case)
    generated = generate(case, 4)
    first, second, third, fourth = sorted(t["batch_id"] for t in generated["ground_truth"])

    def events_of(batch_id: str) -> list[dict[str, Any]]:
        return [e for e in generated["events"] if e["batch_id"] == batch_id]

    def interval(batch_id: str, truth: bool = True) -> list[Record]:
        records = records_of(case, "events", events_of(batch_id), "driver_id")
        if truth:
            ground = [t for t in generated["ground_truth"] if t["batch_id"] == batch_id]
            records += records_of(case, "ground_truth", ground, "batch_id")
        return records

    def final_checks() -> dict[tuple[str, str | None], Any]:
        rows = table(spark, case, "checks", "interval_checks").where("NOT provisional").collect()
        return {(row.batch_id, row.category): row for row in rows}

    pipeline = Pipeline(spark, case.config, TableLocations(str(case.data_dir)))
    pipeline.start()
    silver = next(q for q in pipeline.queries if q.name == "silver")
    checks = next(q for q in pipeline.queries if q.name == "checks")
    try:
        # The second interval's ground truth never comes.
        publish(
            case,
            records_of(case, "entities", generated["entities"], "company_id"),
            interval(first),
            interval(second, truth=False),
            interval(third),
        )
        total_three = sum(len(events_of(b)) for b in (first, second, third))
        wait_for(
            lambda: table(spark, case, "silver", "driver_events").count() == total_three,
            240,
            "three intervals in silver",
            every=1.0,
        )
        # The watermark closes the first interval; the second ends after (watermark - delay).
        wait_for(
            lambda: {k[0] for k in final_checks()} == {first}, 120, "the first interval checked", every=1.0
        )
        watermark = _watermark(silver)
        assert watermark is not None
        newest = max(events_of(third), key=lambda e: e["timestamp"])
        template = {**newest, "event_id": str(uuid.uuid4())}
        older = min(events_of(first), key=lambda e: e["timestamp"])
        assert instant(older["timestamp"]) < watermark  # older than the watermark Spark reports
        stranger, late_company, same_batch = (str(uuid.uuid4()) for _ in range(3))

        def variant(**changes: Any) -> bytes:
            return _value({**template, "event_id": str(uuid.uuid4()), **changes})

        def company(company_id: str, created_at: str) -> Record:
            record = {"company_id": company_id, "geography": "US", "active": True, "created_at": created_at}
            return (case.topics["entities"], company_id.encode(), _value(record))

        bad: dict[str, tuple[str, bytes, str]] = {
            "unparseable": ("events", b"{not json", "value: not a UTF-8 JSON object"),
            "schema_violation": (
                "events",
                _value({k: v for k, v in template.items() if k != "truck_id"}),
                "truck_id: required field missing",
            ),
            "unknown_category": ("events", variant(event_type="parked"), "event_type: not one of"),
            "outside_interval": (
                "events",
                variant(timestamp=shifted(newest["timestamp"], timedelta(minutes=15))),
                "timestamp: not in [start, end)",
            ),
            "unknown_reference": (
                "events",
                variant(company_id=stranger, driver_id=f"DRV-{stranger}-001"),
                "company_id: no fleet.companies entity",
            ),
            "reference_not_yet_valid": (
                "events",
                variant(company_id=late_company, driver_id=f"DRV-{late_company}-001"),
                "company_id: the fleet.companies entity was created at or after the interval start",
            ),
            "late": (
                "events",
                _value({**older, "event_id": str(uuid.uuid4())}),
                "timestamp: at or before the watermark",
            ),
        }
        accepted = {**template, "event_id": str(uuid.uuid4()), "company_id": same_batch,
                    "driver_id": f"DRV-{same_batch}-001"}  # fmt: skip
        publish(
            case,
            [company(late_company, newest["timestamp"]), company(same_batch, "2025-11-01T00:00:00.000000Z")]
            + [(case.topics[role], b"bad", value) for role, value, _ in bad.values()]
            + [(case.topics["events"], b"new", _value(accepted))]
            + records_of(case, "events", [newest], "driver_id")  # a duplicate
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
        assert {k[0] for k in final_checks()} == {first}
        # Without an entity record beside them, micro-batches join their references in the pass
        # that routes them (SilverWriter._events_only): the same rules, the same details.
        alone = {
            "unknown_reference": variant(company_id=stranger, driver_id=f"DRV-{stranger}-002"),
            "reference_not_yet_valid": variant(company_id=late_company, driver_id=f"DRV-{late_company}-002"),
            "late": _value({**older, "event_id": str(uuid.uuid4())}),
        }
        publish(case, [(case.topics["events"], b"alone", value) for value in alone.values()])
        wait_for(
            lambda: (
                table(spark, case, "silver", "quarantine").where(F.col("key") == "alone").count()
                == len(alone)
            ),
            240,
            "records quarantined by a micro-batch without entities",
            every=1.0,
        )
        publish(case, interval(fourth))
        wait_for(
            lambda: second in {k[0] for k in final_checks()}, 240, "the second interval checked", every=1.0
        )
        assert silver.isActive and silver.exception() is None and checks.exception() is None
        closing = _watermark(checks)
    finally:
        pipeline.stop()

    quarantined = table(spark, case, "silver", "quarantine").collect()
    assert all(row.detail for row in quarantined)
    by_value = {row.raw_value: row for row in quarantined}
    for reason, (role, value, detail) in bad.items():
        row = by_value[value.decode()]
        assert (row.reason, row.source_topic) == (reason, case.topics[role]), reason
        assert row.detail.startswith(detail), (reason, row.detail)
        assert row.source_offset is not None and row.source_partition is not None
    assert {(row.source_topic, row.reason) for row in quarantined if row.key == "bad"} >= {
        (case.topics["entities"], "unparseable"),
        (case.topics["ground_truth"], "schema_violation"),
    }
    for reason, value in alone.items():
        row = by_value[value.decode()]
        assert (row.reason, row.detail.startswith(bad[reason][2])) == (reason, True), (reason, row.detail)
    assert len(quarantined) == len(bad) + 2 + len(alone)
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("silver micro-batch")]
    assert any(", references " in line for line in logged)  # the companies' micro-batch
    assert any("route and references" in line for line in logged)
    # Bronze, landed by the silver query, holds every record as it came: the invalid UTF-8 bytes
    # unchanged (the quarantine's text of them has U+FFFD), and the duplicate silver dropped.
    raw = table(spark, case, "bronze", case.topics["entities"]).where(F.col("key") == "bad")
    assert [row.raw for row in raw.select(F.hex(F.col("value").cast("binary")).alias("raw")).collect()] == [
        "FFFE"
    ]
    copies = table(spark, case, "bronze", case.topics["events"]).where(
        F.col("value").contains(newest["event_id"])
    )
    assert copies.count() == 2
    assert silver_events(spark, case) == event_tuples([*generated["events"], accepted])
    assert table(spark, case, "silver", "driver_events").count() == len(generated["events"]) + 1

    final = final_checks()
    assert {k[0] for k in final} == {first, second}  # the third and fourth are still open
    assert {row.status for (batch, _), row in final.items() if batch == first} == {"complete"}
    assert {row.status for (batch, _), row in final.items() if batch == second} == {"no_ground_truth"}
    assert closing is not None
    for row in final.values():
        assert row.interval_end.replace(tzinfo=UTC) <= closing  # closed only once the watermark passed
