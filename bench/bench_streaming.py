"""Streaming throughput: backfill into Kafka, then ``seedstream stream --available-now`` on local[2].

Usage: .venv/bin/python bench/bench_streaming.py [--preset scaling] [--hours 13] [--bootstrap HOST:PORT]
       [--max-offsets N]

1. ``seedstream produce --from --to`` backfills ``--hours`` of ``--preset`` into fresh topics.
2. ``seedstream stream --available-now --master local[2]`` drains them through bronze, silver and
   the interval checks; events/s = events / wall time of that run (JVM start included, reported
   separately from the micro-batch time in the progress log).

The scaling preset (≈ 126,000 events per 15-min interval) gives 6,581,338 events with
``--hours 13`` (the default), i.e. ≥ 5,000,000. Without ``--bootstrap`` a throwaway local
broker is started (and stopped) in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from producer.stack.broker import LocalBroker, free_port

REPO = Path(__file__).resolve().parent.parent
SEEDSTREAM = str(REPO / ".venv" / "bin" / "seedstream")


def _rows_appended(root: Path) -> int:
    """Rows appended to the Delta tables under ``root``, from their commits' operation metrics."""
    total = 0
    for commit in root.glob("**/_delta_log/*.json"):
        for line in commit.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info and info.get("operation") in ("WRITE", "STREAMING UPDATE"):
                total += int(info.get("operationMetrics", {}).get("numOutputRows", 0))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="scaling")
    parser.add_argument("--hours", type=int, default=13)
    parser.add_argument("--bootstrap")
    parser.add_argument("--max-offsets", type=int, help="maxOffsetsPerTrigger on the events topic")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = LocalBroker(work / "kafka", port=free_port())
        bootstrap = broker.start(timeout=120).bootstrap
    env = dict(os.environ)
    env["SEEDSTREAM_KAFKA__TOPIC_PREFIX"] = f"bench{uuid.uuid4().hex[:6]}."
    env["SEEDSTREAM_STREAMING__METRICS_PORT"] = "0"
    env["SEEDSTREAM_STREAMING__SHUFFLE_PARTITIONS"] = "4"
    if args.max_offsets:
        env["SEEDSTREAM_STREAMING__MAX_OFFSETS_PER_TRIGGER"] = str(args.max_offsets)
    try:
        started = time.monotonic()
        subprocess.run(
            [SEEDSTREAM, "produce", "--config", args.preset, "--bootstrap-servers", bootstrap,
             "--data-dir", str(work / "producer"), "--from", "2025-11-08T00:00Z",
             "--to", f"2025-11-08T{args.hours:02d}:00Z", "--api-port", "0"],
            env=env, check=True,
        )
        print(f"backfill: {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        subprocess.run(
            [SEEDSTREAM, "stream", "--config", args.preset, "--bootstrap-servers", bootstrap,
             "--data-dir", str(work / "data"), "--available-now", "--master", "local[2]"],
            env=env, check=True,
        )
        wall = time.monotonic() - started
        progress = [
            json.loads(line)
            for line in (work / "data" / "logs" / "streaming-progress.jsonl").read_text().splitlines()
        ]
        batches = [p for p in progress if p.get("event") == "progress"]
        rows = _rows_appended(work / "data" / "delta" / "bronze")
        events = _rows_appended(work / "data" / "delta" / "silver" / "driver_events")
        batch_seconds = sum(p["durationMs"]["triggerExecution"] for p in batches) / 1000
        print(
            f"stream --available-now on local[2]: {rows:,} Kafka records ({events:,} events) "
            f"in {wall:.1f} s wall ({rows / wall:,.0f} records/s); {len(batches)} micro-batches "
            f"took {batch_seconds:.1f} s ({events / batch_seconds:,.0f} events/s, bronze+silver+checks)"
        )
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
