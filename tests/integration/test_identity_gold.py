"""The identity graph's gold tables (:mod:`streaming.gold`) on a small input computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from producer.config import load_config
from streaming import gold

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


ENGAGEMENTS = [
    (1, "News", "mobile", at(8, 8, 10)),  # the table's first engagement
    (1, "News", "mobile", at(8, 8, 20)),
    (1, "Sports", "desktop", at(8, 9, 5)),
    (1, "Finance", "mobile", at(10, 8, 30)),  # the table's newest engagement
    (2, "Health", "ctv", at(8, 21)),
    *[(4, "Technology", "tablet", at(9, 12, minute)) for minute in range(21)],  # 21 / 2.01 days: heavy
    *[(5, "Sports", "desktop", at(9, 13, minute)) for minute in range(7)],  # 7 / 2.01 days: moderate
]
SPAN_DAYS = 2 + 20 / (24 * 60)  # 2025-11-08T08:10Z → 2025-11-10T08:30Z
EXPOSURES = [
    (11, 1, 100, at(8, 10)),
    (12, 1, 100, at(9, 10)),
    (13, 1, 100, at(10, 12)),  # after the response: not one of its touches
    (14, 2, 100, at(8, 10)),
]
RESPONSES = [
    (21, 1, 100, 12, "conversion", at(9, 22), 100.0),
    (22, 2, 100, 14, "click", at(8, 11), None),
]


def _silver(spark: SparkSession, engagements: list[tuple[Any, ...]] = ENGAGEMENTS) -> dict[str, DataFrame]:
    return {
        gold.ENGAGEMENTS: spark.createDataFrame(
            engagements,
            "individual_id long, content_category string, device_type string, timestamp timestamp",
        ),
        gold.EXPOSURES: spark.createDataFrame(
            EXPOSURES, "exposure_id long, individual_id long, campaign_id long, exposure_timestamp timestamp"
        ),
        gold.RESPONSES: spark.createDataFrame(
            RESPONSES,
            "response_id long, individual_id long, campaign_id long, exposure_id long, response_type string, "
            "response_timestamp timestamp, value double",
        ),
    }


def _by(rows: list[Any], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row.asDict() for row in rows}


def test_viewership_patterns(spark: SparkSession) -> None:
    rows = _by(gold.viewership_patterns(_silver(spark)).collect(), "individual_id")
    assert set(rows) == {1, 2, 4, 5}
    one = rows[1]
    assert one["pattern_id"] == 1
    assert one["total_engagements"] == 4
    assert one["frequency_daily_avg"] == pytest.approx(4 / SPAN_DAYS)
    assert one["recency_last_engagement"] == at(10, 8, 30).replace(tzinfo=None)
    assert one["preferred_categories"] == ["News", "Finance", "Sports"]  # 2, then 1 and 1 by name
    assert (one["preferred_device"], one["peak_hour"]) == ("mobile", 8)
    assert rows[2]["preferred_categories"] == ["Health"]
    assert (rows[2]["preferred_device"], rows[2]["peak_hour"]) == ("ctv", 21)


def test_audience_attributes(spark: SparkSession) -> None:
    tables = gold.derived_tables(load_config("identity.small"))
    rows = _by(tables["audience_attributes"](_silver(spark)).collect(), "individual_id")
    one = rows[1]
    assert one["attribute_id"] == 1
    assert one["affinity_scores"] == {"News": 0.5, "Sports": 0.25, "Finance": 0.25}
    assert one["segment_primary"] == "News Junkie"
    assert one["segment_secondary"] == ["Finance Follower", "Sports Fan"]
    assert one["propensity_to_convert"] == pytest.approx((1 + 1) / (3 + 2))
    assert one["lifetime_value_estimate"] == Decimal("100.00")
    assert rows[2]["segment_secondary"] is None
    assert rows[2]["propensity_to_convert"] == pytest.approx((1 + 1) / (1 + 2))
    assert rows[2]["lifetime_value_estimate"] is None
    assert rows[4]["propensity_to_convert"] == 0.5  # never exposed: the prior
    classes = {key: row["behavioral_classification"] for key, row in rows.items()}
    assert classes == {1: "Light User", 2: "Light User", 4: "Heavy User", 5: "Moderate User"}
    for row in rows.values():
        assert sum(row["affinity_scores"].values()) == pytest.approx(1.0)

    long_ago = [*ENGAGEMENTS, (3, "News", "mobile", at(20, 0, month=10))]  # 21 days before the newest
    churned = _by(tables["audience_attributes"](_silver(spark, long_ago)).collect(), "individual_id")
    assert churned[3]["behavioral_classification"] == "Churned"


def test_outcome_metrics(spark: SparkSession) -> None:
    rows = [row.asDict() for row in gold.outcome_metrics(_silver(spark)).collect()]
    weights = {
        (r["response_id"], r["attribution_model"], r["exposure_id"]): r["attribution_weight"] for r in rows
    }
    decay_first, decay_second = 2 ** (-1.5 / 7), 2 ** (-0.5 / 7)  # touches 36 h and 12 h before
    assert weights == pytest.approx(
        {
            (21, "first_touch", 11): 1.0, (21, "first_touch", 12): 0.0,
            (21, "last_touch", 11): 0.0, (21, "last_touch", 12): 1.0,
            (21, "linear", 11): 0.5, (21, "linear", 12): 0.5,
            (21, "time_decay", 11): decay_first / (decay_first + decay_second),
            (21, "time_decay", 12): decay_second / (decay_first + decay_second),
            (22, "first_touch", 14): 1.0, (22, "last_touch", 14): 1.0,
            (22, "linear", 14): 1.0, (22, "time_decay", 14): 1.0,
        }
    )  # fmt: skip
    converted = [r for r in rows if r["response_id"] == 21]
    assert {r["conversion_status"] for r in converted} == {"converted"}
    assert [r["engagement_score"] for r in converted] == pytest.approx([1 / 3] * len(converted))
    linear = {r["exposure_id"]: r["revenue"] for r in converted if r["attribution_model"] == "linear"}
    assert linear == {11: Decimal("50.00"), 12: Decimal("50.00")}
    clicked = [r for r in rows if r["response_id"] == 22]
    assert {(r["conversion_status"], r["revenue"], r["engagement_score"]) for r in clicked} == {
        ("engaged", None, 1.0)
    }
    assert len({r["outcome_id"] for r in rows}) == len(rows) == 12
