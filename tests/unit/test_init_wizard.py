"""``seedstream init``: the wizard through its prompts, with ``--yes``, and its refusals."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from producer import wizard
from producer.config import load_config
from tests.fixtures.runtime import REPO_ROOT, SEEDSTREAM


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDSTREAM, "init", *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
        check=False, env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip


def _error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("error: "), result.stderr
    return lines[-1]


def test_the_wizard_asks_five_questions_and_writes_a_config_every_command_loads(tmp_path: Path) -> None:
    out = tmp_path / "mine.yaml"
    answers = ["tapflow", "tapflow.small", "PT6H", "2025-11-08T00:00Z", "77", "kafka", str(tmp_path / "d")]
    result = _run("--out", str(out), stdin="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stderr
    for question in ("Scenario", "Scale", "Time range", "Backfill start", "Seed", "Output", "Data dir"):
        assert question in result.stderr
    assert "tapflow.small: TapFlow for quick tests" in result.stderr  # the scales are described
    config = load_config(str(out))
    assert (config.scenario, config.seed) == ("tapflow", 77)
    assert config.tapflow == load_config("tapflow.small").tapflow  # the preset's settings, copied
    window = "--from 2025-11-08T00:00Z --to 2025-11-08T06:00Z"
    assert result.stdout.split("\n")[1:4] == [
        f"  seedstream kafka start --data-dir {tmp_path / 'd'}",
        f"  seedstream produce --config {out} {window} --data-dir {tmp_path / 'd'}",
        f"  seedstream stream --config {out} --data-dir {tmp_path / 'd'} --available-now",
    ]
    assert out.read_text().startswith("# Written by `seedstream init`: the tapflow scenario")


def test_a_wrong_choice_is_asked_again(tmp_path: Path) -> None:
    out = tmp_path / "c.yaml"
    answers = ["nope", "fleet", "", "realtime", "", "", ""]  # "" takes the default
    result = _run("--out", str(out), stdin="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stderr
    assert "'nope' is not one of fleet, tapflow" in result.stderr
    assert load_config(str(out)).scenario == "fleet"
    assert result.stdout.split("\n")[1] == f"  seedstream up --config {out} --data-dir .seedstream"


def test_yes_with_flags_asks_nothing(tmp_path: Path) -> None:
    out = tmp_path / "f.yaml"
    result = _run(
        "--out", str(out), "--yes", "--scenario", "fleet", "--scale", "scaling", "--range", "P1D",
        "--start", "2025-11-08T00:00Z", "--output", "files", "--target", str(tmp_path / "files"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Scenario" not in result.stderr
    assert load_config(str(out)).seed == 200  # the preset's seed by default
    assert result.stdout.split("\n")[1] == (
        f"  seedstream generate --config {out} --from 2025-11-08T00:00Z --to 2025-11-09T00:00Z "
        f"--out {tmp_path / 'files'}"
    )
    data = yaml.safe_load(out.read_text())
    assert data["fleet"]["number_of_companies"] == 1000


def test_the_printed_commands_run(tmp_path: Path) -> None:
    out = tmp_path / "g.yaml"
    files = tmp_path / "files"
    result = _run(
        "--out", str(out), "--yes", "--scenario", "fleet", "--scale", "small", "--range", "PT30M",
        "--start", "2025-11-08T00:00Z", "--output", "files", "--target", str(files),
    )  # fmt: skip
    command = result.stdout.split("\n")[1].split()
    assert command[0] == "seedstream"
    generated = subprocess.run(
        [SEEDSTREAM, *command[1:]], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False
    )
    assert generated.returncode == 0, generated.stderr
    assert (files / "fleet.driver-events.jsonl").stat().st_size > 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--scenario", "nope"], "--scenario 'nope': not one of fleet, tapflow"),
        (["--scenario", "fleet", "--scale", "tapflow"], "scale 'tapflow': not a fleet preset"),
        (["--range", "seven days"], "time range 'seven days': "),
        (
            ["--range", "PT15M", "--start", "2025-11-08T00:07Z"],
            "start 2025-11-08T00:07:00.000000Z is not aligned",
        ),
        (["--range", "realtime", "--output", "files"], "output files: needs a backfill time range"),
        (["--seed", "-1"], "seed -1: must lie within [0, 2^63)"),
        (["--output", "s3"], "output 's3': not one of kafka, files"),
    ],
)
def test_inconsistent_answers_are_refused_and_nothing_is_written(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    out = tmp_path / "bad.yaml"
    result = _run("--out", str(out), "--yes", *flags)
    assert message in _error(result)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_config_is_kept_unless_force(tmp_path: Path) -> None:
    out = tmp_path / "keep.yaml"
    out.write_text("mine\n")
    result = _run("--out", str(out), "--yes")
    assert f"{out} exists: pick another --out or pass --force" in _error(result)
    assert out.read_text() == "mine\n"
    assert _run("--out", str(out), "--yes", "--force").returncode == 0
    assert load_config(str(out)).scenario == "fleet"


def test_the_default_start_is_the_range_before_today() -> None:
    today = datetime(2026, 11, 22, 19, 48, tzinfo=UTC)
    assert wizard.default_start(timedelta(days=7), today) == datetime(2026, 11, 15, tzinfo=UTC)
    assert [preset.scenario for preset in wizard.presets_of("tapflow")] == ["tapflow"] * 4
