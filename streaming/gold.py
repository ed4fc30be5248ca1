"""Gold tables: pure functions of the silver tables, registered per scenario.

:func:`derived_tables` gives a scenario's gold tables (table name → function of the silver
DataFrames keyed by scenario topic name); :func:`streaming.checks.refresh_gold` recomputes them
from the current silver tables (an overwrite) as intervals close and after ``--available-now``.

Identity graph (seed 004), three tables:

- ``viewership_patterns``, one row per individual with engagements: ``total_engagements``,
  ``frequency_daily_avg`` (engagements / the days the engagement table spans, at least 1),
  ``recency_last_engagement`` (its newest engagement), ``preferred_categories`` (top 3 by count,
  ties by name), ``preferred_device`` and ``peak_hour`` (most frequent, ties by name / earlier hour);
  ``pattern_id`` = ``individual_id``.
- ``audience_attributes``, one row per individual of ``viewership_patterns``: ``affinity_scores``
  (category → its share of the individual's engagements: values in [0, 1] summing to 1),
  ``segment_primary`` and ``segment_secondary`` (the configured segment of the first and of the
  next two preferred categories), ``behavioral_classification`` (``Churned`` when the newest
  engagement is more than :data:`CHURNED_AFTER` older than the newest in the table, else ``Heavy
  User`` from :data:`HEAVY_PER_DAY` engagements per day, ``Moderate User`` from
  :data:`MODERATE_PER_DAY`, ``Light User`` below), ``propensity_to_convert`` ((responses + 1) /
  (exposures + 2), the posterior mean of the response rate under a uniform prior: in (0, 1), rising
  with the individual's latent propensity), ``lifetime_value_estimate`` (the sum of its conversion
  values, null without conversions); ``attribute_id`` = ``individual_id``.
- ``outcome_metrics``, per response and attribution model, one row per touch: the exposures of the
  same individual to the same campaign at or before the response. Weights per (response, model)
  sum to 1: ``first_touch`` and ``last_touch`` put 1 on the earliest / latest touch, ``linear``
  1/n on each, ``time_decay`` 2^(−age / :data:`HALF_LIFE`) normalised, age = response time − touch
  time. ``conversion_status``: ``converted`` for conversions (``revenue`` = value × weight, so the
  attributed revenue of a response sums to its value), ``engaged`` otherwise (``revenue`` null);
  ``engagement_score`` = the individual's responses / exposures for the campaign, at most 1. The
  seed declares ``response_id`` unique, which its own multi-touch rule contradicts; the key here is
  (``response_id``, ``attribution_model``, ``exposure_id``), and ``outcome_id`` a 64-bit hash of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pyspark.sql import Window
from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from producer.config import SeedstreamConfig
    from producer.generation.scenarios.base import DerivedTable

ENGAGEMENTS = "identity.content-engagements"
EXPOSURES = "identity.campaign-exposures"
RESPONSES = "identity.response-events"

HEAVY_PER_DAY = 10.0
MODERATE_PER_DAY = 3.0
CHURNED_AFTER = timedelta(days=14)
HALF_LIFE = timedelta(days=7)
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "time_decay")
DAY_MICROS = 86_400_000_000


def derived_tables(config: SeedstreamConfig) -> dict[str, DerivedTable]:
    """The gold tables of ``config``'s scenario (none for scenarios without any)."""
    if config.scenario != "identity":
        return {}
    from producer.generation.scenarios.identity.models import CONTENT_CATEGORIES

    segments: dict[str, str] = dict(zip(CONTENT_CATEGORIES, config.identity.segments.names(), strict=True))
    return {
        "viewership_patterns": viewership_patterns,
        "audience_attributes": lambda silver: audience_attributes(silver, segments),
        "outcome_metrics": outcome_metrics,
    }


def _top(frame: DataFrame, key: str, value: str, tie: Column) -> DataFrame:
    """Per ``key``: ``value`` ranked by count (descending) then ``tie``, with the rank in ``_rank``."""
    counted = frame.groupBy(key, value).agg(F.count(F.lit(1)).alias("_n"))
    order = Window.partitionBy(key).orderBy(F.col("_n").desc(), tie)
    return counted.withColumn("_rank", F.row_number().over(order))


