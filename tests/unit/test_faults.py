"""Labelled fault injection: deterministic per record id, shard-independent, clean records untouched,
every kind doing what its label claims, rates as configured, bad settings refused with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from producer.cli import app
from producer.errors import BadInputError
from producer.generation.clock import from_micros, parse_instant
from producer.generation.dataset import Dataset
from producer.generation.fault_labels import EXPECTED, FaultLabel
from producer.generation.fault_settings import FAULT_KINDS
from producer.generation.fault_values import record_ids
from producer.generation.faults import faulted_interval
from producer.generation.scenarios.base import IntervalOutput
from producer.generation.scenarios.registry import get_scenario
from producer.generation.schema_export import SCHEMAS_DIR
from producer.generation.shard import Shard
from producer.generation.testing import make_dataset


def with_faults(preset: str, rate: float = 0.04, seed: int | None = None, **extra: Any) -> Dataset:
    """``preset`` with every fault kind at ``rate``."""
    return make_dataset(preset, seed=seed, **{f"faults__{kind}__rate": rate for kind in FAULT_KINDS}, **extra)


def outputs(dataset: Dataset, count: int, shard: Shard | None = None) -> list[IntervalOutput]:
    """The faulted outputs of the first ``count`` intervals."""
    scenario = get_scenario(dataset.config.scenario)
    length = scenario.interval_length(dataset.config)
    return [
        faulted_interval(scenario, dataset, start, shard or Shard(), generation_time=start + length)
        for start in (dataset.epoch + index * length for index in range(count))
    ]


def labels_of(output: IntervalOutput) -> list[FaultLabel]:
    assert output.labels is not None
    return [FaultLabel.model_validate_json(value) for value in output.labels.values]


def test_without_faults_the_output_is_the_scenarios_own() -> None:
    dataset = make_dataset("small")
    scenario = get_scenario("fleet")
    start = dataset.epoch + scenario.interval_length(dataset.config)
    clean = scenario.interval(dataset, start, Shard(), generation_time=start)
    faulted = faulted_interval(scenario, dataset, start, Shard(), generation_time=start)
    assert faulted.labels is None
    for before, after in zip(
        (*clean.events, clean.ground_truth), (*faulted.events, faulted.ground_truth), strict=True
    ):
        assert (after.keys, after.values, list(after.timestamps_us)) == (
            before.keys,
            before.values,
            list(before.timestamps_us),
        )


@pytest.mark.parametrize("preset", ["small", "tapflow.small", "identity.small"])
def test_the_same_config_and_seed_give_the_same_faults(preset: str) -> None:
    first, second = outputs(with_faults(preset), 4), outputs(with_faults(preset), 4)
    for one, two in zip(first, second, strict=True):
        assert [(r.keys, r.values) for r in one.events] == [(r.keys, r.values) for r in two.events]
        assert one.labels is not None and two.labels is not None
        assert one.labels.values == two.labels.values
    assert sum(len(labels_of(output)) for output in first) > 20


@pytest.mark.parametrize("shards", [2, 3])
def test_every_shard_count_gives_the_same_faults_per_record(shards: int) -> None:
    dataset = with_faults("small", rate=0.06)
    whole = outputs(dataset, 5)
    parts = [outputs(dataset, 5, Shard(index, shards)) for index in range(shards)]
    for position, output in enumerate(whole):
        shard_labels = [label for part in parts for label in labels_of(part[position])]
        assert sorted(map(repr, shard_labels)) == sorted(map(repr, labels_of(output)))
        shard_values = [
            value for part in parts for records in part[position].events for value in records.values
        ]
        assert Counter(shard_values) == Counter(
            value for records in output.events for value in records.values
        )


@pytest.mark.parametrize("preset", ["small", "tapflow.small", "identity.small"])
def test_records_without_a_fault_stay_byte_identical_and_in_order(preset: str) -> None:
    dataset = with_faults(preset, rate=0.05)
    clean = make_dataset(preset, seed=dataset.seed)
    scenario = get_scenario(dataset.config.scenario)
    faulted = outputs(dataset, 4)
    faulted_ids = {label.record_id for output in faulted for label in labels_of(output)}
    for index, output in enumerate(faulted):
        start = dataset.epoch + index * scenario.interval_length(dataset.config)
        original = scenario.interval(clean, start, Shard(), generation_time=output.interval_end)
        assert output.ground_truth.values == original.ground_truth.values
        for before, after in zip(original.events, output.events, strict=True):
            id_field = before.topic.id_field
            assert id_field is not None

            def untouched(keys: list[bytes], values: list[bytes], id_field: str = id_field) -> list[Any]:
                return [
                    (k, v)
                    for k, v in zip(keys, values, strict=True)
                    if record_ids([v], id_field)[0] not in faulted_ids
                ]

            assert untouched(after.keys, after.values) == untouched(before.keys, before.values)
            assert list(after.timestamps_us) == sorted(after.timestamps_us)


@dataclass
class Seen:
    """Where each record id was published: (interval index, value, publication instant)."""

    places: dict[str, list[tuple[int, bytes, int]]]

    @classmethod
    def of(cls, runs: list[IntervalOutput]) -> Seen:
        places: dict[str, list[tuple[int, bytes, int]]] = {}
        for index, output in enumerate(runs):
            records = output.events[0]
            for value, instant in zip(records.values, records.timestamps_us.tolist(), strict=True):
                places.setdefault(record_ids([value], "event_id")[0], []).append((index, value, instant))
        return cls(places)


def test_every_kind_does_what_its_label_claims() -> None:
    dataset = with_faults("small", rate=0.09)
    clean = make_dataset("small", seed=dataset.seed)
    scenario = get_scenario("fleet")
    length = timedelta(minutes=15)
    count = 8
    runs = outputs(dataset, count)
    originals = Seen.of(
        [
            scenario.interval(clean, dataset.epoch + i * length, Shard(), generation_time=dataset.epoch)
            for i in range(count)
        ]
    )
    seen = Seen.of(runs)
    companies = scenario.entities(
        dataset, dataset.epoch - length, dataset.epoch + 3 * count * length, Shard()
    )[0]
    created = {
        orjson.loads(v)["company_id"]: t
        for v, t in zip(companies.values, companies.timestamps_us.tolist(), strict=True)
    }
    kinds: Counter[str] = Counter()
    for index, output in enumerate(runs):
        for label in labels_of(output):
            kinds[label.kind] += 1
            assert label.expected == EXPECTED[label.kind]
            assert label.batch_id == output.interval_id
            check_label(label, index, seen, originals, created, output, runs)
    assert set(kinds) == set(FAULT_KINDS), kinds


def check_label(
    label: FaultLabel,
    index: int,
    seen: Seen,
    originals: Seen,
    created: dict[str, int],
    output: IntervalOutput,
    runs: list[IntervalOutput],
) -> None:
    places = seen.places.get(label.record_id, [])
    ((_, original, event_us),) = originals.places[label.record_id]
    start = output.interval_start
    if label.kind == "drop":
        assert places == [] and label.published_batch_id is None
        return
    if label.kind == "late" and str(label.published_batch_id) > runs[-1].interval_id:
        assert places == []  # due after the generated range
        return
    if label.kind == "late":
        ((later, value, instant),) = places
        assert later > index and value == original and instant - event_us >= 30 * 60 * 1_000_000
        assert runs[later].interval_id == label.published_batch_id
        assert orjson.loads(value)["batch_id"] == label.batch_id
        return
    assert label.published_batch_id == label.batch_id
    if label.kind == "duplicate":
        assert [(i, v) for i, v, _ in places] == [(index, original)] * 2
        return
    ((own, value, instant),) = places
    assert own == index
    if label.kind == "out_of_order":
        assert value == original and instant > event_us
        return
    assert instant == event_us
    if label.kind == "malformed_json":
        assert original.startswith(value) and len(value) < len(original)
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(value)
        return
    record = orjson.loads(value)
    if label.kind == "schema_violation":
        with pytest.raises(ValidationError):
            get_scenario("fleet").topic("events").model.model_validate_json(value, strict=True)
    elif label.kind == "unknown_category":
        assert record["event_type"] not in ("start driving", "stopped driving", "delivered")
    elif label.kind == "unknown_reference":
        assert record["company_id"] not in created
    elif label.kind == "reference_not_yet_valid":
        assert start <= from_micros(created[record["company_id"]]) <= from_micros(event_us)
    else:
        assert label.kind == "outside_interval"
        assert parse_instant(record["timestamp"]) < start


def test_observed_rates_match_the_configured_ones() -> None:
    """About 7,000 records at 5 % per kind: each kind within 1.5 points (4 standard deviations);
    ``reference_not_yet_valid`` falls back to ``unknown_reference`` where no new entity exists, so
    the two are compared together."""
    dataset = with_faults("base", rate=0.05, seed=11)
    clean = make_dataset("base", seed=11)
    kinds = Counter(label.kind for output in outputs(dataset, 2) for label in labels_of(output))
    records = sum(len(records) for output in outputs(clean, 2) for records in output.events)
    assert records > 6000
    for kind in FAULT_KINDS:
        if kind in ("unknown_reference", "reference_not_yet_valid"):
            continue
        assert abs(kinds[kind] / records - 0.05) < 0.015, (kind, kinds[kind], records)
    together = kinds["unknown_reference"] + kinds["reference_not_yet_valid"]
    assert abs(together / records - 0.10) < 0.02


GENERATE = ["generate", "--from", "2025-11-08T00:00Z", "--to", "2025-11-08T00:01Z"]


def test_generate_writes_the_fault_labels(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, [*GENERATE, "--config", "emulated.faults", "--seed", "3", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "fleet.fault-labels.jsonl").read_bytes().splitlines()
    schema = jsonschema.Draft202012Validator(
        orjson.loads((SCHEMAS_DIR / "fleet.fault-labels.json").read_bytes())
    )
    for line in lines:
        schema.validate(orjson.loads(line))
    labels = [FaultLabel.model_validate_json(line) for line in lines]
    assert labels and {label.topic for label in labels} == {"fleet.driver-events"}
    descriptor = orjson.loads((tmp_path / "dataset.json").read_bytes())
    assert descriptor["config"]["faults"]["late"] == {"rate": 0.03, "delay": ["PT40S", "PT1M"]}


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ("  drop: {rate: 1.5}\n", "faults.drop.rate = 1.5: Input should be less than or equal to 1"),
        ("  drop: {rate: -0.1}\n", "faults.drop.rate = -0.1: Input should be greater than or equal to 0"),
        ("  lateness: {rate: 0.1}\n", "faults.lateness: unknown setting"),
        (
            "  drop: {rate: 0.1, delay: [PT1S, PT2S]}\n",
            "faults.drop.delay = ['PT1S', 'PT2S']: unknown setting",
        ),
        ("  drop: {rate: 0.6}\n  malformed_json: {rate: 0.5}\n", "faults: the rates sum to 1.1"),
        (
            "  late: {rate: 0.1, delay: [PT20M, PT1H]}\n",
            "faults.late.delay = ['PT20M', 'PT1H']: the minimum PT20M",
        ),
        (
            "  duplicate: {rate: 0.1, delay: [PT2M, PT1M]}\n",
            "faults.duplicate.delay = ['PT2M', 'PT1M']: must be",
        ),
        (
            "  late: {rate: 0.1, delay: [PT2H, PT1H]}\n",
            "faults.late.delay = ['PT2H', 'PT1H']: must be [min, max]",
        ),
    ],
)
def test_bad_fault_settings_are_refused_naming_the_field(tmp_path: Path, faults: str, expected: str) -> None:
    config = tmp_path / "faults.yaml"
    config.write_text("seed: 1\nfaults:\n" + faults)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [*GENERATE, "--config", str(config), "--out", str(out)])
    assert isinstance(result.exception, BadInputError) and result.exception.exit_code == 2
    assert f"{config}: {expected}" in str(result.exception)
    assert len(str(result.exception).splitlines()) == 1
    assert not out.exists()


def test_the_command_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    config = tmp_path / "faults.yaml"
    config.write_text(
        "streaming: {watermark_delay: PT5M}\nfaults:\n"
        "  late: {rate: 0.1, delay: [PT1M, PT1H]}\n  duplicate: {rate: 0.1, delay: [PT2M, PT1H]}\n"
    )
    command = [
        sys.executable,
        "-m",
        "producer.cli",
        *GENERATE,
        "--config",
        str(config),
        "--out",
        str(tmp_path / "out"),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "COLUMNS": "400"}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert [line.removeprefix("error: ").split(": ")[1].split(" =")[0] for line in lines] == [
        "faults.late.delay",
        "faults.duplicate.delay",
    ]
    assert "Traceback" not in result.stderr


def test_a_late_delay_is_checked_against_the_configured_watermark(tmp_path: Path) -> None:
    config = tmp_path / "faults.yaml"
    config.write_text(
        "streaming: {watermark_delay: PT5M}\nfaults:\n  late: {rate: 0.1, delay: [PT20M, PT1H]}\n"
    )
    assert make_dataset(str(config)).config.faults.late.delay[0] == timedelta(minutes=20)


def test_the_environment_sets_a_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEEDSTREAM_FAULTS__DROP__RATE", "0.01")
    dataset = make_dataset("small")
    assert dataset.config.faults.drop.rate == 0.01 and dataset.config.faults.enabled
