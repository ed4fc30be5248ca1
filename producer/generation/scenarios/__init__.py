"""Scenarios: self-contained generators behind :class:`~producer.generation.scenarios.base.Scenario`."""

from __future__ import annotations

from functools import cache

from producer.errors import BadInputError
from producer.generation.scenarios.base import IntervalOutput, Records, Scenario, TopicSpec

SCENARIOS = ("fleet",)

__all__ = ["SCENARIOS", "IntervalOutput", "Records", "Scenario", "TopicSpec", "get_scenario"]


@cache
def get_scenario(name: str) -> Scenario:
    """The (shared, thread-safe) scenario called ``name``."""
    if name == "fleet":
        from producer.generation.scenarios.fleet.scenario import FleetScenario

        return FleetScenario()
    raise BadInputError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
