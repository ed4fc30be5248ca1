"""Configuration: presets, source order, and one clear line per problem with exit status 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from producer.config import PRESETS, load_config
from producer.errors import BadInputError

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("preset", "seed", "companies", "drivers", "rate", "onboarding", "interval", "batch_range"),
    [
        ("small", 100, 5, 5, 2.0, "PT30M", "PT15M", None),
        ("base", 42, 100, 10, 3.5, "PT1H", "PT15M", None),
        ("scaling", 200, 1000, 20, 5.0, "PT2H", "PT15M", None),
        ("emulated.5s", None, 10, 10, 1.0, "PT5S", "PT5S", (3, 10)),
        ("emulated", None, 10, 10, 1.0, "PT10S", "PT10S", (5, 20)),
        ("emulated.30s", None, 10, 10, 1.0, "PT30S", "PT30S", (10, 50)),
    ],
)
def test_presets_hold_the_product_values(
    preset: str,
    seed: int | None,
    companies: int,
    drivers: int,
    rate: float,
    onboarding: str,
    interval: str,
    batch_range: tuple[int, int] | None,
) -> None:
    config = load_config(preset)
    fleet = config.fleet
    assert config.seed == seed
    assert (fleet.number_of_companies, fleet.drivers_per_company, fleet.event_rate_per_driver) == (
        companies,
        drivers,
        rate,
    )
    dumped = config.model_dump(mode="json")["fleet"]
    assert (dumped["company_onboarding_interval"], dumped["interval"]) == (onboarding, interval)
    assert fleet.events_per_batch_range == batch_range
    assert fleet.emulated == (batch_range is not None)


def test_every_preset_file_exists() -> None:
    assert {path.name.removesuffix(".yaml") for path in (REPO / "configs").glob("*.yaml")} >= set(PRESETS)


@pytest.mark.parametrize(
    ("preset", "base"), [("emulated.faults", "emulated.5s"), ("tapflow.faults", "tapflow.emulated")]
)
def test_fault_presets_add_a_few_percent_of_every_kind_to_their_base(preset: str, base: str) -> None:
    config, clean = load_config(preset), load_config(base)
    assert all(0.01 <= rate <= 0.05 for rate in config.faults.rates())
    assert not clean.faults.enabled
    assert config.model_dump(exclude={"faults"}) == clean.model_dump(exclude={"faults"})


def test_defaults_for_other_components() -> None:
    config = load_config("small")
    assert config.scenario == "fleet"
    assert config.delivery == "paced"
    assert config.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert (config.kafka.topic_prefix, config.kafka.partitions, config.kafka.replication_factor) == ("", 3, 1)
    assert config.fleet.onboarding_batch_size == 1


def test_onboarding_batch_defaults_to_a_tenth_of_the_baseline(tmp_path: Path) -> None:
    path = write_config(tmp_path, "fleet:\n  number_of_companies: 55\n")
    assert load_config(str(path)).fleet.onboarding_batch_size == 5
    path = write_config(tmp_path, "fleet:\n  number_of_companies: 3\n")
    assert load_config(str(path)).fleet.onboarding_batch_size == 1


def test_source_order_yaml_then_env_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEEDSTREAM_FLEET__NUMBER_OF_COMPANIES", "7")
    monkeypatch.setenv("SEEDSTREAM_SEED", "11")
    config = load_config("small", {"seed": 12})
    assert config.fleet.number_of_companies == 7  # env beats YAML
    assert config.fleet.drivers_per_company == 5  # YAML kept where env is silent
    assert config.seed == 12  # flags beat env


def test_file_path_and_interval_parse(tmp_path: Path) -> None:
    path = write_config(tmp_path, "seed: 3\nfleet:\n  interval: PT30S\n  company_onboarding_interval: PT2M\n")
    config = load_config(str(path))
    assert config.fleet.interval == timedelta(seconds=30)
    assert config.fleet.company_onboarding_interval == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "fleet:\n  number_of_companies: -1\n",
            "fleet.number_of_companies = -1: Input should be greater than 0",
        ),
        (
            "fleet:\n  drivers_per_company: 0\n",
            "fleet.drivers_per_company = 0: Input should be greater than 0",
        ),
        (
            "fleet:\n  event_rate_per_driver: 0\n",
            "fleet.event_rate_per_driver = 0: Input should be greater than 0",
        ),
        ("fleet:\n  company_onboarding_interval: hourly\n", "'hourly' is not an ISO 8601 duration"),
        ("fleet:\n  interval: PT7M\n", "PT7M must divide a day"),
        ("fleet:\n  interval: 900\n", "must be an ISO 8601 duration string"),
        ("fleet:\n  events_per_batch_range: [20, 5]\n", "[20, 5] must be [min, max]"),
        ("fleet:\n  number_of_companys: 5\n", "fleet.number_of_companys = 5: unknown setting"),
        ("colour: blue\n", "colour = 'blue': unknown setting"),
        ("seed: -4\n", "seed = -4: Input should be greater than or equal to 0"),
        ("delivery: sometimes\n", "delivery = 'sometimes': Input should be 'paced' or 'batch'"),
        ("kafka:\n  topic_prefix: 'a b'\n", "kafka.topic_prefix = 'a b': may only contain"),
        ("faults:\n  drop: {rate: 2}\n", "faults.drop.rate = 2: Input should be less than or equal to 1"),
        (
            "faults:\n  late: {rate: 0.1, delay: [PT5M, PT1H]}\n",
            "faults.late.delay = ['PT5M', 'PT1H']: the minimum",
        ),
        ("- 1\n- 2\n", "the top level must be a mapping"),
        ("fleet: [\n", "cannot read YAML"),
    ],
)
def test_invalid_settings_name_file_field_value_and_rule(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    path = write_config(tmp_path, yaml_text)
    with pytest.raises(BadInputError) as raised:
        load_config(str(path))
    message = str(raised.value)
    assert expected in message
    assert str(path) in message
    assert raised.value.exit_code == 2


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "fleet:\n  number_of_companies: 0\n  drivers_per_company: -2\n  typo: 1\n")
    with pytest.raises(BadInputError) as raised:
        load_config(str(path))
    lines = str(raised.value).splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"{path}: fleet.") for line in lines)


def test_env_problems_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEEDSTREAM_FLEET__DRIVERS_PER_COMPANY", "many")
    with pytest.raises(
        BadInputError, match="environment SEEDSTREAM_FLEET__DRIVERS_PER_COMPANY: fleet.drivers_per_company"
    ):
        load_config("small")


def test_unknown_preset_or_missing_file() -> None:
    with pytest.raises(BadInputError, match="neither a file nor a preset; presets: small, base"):
        load_config("tiny")


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("fleet:\n  number_of_companies: -1\n", "fleet.number_of_companies = -1"),
        ("fleet:\n  interval: PT1X\n", "'PT1X' is not an ISO 8601 duration"),
        ("fleet:\n  bogus: 1\n", "fleet.bogus = 1: unknown setting"),
    ],
)
def test_cli_exits_2_with_the_message_and_writes_nothing(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    path = write_config(tmp_path, yaml_text)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "producer.cli",
            "generate",
            "--config",
            str(path),
            "--from",
            "2025-11-08T00:00Z",
            "--to",
            "2025-11-08T01:00Z",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert expected in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not out.exists()
