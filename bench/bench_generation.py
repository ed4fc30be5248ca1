"""Generation and serialization throughput on one core (scaling preset). Not a test: run it.

    .venv/bin/python bench/bench_generation.py [--preset scaling] [--intervals 24]

Prints events/s for columnar generation (``interval_events``) and for serializing those columns to
compact JSON bytes plus keys (``serialize_events``). Targets: ≥ 2,000,000 and ≥ 500,000 events/s.
Then the same for TapFlow (``--tapflow-preset tapflow``, pours + heartbeats + feature usage, from
noon UTC: lunch and evening peaks in US time): targets ≥ 1,000,000 and ≥ 400,000 events/s.
Then the identity graph (``--identity-preset identity``, engagements + exposures + responses, from
the evening peak in US time three days after the epoch, once responses have built up): target
≥ 500,000 events/s generated.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from producer.generation.scenarios.fleet import generate  # noqa: E402
from producer.generation.scenarios.registry import get_scenario  # noqa: E402
from producer.generation.shard import Shard  # noqa: E402
from producer.generation.testing import make_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="scaling")
    parser.add_argument("--intervals", type=int, default=24)
    parser.add_argument("--tapflow-preset", default="tapflow")
    parser.add_argument("--tapflow-intervals", type=int, default=24)
    parser.add_argument("--identity-preset", default="identity")
    parser.add_argument("--identity-intervals", type=int, default=24)
    args = parser.parse_args()
    dataset = make_dataset(args.preset)
    scenario = get_scenario("fleet")
    length = scenario.interval_length(dataset.config)
    starts = [dataset.epoch + k * length for k in range(args.intervals)]
    # warm the per-entity caches (company ids, stream keys, driver fragments) as a long run would
    scenario.serialize_events(generate.interval_events(dataset, starts[-1], Shard()))  # type: ignore[attr-defined]

    # one interval at a time, as the producer does: generate, serialize, publish, drop
    generate_seconds = serialize_seconds = 0.0
    events = size = 0
    for start in starts:
        began = time.perf_counter()
        batch = generate.interval_events(dataset, start, Shard())
        generated = time.perf_counter()
        records = scenario.serialize_events(batch)  # type: ignore[attr-defined]
        generate_seconds += generated - began
        serialize_seconds += time.perf_counter() - generated
        events += len(batch)
        size += sum(map(len, records.values))

    print(
        f"preset {args.preset}: {args.intervals} intervals of {length // timedelta(minutes=1)} min, "
        f"{events:,} events, {size / events:.0f} bytes/event"
    )
    print(f"{'stage':<28}{'seconds':>10}{'events/s':>16}{'target':>14}")
    print(
        f"{'generate (columnar)':<28}{generate_seconds:>10.3f}"
        f"{events / generate_seconds:>16,.0f}{2_000_000:>14,}"
    )
    print(
        f"{'serialize (JSON + keys)':<28}{serialize_seconds:>10.3f}"
        f"{events / serialize_seconds:>16,.0f}{500_000:>14,}"
    )
    total = generate_seconds + serialize_seconds
    print(f"{'both':<28}{total:>10.3f}{events / total:>16,.0f}")
    tapflow(args.tapflow_preset, args.tapflow_intervals)
    identity(args.identity_preset, args.identity_intervals)


def tapflow(preset: str, intervals: int) -> None:
    """TapFlow rows: generation (all three event topics as columns) and serialization, per interval."""
    dataset = make_dataset(preset)
    scenario = get_scenario("tapflow")
    length = scenario.interval_length(dataset.config)
    noon = dataset.epoch + timedelta(hours=12)
    starts = [noon + k * length for k in range(intervals)]
    # warm the population (baseline, places, names), stream keys, rate tables and JSON fragments
    scenario.serialize_events(dataset, scenario.event_columns(dataset, starts[-1]))  # type: ignore[attr-defined]
    generate_seconds = serialize_seconds = 0.0
    events = size = 0
    for start in starts:
        began = time.perf_counter()
        columns = scenario.event_columns(dataset, start)  # type: ignore[attr-defined]
        generated = time.perf_counter()
        records = scenario.serialize_events(dataset, columns)  # type: ignore[attr-defined]
        generate_seconds += generated - began
        serialize_seconds += time.perf_counter() - generated
        events += columns.event_count
        size += sum(sum(map(len, batch.values)) for batch in records)
    print(
        f"\ntapflow preset {preset}: {intervals} intervals of {length // timedelta(minutes=1)} min "
        f"from noon UTC, {events:,} events, {size / events:.0f} bytes/event"
    )
    print(f"{'stage':<28}{'seconds':>10}{'events/s':>16}{'target':>14}")
    for stage, seconds, target in (
        ("tapflow generate", generate_seconds, 1_000_000),
        ("tapflow serialize", serialize_seconds, 400_000),
    ):
        print(f"{stage:<28}{seconds:>10.3f}{events / seconds:>16,.0f}{target:>14,}")
    total = generate_seconds + serialize_seconds
    print(f"{'tapflow both':<28}{total:>10.3f}{events / total:>16,.0f}")


def identity(preset: str, intervals: int) -> None:
    """Identity rows: generation (engagements, exposures, responses as columns) and serialization."""
    dataset = make_dataset(preset)
    scenario = get_scenario("identity")
    length = scenario.interval_length(dataset.config)
    evening = dataset.epoch + timedelta(days=3, hours=23)
    starts = [evening + k * length for k in range(intervals)]
    # warm the population, the campaign schedule and the exposures whose responses are still due
    scenario.event_columns(dataset, starts[0] - length)  # type: ignore[attr-defined]
    generate_seconds = serialize_seconds = 0.0
    events = size = 0
    for start in starts:
        began = time.perf_counter()
        columns = scenario.event_columns(dataset, start)  # type: ignore[attr-defined]
        generated = time.perf_counter()
        records = scenario.serialize_events(dataset, columns)  # type: ignore[attr-defined]
        generate_seconds += generated - began
        serialize_seconds += time.perf_counter() - generated
        events += columns.event_count
        size += sum(sum(map(len, batch.values)) for batch in records)
    print(
        f"\nidentity preset {preset}: {intervals} intervals of {length // timedelta(minutes=1)} min "
        f"from 23:00 UTC, {events:,} events, {size / events:.0f} bytes/event"
    )
    print(f"{'stage':<28}{'seconds':>10}{'events/s':>16}{'target':>14}")
    for stage, seconds, target in (
        ("identity generate", generate_seconds, 500_000),
        ("identity serialize", serialize_seconds, 400_000),
    ):
        print(f"{stage:<28}{seconds:>10.3f}{events / seconds:>16,.0f}{target:>14,}")
    total = generate_seconds + serialize_seconds
    print(f"{'identity both':<28}{total:>10.3f}{events / total:>16,.0f}")


if __name__ == "__main__":
    main()
