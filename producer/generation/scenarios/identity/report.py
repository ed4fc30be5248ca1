"""The identity scenario's own report figures, against the configuration and the seed's rules.

Entity shares (gender, income brackets), household size, identifiers per individual and presence
rates against the config; the rules that must hold exactly (identifier values unique within their
type, ``last_seen >= first_seen``, exposures inside their campaign's dates and on one of its
channels, responses after a known earlier exposure of the same individual and campaign with exact
``time_to_conversion_hours``, values only for conversions, durations only for views) as violation
counts that must be 0; response rates per exposure.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime
from typing import Any

import orjson

from producer.generation.dataset import Dataset
from producer.generation.scenarios.base import IntervalOutput, Records
from producer.generation.scenarios.identity import models
from producer.generation.scenarios.sections import Section, share

TOLERANCE_SIGMAS = 4.0


def _within(observed: float, expected: float, n: int) -> bool:
    if n == 0:
        return True
    return abs(observed - expected) <= TOLERANCE_SIGMAS * math.sqrt(expected * (1 - expected) / n) + 1e-9


class IdentityReport:
    """Tallies entities and checks every event against them, interval by interval."""

    def __init__(self, dataset: Dataset) -> None:
        self.config = dataset.config.identity
        self.sizes: list[int] = []
        self.genders: Counter[str] = Counter()
        self.individuals = 0
        self.identifiers: Counter[int] = Counter()
        self.types_per_individual: dict[int, set[str]] = {}
        self.values: set[tuple[str, str]] = set()
        self.duplicates = 0
        self.seen_order = 0
        self.campaigns: dict[int, tuple[date, date, frozenset[str]]] = {}
        self.exposures: dict[int, tuple[int, int, str]] = {}
        self.violations: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.exposure_count = 0

    def add_entities(self, records: Records) -> None:
        name = records.topic.name
        for value in records.values:
            record = orjson.loads(value)
            if name == models.HOUSEHOLDS_TOPIC:
                self.sizes.append(int(record["household_size"]))
            elif name == models.INDIVIDUALS_TOPIC:
                self.individuals += 1
                self.genders[str(record["gender"])] += 1
            elif name == models.MAPPINGS_TOPIC:
                individual = int(record["individual_id"])
                self.identifiers[individual] += 1
                self.types_per_individual.setdefault(individual, set()).add(str(record["identifier_type"]))
                pair = (str(record["identifier_type"]), str(record["identifier_value"]))
                self.duplicates += pair in self.values
                self.values.add(pair)
                self.seen_order += record["last_seen"] < record["first_seen"]
            elif name == models.CAMPAIGNS_TOPIC:
                self.campaigns[int(record["campaign_id"])] = (
                    date.fromisoformat(record["start_date"]),
                    date.fromisoformat(record["end_date"]),
                    frozenset(record["channels"]),
                )

    def add_interval(self, output: IntervalOutput) -> None:
        for records in output.events:
            name = records.topic.name
            for value in records.values:
                record = orjson.loads(value)
                if name == models.ENGAGEMENTS_TOPIC:
                    has_duration = record["duration_seconds"] is not None
                    self.violations["duration only for views"] += has_duration != (
                        record["engagement_type"] == "view"
                    )
                elif name == models.EXPOSURES_TOPIC:
                    self._exposure(record)
                elif name == models.RESPONSES_TOPIC:
                    self._response(record)

    def _exposure(self, record: dict[str, Any]) -> None:
        self.exposure_count += 1
        campaign = self.campaigns.get(int(record["campaign_id"]))
        instant = datetime.fromisoformat(str(record["exposure_timestamp"]))
        inside = campaign is not None and campaign[0] <= instant.date() <= campaign[1]
        self.violations["exposures outside their campaign's dates"] += not inside
        self.violations["exposures on a channel the campaign does not use"] += (
            campaign is None or record["channel"] not in campaign[2]
        )
        self.exposures[int(record["exposure_id"])] = (
            int(record["individual_id"]),
            int(record["campaign_id"]),
            str(record["exposure_timestamp"]),
        )

    def _response(self, record: dict[str, Any]) -> None:
        self.responses[str(record["response_type"])] += 1
        exposure = self.exposures.get(int(record["exposure_id"]))
        matches = exposure is not None and exposure[:2] == (record["individual_id"], record["campaign_id"])
        self.violations["responses without an earlier exposure of the same individual and campaign"] += not (
            matches
            and exposure is not None
            and exposure[2] == record["exposure_timestamp"]
            and str(record["exposure_timestamp"]) <= str(record["response_timestamp"])
        )
        delay = datetime.fromisoformat(str(record["response_timestamp"])) - datetime.fromisoformat(
            str(record["exposure_timestamp"])
        )
        self.violations["time_to_conversion_hours not (response − exposure) / 3600 s"] += (
            record["time_to_conversion_hours"] != delay.total_seconds() / 3600
        )
        self.violations["value only for conversions"] += (record["value"] is not None) != (
            record["response_type"] == "conversion"
        )

    def sections(self) -> list[Section]:
        section = Section("identity: entities")
        config = self.config
        n = len(self.sizes)
        mean = sum(self.sizes) / n if n else 0.0
        section.add("household size, mean", f"{mean:.2f}", "≈ 2.5 (Normal rounded, clipped to 1–10)")
        section.add(
            "household size outside 1–10",
            sum(not 1 <= s <= 10 for s in self.sizes),
            "0",
            all(1 <= s <= 10 for s in self.sizes),
        )
        for label, weight in zip(models.GENDERS, config.gender.weights(), strict=True):
            observed = share(self.genders[label], self.individuals)
            section.add(
                f"gender = {label}",
                f"{observed:.1%}",
                f"{weight:.0%}",
                _within(observed, weight, self.individuals),
            )
        people = len(self.identifiers)
        total = sum(self.identifiers.values())
        section.add(
            "identifiers per individual, mean", f"{share(total, people):.2f}", f"{config.identifiers.mean:g}"
        )
        out_of_range = sum(not 2 <= count <= 15 for count in self.identifiers.values())
        section.add(
            "individuals with fewer than 2 or more than 15 identifiers", out_of_range, "0", not out_of_range
        )
        rates = config.identifiers.presence
        for kind in ("email_hash", "mobile_ad_id", "ctv_id", "cookie_id", "hashed_phone"):
            having = sum(kind in types for types in self.types_per_individual.values())
            expected = float(getattr(rates, kind))
            observed = share(having, people)
            section.add(
                f"individuals with a {kind}",
                f"{observed:.1%}",
                f"{expected:.0%}",
                _within(observed, expected, people),
            )
        section.add("identifier values repeated within their type", self.duplicates, "0", not self.duplicates)
        section.add("mappings with last_seen before first_seen", self.seen_order, "0", not self.seen_order)
        rules = Section("identity: events against the rules")
        for rule in (
            "duration only for views",
            "exposures outside their campaign's dates",
            "exposures on a channel the campaign does not use",
            "responses without an earlier exposure of the same individual and campaign",
            "time_to_conversion_hours not (response − exposure) / 3600 s",
            "value only for conversions",
        ):
            rules.add(f"{rule} (violations)", self.violations[rule], "0", not self.violations[rule])
        responses = sum(self.responses.values())
        rules.add("responses per exposure", f"{share(responses, self.exposure_count):.2%}")
        for kind in models.RESPONSE_TYPES:
            rules.add(f"response_type = {kind}", self.responses[kind])
        return [section, rules]
