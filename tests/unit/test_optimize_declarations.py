"""Every scenario's Z-order declarations name tables and columns the pipeline has."""

from __future__ import annotations

from typing import Any

import pytest

from producer.config import load_config
from producer.datadir import TableLocations
from producer.errors import BadInputError
from producer.generation.scenarios.registry import SCENARIOS, get_scenario
from streaming.contract import plan_for
from streaming.optimize import zorder_paths
from streaming.tables import Tables

PRESET = {"fleet": "small", "tapflow": "tapflow.small", "identity": "identity.small"}


def _tables(preset: str) -> Tables:
    return Tables(None, plan_for(load_config(preset)), TableLocations("/data"))  # type: ignore[arg-type]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_zorder_names_real_tables_and_columns(scenario: str) -> None:
    config = load_config(PRESET[scenario])
    tables = _tables(PRESET[scenario])
    paths = zorder_paths(config, tables)
    assert paths
    fields = {topic.table: {rule.name for rule in topic.rules} for topic in tables.plan.topics}
    for name, (path, columns) in paths.items():
        assert path.startswith("/data/delta/")
        if name in fields:  # gold tables' columns are checked by the validate test
            assert set(columns) <= fields[name], name


def test_identity_zorders_the_seed_tables() -> None:
    paths = zorder_paths(load_config("identity.small"), _tables("identity.small"))
    assert paths["households"][1] == ("income_bracket", "location_state")
    assert paths["outcome_metrics"][0] == "/data/delta/gold/outcome_metrics"


def test_an_undeclared_table_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario: Any = get_scenario("fleet")
    monkeypatch.setattr(type(scenario), "zorder", lambda self: {"no_such_table": ("x",)})
    with pytest.raises(BadInputError, match="no_such_table"):
        zorder_paths(load_config("small"), _tables("small"))
