"""Backfill throughput into a local broker, side by side with Kafka's own ProducerPerformance.

Usage: .venv/bin/python bench/bench_producer.py [--preset base] [--hours 6] [--bootstrap HOST:PORT]
       [--tapflow [--tapflow-hours 24]]

1. seedstream backfills ``--hours`` of ``--preset`` (one transaction per interval, acks=all,
   idempotent) into fresh topics and reports events/s and MB/s (keys + values).
2. ``kafka-tool producer-perf-test`` sends the same number of records of the same average size with
   acks=all (and idempotence, Kafka's default) to the same broker.
3. Peak RSS of a ``seedstream produce`` process backfilling the scaling preset.
4. With ``--tapflow``: one simulated day of the ``tapflow`` preset (entities, pours, heartbeats,
   feature usage, ground truth), then ProducerPerformance with the same record count and average
   record size, in the same run.

Without ``--bootstrap`` a throwaway local broker is started (and stopped) in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from producer.config import load_config
from producer.engine.engine import Engine, RunRequest
from producer.generation.scenarios.registry import get_scenario
from producer.stack.broker import LocalBroker, free_port

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2025, 11, 8, tzinfo=UTC)


def seedstream_backfill(bootstrap: str, preset: str, hours: float, work: Path) -> dict[str, float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    config = load_config(preset, {"kafka.bootstrap_servers": bootstrap, "kafka.topic_prefix": prefix})
    engine = Engine(config, work / f"data-{prefix}")
    end = START + timedelta(hours=hours)
    began = time.perf_counter()
    asyncio.run(engine.run(RunRequest(START, end)))
    elapsed = time.perf_counter() - began
    specs = get_scenario(config.scenario).topics()
    event_topics = [f"{prefix}{spec.name}" for spec in specs if spec.role == "events"]
    counters = [engine.stats.topics[topic] for topic in event_topics if topic in engine.stats.topics]
    event_records, event_bytes = sum(c.records for c in counters), sum(c.bytes for c in counters)
    total_bytes = sum(c.bytes for c in engine.stats.topics.values())
    total_records = sum(c.records for c in engine.stats.topics.values())
    return {
        "records": total_records,
        "events": event_records,
        "seconds": elapsed,
        "records_per_s": total_records / elapsed,
        "mb_per_s": total_bytes / elapsed / 1e6,
        "avg_size": event_bytes / max(event_records, 1),
        "avg_record_size": total_bytes / max(total_records, 1),
    }


def producer_performance(bootstrap: str, records: int, size: int) -> dict[str, float]:
    topic = f"bench-perf-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [str(ROOT / "deploy/bin/kafka-tool"), "topics", "--bootstrap-server", bootstrap, "--create",
         "--topic", topic, "--partitions", "3", "--replication-factor", "1"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    result = subprocess.run(
        [str(ROOT / "deploy/bin/kafka-tool"), "producer-perf-test", "--topic", topic,
         "--num-records", str(records), "--record-size", str(size), "--throughput", "-1",
         "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all", "enable.idempotence=true"],
        check=True, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    last = [line for line in result.stdout.splitlines() if "records sent" in line][-1]
    match = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\)", last)
    assert match, last
    records_per_s, mb_per_s = float(match.group(1)), float(match.group(2))
    return {"records": records, "records_per_s": records_per_s, "mb_per_s": mb_per_s * 1.048576}


def scaling_rss_mb(bootstrap: str, work: Path, intervals: int) -> tuple[float, int]:
    prefix = f"bench-rss-{uuid.uuid4().hex[:8]}."
    end = START + timedelta(minutes=15 * intervals)
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/seedstream"), "produce", "--config", "scaling",
         "--bootstrap-servers", bootstrap, "--data-dir", str(work / "rss"),
         "--from", START.strftime("%Y-%m-%dT%H:%MZ"), "--to", end.strftime("%Y-%m-%dT%H:%MZ")],
        env={**os.environ, "SEEDSTREAM_KAFKA__TOPIC_PREFIX": prefix},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="base")
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--rss-intervals", type=int, default=8)
    parser.add_argument("--bootstrap")
    parser.add_argument("--tapflow", action="store_true", help="also backfill a simulated day of tapflow")
    parser.add_argument("--tapflow-hours", type=float, default=24.0)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-producer-") as tmp:
        work = Path(tmp)
        broker = None
        bootstrap = args.bootstrap
        if bootstrap is None:
            broker = LocalBroker(work / "broker", port=free_port(), heap_mb=1024)
            bootstrap = broker.start().bootstrap
        try:
            ours = seedstream_backfill(bootstrap, args.preset, args.hours, work)
            theirs = producer_performance(bootstrap, int(ours["records"]), round(ours["avg_size"]))
            rss, code = scaling_rss_mb(bootstrap, work, args.rss_intervals)
            if args.tapflow:
                tapflow = seedstream_backfill(bootstrap, "tapflow", args.tapflow_hours, work)
                tapflow_perf = producer_performance(
                    bootstrap, int(tapflow["records"]), round(tapflow["avg_record_size"])
                )
        finally:
            if broker is not None:
                broker.stop()
    title = f"backfill throughput, {args.preset} preset, {args.hours:g} h, acks=all, one local broker"
    table = Table(title=title)
    for column in ("producer", "records", "records/s", "MB/s", "relative"):
        table.add_column(column, justify="right" if column != "producer" else "left")
    table.add_row("seedstream backfill (txn per interval)", f"{ours['records']:,.0f}",
                  f"{ours['records_per_s']:,.0f}", f"{ours['mb_per_s']:.1f}",
                  f"{ours['records_per_s'] / theirs['records_per_s']:.0%}")  # fmt: skip
    table.add_row("Kafka ProducerPerformance", f"{theirs['records']:,.0f}", f"{theirs['records_per_s']:,.0f}",
                  f"{theirs['mb_per_s']:.1f}", "100%")  # fmt: skip
    console.print(table)
    console.print(f"average event record: {ours['avg_size']:.0f} bytes (key + value)")
    console.print(f"peak RSS of `seedstream produce --config scaling` ({args.rss_intervals} intervals): "
                  f"{rss:.0f} MB (exit {code})")  # fmt: skip
    if args.tapflow:
        title = f"backfill throughput, tapflow preset, {args.tapflow_hours:g} h, acks=all, same broker"
        table = Table(title=title)
        for column in ("producer", "records", "records/s", "MB/s", "relative"):
            table.add_column(column, justify="right" if column != "producer" else "left")
        table.add_row("seedstream backfill (txn per interval)", f"{tapflow['records']:,.0f}",
                      f"{tapflow['records_per_s']:,.0f}", f"{tapflow['mb_per_s']:.1f}",
                      f"{tapflow['records_per_s'] / tapflow_perf['records_per_s']:.0%}")  # fmt: skip
        perf = tapflow_perf
        table.add_row("Kafka ProducerPerformance", f"{perf['records']:,.0f}", f"{perf['records_per_s']:,.0f}",
                      f"{perf['mb_per_s']:.1f}", "100%")  # fmt: skip
        console.print(table)
        size = tapflow["avg_record_size"]
        console.print(f"average tapflow record: {size:.0f} bytes (key + value, all topics)")


if __name__ == "__main__":
    main()
