"""``seedstream generate``: the reference output, written to files instead of Kafka.

Writes ``DIR/<topic>.jsonl`` (one record value per line, topic names with the configured prefix)
for the scenario's entities, events and ground truth over ``[from, to)``, plus ``DIR/dataset.json``
(the dataset descriptor, which records the seed and the whole config, faults included). With faults
configured the event files hold the faulted records (:mod:`producer.generation.faults`) and
``DIR/<scenario>.fault-labels.jsonl`` their labels; the ground truth stays that of the clean data.
Files are written under a temporary name and renamed when complete, so a failure leaves nothing
half-written. Ground-truth records carry
``generation_time = interval_end`` here, so the whole output is byte-identical across runs.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from producer.config import SeedstreamConfig
from producer.errors import BadInputError, SeedstreamError
from producer.generation.clock import format_duration, format_instant, interval_count, intervals, is_aligned
from producer.generation.dataset import Dataset
from producer.generation.fault_labels import label_topic
from producer.generation.faults import faulted_interval
from producer.generation.scenarios.base import Records
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard

DESCRIPTOR_FILE = "dataset.json"


@dataclass(frozen=True)
class GenerateSummary:
    """What a :func:`generate_files` run wrote."""

    dataset: Dataset
    intervals: int
    records: dict[str, int]
    files: list[Path]


def check_range(config: SeedstreamConfig, start: datetime, end: datetime) -> None:
    """Raise :class:`BadInputError` unless ``[start, end)`` is a non-empty range of whole intervals."""
    length = get_scenario(config.scenario).interval_length(config)
    for flag, instant in (("--from", start), ("--to", end)):
        if not is_aligned(instant, length):
            raise BadInputError(
                f"{flag} {format_instant(instant)} is not aligned to the interval {format_duration(length)} "
                "(multiples of it since 1970-01-01T00:00Z); pick an interval start"
            )
    if end <= start:
        raise BadInputError(f"--to {format_instant(end)} must be after --from {format_instant(start)}")


MAX_RECORDS = 100_000_000
MAX_BYTES = 20 * 1024**3
SAMPLED_INTERVALS = 3


@dataclass(frozen=True)
class Estimate:
    """Roughly how much ``[start, end)`` would generate (from a few sampled intervals)."""

    intervals: int
    records: int
    bytes: int


def estimate(
    config: SeedstreamConfig, start: datetime, end: datetime, shard: Shard | None = None
) -> Estimate:
    """Estimate the records and bytes of ``[start, end)`` without generating the range.

    Records per interval come from the scenario's ``expected_records`` at a few points of the range
    (first, quarters, last; trapezoid rule), bytes per record from the first interval generated.

    Raises:
        BadInputError: when the range is not made of whole intervals.
    """
    shard = shard or Shard()
    check_range(config, start, end)
    scenario = get_scenario(config.scenario)
    length = scenario.interval_length(config)
    dataset = Dataset.create(config, start, length)
    count = interval_count(start, end, length)
    output = scenario.interval(dataset, start, shard, generation_time=start + length)
    first = [*scenario.entities(dataset, start - length, start + length, shard), *output.events]
    first.append(output.ground_truth)
    first_records = sum(len(batch) for batch in first)
    first_bytes = sum(sum(map(len, batch.values)) + len(batch) for batch in first)
    bytes_per_record = first_bytes / max(first_records, 1)
    points = sorted({0, count // 4, count // 2, 3 * count // 4, count - 1})
    rates = [scenario.expected_records(dataset, start + index * length, shard) for index in points]
    total = first_records + sum(
        (rates[i] + rates[i + 1]) / 2 * (points[i + 1] - points[i]) for i in range(len(points) - 1)
    )
    return Estimate(intervals=count, records=int(total), bytes=int(total * bytes_per_record))


def check_size(guess: Estimate, out_dir: Path, allow_large: bool) -> None:
    """Refuse a range above :data:`MAX_RECORDS` or :data:`MAX_BYTES` unless ``allow_large``, and any
    range that cannot fit the free space where ``out_dir`` lives.

    Raises:
        BadInputError: naming the estimate and the fix.
    """
    existing = out_dir
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    what = f"about {guess.records:,} records ({guess.bytes / 1e9:,.1f} GB) over {guess.intervals:,} intervals"
    if guess.bytes > free:
        raise BadInputError(
            f"--from/--to would generate {what}, more than the {free / 1e9:,.1f} GB free under {existing}: "
            "narrow the range or pick another --out"
        )
    if not allow_large and (guess.records > MAX_RECORDS or guess.bytes > MAX_BYTES):
        raise BadInputError(f"--from/--to would generate {what}: narrow the range, or pass --yes to proceed")


def generate_files(
    config: SeedstreamConfig,
    start: datetime,
    end: datetime,
    out_dir: Path,
    shard: Shard | None = None,
    console: Console | None = None,
) -> GenerateSummary:
    """Generate the intervals in ``[start, end)`` (``start`` is the dataset's epoch) into ``out_dir``."""
    shard = shard or Shard()
    check_range(config, start, end)
    scenario = get_scenario(config.scenario)
    length = scenario.interval_length(config)
    dataset = Dataset.create(config, start, length)
    prefix = config.kafka.topic_prefix
    topics = scenario.topic_names(prefix).all_names()
    if config.faults.enabled:
        labels = label_topic(scenario.name)
        topics[labels.name] = labels.full_name(prefix)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".generate-", dir=out_dir))
    except OSError as error:
        raise SeedstreamError(f"cannot write to {out_dir}: {error.strerror}; pick another --out") from None
    counts = dict.fromkeys(topics.values(), 0)
    total_intervals = interval_count(start, end, length)
    try:
        (staging / DESCRIPTOR_FILE).write_bytes(
            dataset.descriptor().model_dump_json(indent=2).encode() + b"\n"
        )
        with ExitStack() as stack:
            files_by_topic = {
                name: stack.enter_context(open(staging / f"{full}.jsonl", "wb"))
                for name, full in topics.items()
            }
            progress = stack.enter_context(
                Progress(
                    TextColumn("generating {task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeRemainingColumn(),
                    console=console or Console(stderr=True),
                    transient=True,
                    disable=total_intervals < 2,
                )
            )

            def write(records: Records) -> None:
                _write_lines(files_by_topic[records.topic.name], records.values)
                counts[topics[records.topic.name]] += len(records)

            # Entities interval by interval (the baseline first), so memory stays bounded by one
            # interval's records however long the range is.
            for records in scenario.entities(dataset, start - length, start, shard):
                write(records)
            task = progress.add_task(f"{scenario.name} intervals", total=total_intervals)
            for interval_start in intervals(start, end, length):
                for records in scenario.entities(dataset, interval_start, interval_start + length, shard):
                    write(records)
                output = faulted_interval(
                    scenario, dataset, interval_start, shard, generation_time=interval_start + length
                )
                for records in output.events:
                    write(records)
                if output.labels is not None:
                    write(output.labels)
                write(output.ground_truth)
                progress.advance(task)
        files = []
        for staged in sorted(staging.iterdir()):
            target = out_dir / staged.name
            staged.replace(target)
            files.append(target)
    except OSError as error:
        raise SeedstreamError(f"cannot write to {out_dir}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return GenerateSummary(dataset=dataset, intervals=total_intervals, records=counts, files=files)


def _write_lines(file: object, values: list[bytes]) -> None:
    if values:
        file.write(b"\n".join(values) + b"\n")  # type: ignore[attr-defined]
