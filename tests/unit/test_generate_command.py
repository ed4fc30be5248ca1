"""``seedstream generate``: byte-identical across processes, sharded union, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
TOPICS = ("fleet.companies", "fleet.driver-events", "fleet.driver-batches")


def seedstream(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer.cli", *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )


def run_generate(out: Path, *extra: str, config: str = "small") -> None:
    result = seedstream(
        "generate",
        "--config",
        config,
        "--from",
        "2025-11-08T00:00Z",
        "--to",
        "2025-11-08T03:00Z",
        "--out",
        str(out),
        *extra,
    )
    assert result.returncode == 0, result.stderr


def test_output_is_byte_identical_across_processes(tmp_path: Path) -> None:
    run_generate(tmp_path / "a")
    run_generate(tmp_path / "b")
    for topic in TOPICS:
        first, second = (
            (tmp_path / "a" / f"{topic}.jsonl").read_bytes(),
            (tmp_path / "b" / f"{topic}.jsonl").read_bytes(),
        )
        assert first and first == second
    batches = (tmp_path / "a" / "fleet.driver-batches.jsonl").read_bytes().splitlines()
    assert len(batches) == 12
    events = (tmp_path / "a" / "fleet.driver-events.jsonl").read_bytes().splitlines()
    assert sum(orjson.loads(line)["event_count"] for line in batches) == len(events)
    assert not list((tmp_path / "a").glob(".generate-*"))


@pytest.mark.parametrize("shards", [2, 3])
def test_shard_files_union_to_the_whole(tmp_path: Path, shards: int) -> None:
    run_generate(tmp_path / "whole")
    for index in range(shards):
        run_generate(tmp_path / f"part{index}", "--shard", f"{index}/{shards}")
    for topic in ("fleet.companies", "fleet.driver-events"):
        whole = (tmp_path / "whole" / f"{topic}.jsonl").read_bytes().splitlines()
        parts = [
            line
            for i in range(shards)
            for line in (tmp_path / f"part{i}" / f"{topic}.jsonl").read_bytes().splitlines()
        ]
        assert sorted(parts) == sorted(whole)
        assert len(parts) == len(whole)
    whole_total = sum(
        orjson.loads(x)["event_count"]
        for x in (tmp_path / "whole" / "fleet.driver-batches.jsonl").read_bytes().splitlines()
    )
    part_total = sum(
        orjson.loads(x)["event_count"]
        for i in range(shards)
        for x in (tmp_path / f"part{i}" / "fleet.driver-batches.jsonl").read_bytes().splitlines()
    )
    assert part_total == whole_total


def test_missing_seed_is_drawn_once_and_recorded(tmp_path: Path) -> None:
    result = seedstream(
        "generate",
        "--config",
        "emulated",
        "--from",
        "2025-11-08T00:00Z",
        "--to",
        "2025-11-08T00:01Z",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    descriptor = orjson.loads((tmp_path / "dataset.json").read_bytes())
    batches = [orjson.loads(x) for x in (tmp_path / "fleet.driver-batches.jsonl").read_bytes().splitlines()]
    assert len(batches) == 6
    assert {batch["seed"] for batch in batches} == {descriptor["seed"]}
    assert descriptor["epoch"].startswith("2025-11-08T00:00:00")
    assert all(5 <= batch["event_count"] <= 20 for batch in batches)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--from", "2025-11-08T00:05Z", "--to", "2025-11-08T01:00Z"),
            "--from 2025-11-08T00:05:00.000000Z is not aligned",
        ),
        (("--from", "2025-11-08T01:00Z", "--to", "2025-11-08T00:00Z"), "must be after --from"),
        (("--from", "soon", "--to", "2025-11-08T00:00Z"), "'soon' is not an ISO 8601 instant"),
        (("--from", "2025-11-08T00:00Z", "--to", "2025-11-08T01:00Z", "--shard", "2/2"), "need 0 <= i < N"),
        (("--from", "2025-11-08T00:00Z", "--to", "2025-11-08T01:00Z", "--shard", "x"), "expected i/N"),
    ],
)
def test_bad_flags_exit_2_with_one_line(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    result = seedstream("generate", "--config", "small", "--out", str(tmp_path / "out"), *args)
    assert result.returncode == 2
    assert expected in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_schemas_command_writes_the_committed_files(tmp_path: Path) -> None:
    result = seedstream("schemas", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (REPO / "schemas" / path.name).read_bytes()
    assert {path.name for path in tmp_path.iterdir()} >= {f"{topic}.json" for topic in TOPICS}
