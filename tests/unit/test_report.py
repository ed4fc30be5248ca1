"""``seedstream report``: generic figures from declarations plus the scenario's own, from generated data."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from producer.config import load_config
from producer.errors import BadInputError
from producer.generation.report import _Generic, build_report
from producer.generation.scenarios.base import IntervalOutput, Records
from producer.generation.scenarios.fleet.generate import companies_created_before
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard
from producer.generation.testing import make_dataset, make_interval
from tests.fixtures.runtime import REPO_ROOT, SEEDSTREAM

START = datetime(2025, 11, 8, tzinfo=UTC)


def _rows(report_json: dict[str, object]) -> dict[str, dict[str, object]]:
    return {
        f"{section['title']}: {row['metric']}": row  # type: ignore[index]
        for section in report_json["sections"]  # type: ignore[attr-defined]
        for row in section["rows"]  # type: ignore[index]
    }


def test_fleet_report_holds_every_rule_and_counts_what_was_generated() -> None:
    config = load_config("small", {"seed": 7})
    report = build_report(config, START, START + timedelta(hours=6))
    assert report.failures == [] and report.intervals == 24
    rows = _rows(report.to_json())
    integrity = rows["Referential integrity: fleet.driver-events.company_id → fleet.companies (violations)"]
    events = rows["Events: fleet.driver-events: events"]["value"]
    assert integrity["value"] == 0 and integrity["expected"] == f"0 of {events:,} checked"
    assert rows["Ground truth against generated records: fleet.driver-events"]["ok"] is True
    assert rows["fleet: events per driver per interval (Poisson mean)"]["ok"] is True
    onboarded = companies_created_before(config.fleet, START, START + timedelta(hours=6))
    assert rows["Entities: fleet.companies: entities"]["value"] == onboarded == 16  # 5 + one per 30 min


def test_shard_reports_add_up_to_the_whole() -> None:
    config = load_config("small", {"seed": 7})
    end = START + timedelta(hours=3)
    whole = _rows(build_report(config, START, end).to_json())
    parts = [_rows(build_report(config, START, end, Shard(i, 3)).to_json()) for i in range(3)]
    key = "Events: fleet.driver-events: events"
    assert sum(int(part[key]["value"]) for part in parts) == whole[key]["value"]  # type: ignore[arg-type]


def test_a_reference_to_an_entity_not_yet_published_is_a_violation() -> None:
    dataset = make_dataset("small")
    fleet = get_scenario("fleet")
    generic = _Generic(fleet)
    length = fleet.interval_length(dataset.config)
    for records in fleet.entities(dataset, dataset.epoch - length, dataset.epoch, Shard()):
        generic.add_entities(records)
    output = make_interval(dataset)
    events = output.events[0]
    stranger = orjson.loads(events.values[0]) | {"company_id": "00000000-0000-4000-8000-000000000000"}
    broken = Records(events.topic, events.keys[:1], [orjson.dumps(stranger)], events.timestamps_us[:1])
    generic.add_interval(replace(output, events=(broken,)))
    integrity = {row.metric: row for row in generic.sections()[1].rows}
    row = integrity["fleet.driver-events.company_id → fleet.companies (violations)"]
    assert row.value == 1 and row.ok is False


def test_truth_that_disagrees_with_the_records_is_flagged() -> None:
    dataset = make_dataset("small")
    output = make_interval(dataset)
    generic = _Generic(get_scenario("fleet"))
    fewer = Records(output.events[0].topic, [], [], np.empty(0, dtype=np.int64))
    generic.add_interval(IntervalOutput(output.interval_id, output.interval_start, output.interval_end,
                                        (fewer,), output.ground_truth))  # fmt: skip
    truth = {row.metric: row for row in generic.sections()[3].rows}
    assert truth["fleet.driver-events"].ok is False


def test_report_command_json_and_exit_codes(tmp_path: object) -> None:
    ok = subprocess.run(
        [SEEDSTREAM, "report", "--config", "small", "--from", "2025-11-08T00:00Z",
         "--to", "2025-11-08T02:00Z", "--json", "--seed", "3"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    document = json.loads(ok.stdout)
    assert document["scenario"] == "fleet" and document["seed"] == 3 and document["failures"] == []
    bad = subprocess.run(
        [SEEDSTREAM, "report", "--config", "small", "--from", "2025-11-08T00:07Z",
         "--to", "2025-11-08T02:00Z"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "not aligned" in bad.stderr and "Traceback" not in bad.stderr


def test_build_report_refuses_a_range_that_is_not_whole_intervals() -> None:
    with pytest.raises(BadInputError, match="must be after"):
        build_report(load_config("small"), START, START)


def test_tapflow_report_holds_every_rule_and_shows_the_business_figures() -> None:
    report = build_report(load_config("tapflow.small"), START, START + timedelta(days=2))
    assert report.failures == []
    rows = _rows(report.to_json())
    pricing = "tapflow: subscriptions and revenue: plan and MRR against device-count pricing (mismatches)"
    assert rows[pricing]["value"] == 0 and rows[pricing]["ok"] is True
    uptime = rows["tapflow: operations: device uptime in business hours (online heartbeats / owed)"]["value"]
    assert 0.75 <= float(str(uptime).rstrip("%")) / 100 <= 0.95
    operational = rows["tapflow: operations: locations operational (≥ 75% devices online)"]["value"]
    assert 0.5 <= float(str(operational).rstrip("%")) / 100 <= 1.0
    volumes = "tapflow: tap events by venue type (local time)"
    ratio = rows[f"{volumes}: pours per hour, peak (11–14, 18–23) / off-peak"]
    assert ratio["ok"] is True and float(str(ratio["value"])) > 2
    integrity = [row for key, row in rows.items() if key.startswith("Referential integrity")]
    assert len(integrity) >= 10 and all(row["value"] == 0 for row in integrity)