def viewership_patterns(silver: Mapping[str, Any]) -> DataFrame:
    engagements: DataFrame = silver[ENGAGEMENTS].select(
        "individual_id", "content_category", "device_type", "timestamp"
    )
    span = engagements.agg(
        F.greatest(
            (F.max(F.unix_micros("timestamp")) - F.min(F.unix_micros("timestamp"))) / F.lit(DAY_MICROS),
            F.lit(1.0),
        ).alias("_days")
    )
    totals = engagements.groupBy("individual_id").agg(
        F.count(F.lit(1)).alias("total_engagements"), F.max("timestamp").alias("recency_last_engagement")
    )
    categories = (
        _top(engagements, "individual_id", "content_category", F.col("content_category"))
        .where(F.col("_rank") <= 3)
        .groupBy("individual_id")
        .agg(F.sort_array(F.collect_list(F.struct("_rank", "content_category"))).alias("_top"))
        .select("individual_id", F.col("_top.content_category").alias("preferred_categories"))
    )
    device = (
        _top(engagements, "individual_id", "device_type", F.col("device_type"))
        .where(F.col("_rank") == 1)
        .select("individual_id", F.col("device_type").alias("preferred_device"))
    )
    hours = engagements.withColumn("_hour", F.hour("timestamp"))
    peak = (
        _top(hours, "individual_id", "_hour", F.col("_hour"))
        .where(F.col("_rank") == 1)
        .select("individual_id", F.col("_hour").alias("peak_hour"))
    )
    patterns: DataFrame = (
        totals.join(categories, "individual_id")
        .join(device, "individual_id")
        .join(peak, "individual_id")
        .crossJoin(F.broadcast(span))
        .select(
            F.col("individual_id").cast("long").alias("pattern_id"),
            F.col("individual_id").cast("long").alias("individual_id"),
            "total_engagements",
            (F.col("total_engagements") / F.col("_days")).alias("frequency_daily_avg"),
            "recency_last_engagement",
            "preferred_categories",
            "preferred_device",
            F.col("peak_hour").cast("int").alias("peak_hour"),
            F.current_timestamp().alias("computed_at"),
        )
    )
    return patterns


def audience_attributes(silver: Mapping[str, Any], segments: Mapping[str, str]) -> DataFrame:
    """See the module docstring; ``segments``: content category → segment name."""
    patterns = viewership_patterns(silver)
    engagements: DataFrame = silver[ENGAGEMENTS].select("individual_id", "content_category", "timestamp")
    newest = engagements.agg(F.max("timestamp").alias("_newest"))
    shares = (
        engagements.groupBy("individual_id", "content_category")
        .agg(F.count(F.lit(1)).alias("_n"))
        .withColumn("_share", F.col("_n") / F.sum("_n").over(Window.partitionBy("individual_id")))
        .groupBy("individual_id")
        .agg(
            F.map_from_entries(F.collect_list(F.struct("content_category", "_share"))).alias(
                "affinity_scores"
            )
        )
    )
    exposures = silver[EXPOSURES].groupBy("individual_id").agg(F.count(F.lit(1)).alias("_exposures"))
    responses = (
        silver[RESPONSES]
        .groupBy("individual_id")
        .agg(
            F.count(F.lit(1)).alias("_responses"),
            F.sum(F.when(F.col("response_type") == "conversion", F.col("value"))).alias("_value"),
        )
    )
    segment = F.create_map(*(F.lit(part) for pair in segments.items() for part in pair))
    secondary = F.transform(F.slice(F.col("preferred_categories"), 2, 2), lambda category: segment[category])
    churned = F.col("recency_last_engagement") < F.col("_newest") - F.expr(
        f"INTERVAL {int(CHURNED_AFTER.total_seconds())} SECONDS"
    )
    frequency = F.col("frequency_daily_avg")
    classification = (
        F.when(churned, "Churned")
        .when(frequency >= HEAVY_PER_DAY, "Heavy User")
        .when(frequency >= MODERATE_PER_DAY, "Moderate User")
        .otherwise("Light User")
    )
    responded = F.coalesce(F.col("_responses"), F.lit(0))
    exposed = F.coalesce(F.col("_exposures"), F.lit(0))
    attributes: DataFrame = (
        patterns.join(shares, "individual_id")
        .join(exposures, "individual_id", "left")
        .join(responses, "individual_id", "left")
        .crossJoin(F.broadcast(newest))
        .select(
            F.col("individual_id").alias("attribute_id"),
            "individual_id",
            segment[F.col("preferred_categories")[0]].alias("segment_primary"),
            F.when(F.size(secondary) > 0, secondary).alias("segment_secondary"),
            "affinity_scores",
            classification.alias("behavioral_classification"),
            ((responded + 1) / (exposed + 2)).cast("double").alias("propensity_to_convert"),
            F.round("_value", 2).cast("decimal(10,2)").alias("lifetime_value_estimate"),
            F.current_timestamp().alias("computed_at"),
        )
    )
    return attributes


