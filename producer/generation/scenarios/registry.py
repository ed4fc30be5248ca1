"""The scenario registry: every scenario by name (imported lazily, so unused ones cost nothing)."""

from __future__ import annotations

from functools import cache

from producer.errors import BadInputError
from producer.generation.scenarios.base import Scenario, check_topics

SCENARIOS = ("fleet", "tapflow", "identity")


@cache
def get_scenario(name: str) -> Scenario:
    """The (shared, thread-safe) scenario called ``name``, its topics checked against the contract."""
    scenario: Scenario
    if name == "fleet":
        from producer.generation.scenarios.fleet.scenario import FleetScenario

        scenario = FleetScenario()
    elif name == "tapflow":
        from producer.generation.scenarios.tapflow.scenario import TapflowScenario

        scenario = TapflowScenario()
    elif name == "identity":
        from producer.generation.scenarios.identity.scenario import IdentityScenario

        scenario = IdentityScenario()
    else:
        raise BadInputError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    check_topics(scenario.topics())
    return scenario