def outcome_metrics(silver: Mapping[str, Any]) -> DataFrame:
    responses = silver[RESPONSES].select(
        "response_id", "individual_id", "campaign_id", "response_type", "response_timestamp", "value"
    )
    exposures = silver[EXPOSURES].select(
        F.col("exposure_id").alias("touch_id"), "individual_id", "campaign_id", "exposure_timestamp"
    )
    pair = ["individual_id", "campaign_id"]
    engagement = (
        exposures.groupBy(*pair)
        .agg(F.count(F.lit(1)).alias("_exposures"))
        .join(responses.groupBy(*pair).agg(F.count(F.lit(1)).alias("_responses")), pair)
        .select(
            *pair, F.least(F.col("_responses") / F.col("_exposures"), F.lit(1.0)).alias("engagement_score")
        )
    )
    touches = responses.join(exposures, pair).where(
        F.col("exposure_timestamp") <= F.col("response_timestamp")
    )
    per_response = Window.partitionBy("response_id")
    age_days = (F.unix_micros("response_timestamp") - F.unix_micros("exposure_timestamp")) / F.lit(
        HALF_LIFE.total_seconds() * 1e6
    )
    touches = (
        touches.withColumn(
            "_order", F.row_number().over(per_response.orderBy("exposure_timestamp", "touch_id"))
        )
        .withColumn("_touches", F.count(F.lit(1)).over(per_response))
        .withColumn("_decay", F.pow(F.lit(2.0), -age_days))
        .withColumn("_decay_sum", F.sum("_decay").over(per_response))
        .withColumn("attribution_model", F.explode(F.array(*map(F.lit, ATTRIBUTION_MODELS))))
    )
    model = F.col("attribution_model")
    weight = (
        F.when(model == "first_touch", F.when(F.col("_order") == 1, 1.0).otherwise(0.0))
        .when(model == "last_touch", F.when(F.col("_order") == F.col("_touches"), 1.0).otherwise(0.0))
        .when(model == "linear", 1.0 / F.col("_touches"))
        .otherwise(F.col("_decay") / F.col("_decay_sum"))
    )
    converted = F.col("response_type") == "conversion"
    metrics: DataFrame = (
        touches.withColumn("attribution_weight", weight)
        .join(engagement, pair, "left")
        .select(
            F.xxhash64("response_id", "attribution_model", "touch_id").alias("outcome_id"),
            "response_id",
            F.col("touch_id").alias("exposure_id"),
            "campaign_id",
            F.when(converted, "converted").otherwise("engaged").alias("conversion_status"),
            F.when(converted, F.round(F.col("value") * F.col("attribution_weight"), 2))
            .cast("decimal(10,2)")
            .alias("revenue"),
            "engagement_score",
            "attribution_model",
            "attribution_weight",
            F.current_timestamp().alias("computed_at"),
        )
    )
    return metrics
