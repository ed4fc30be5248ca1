"""Streaming freshness in realtime emulated mode: Kafka publish time → row visible in silver.

Usage: .venv/bin/python bench/bench_freshness.py [--preset emulated.5s] [--seconds 150]
       [--trigger PT5S] [--master local[2]] [--bootstrap HOST:PORT]

1. ``seedstream stream --master local[2]`` starts first (processing-time trigger ``--trigger``,
   exported as ``SEEDSTREAM_STREAMING__TRIGGER_INTERVAL``); once its query has started,
2. ``seedstream produce --config <preset>`` publishes in realtime for ``--seconds``, then stops;
   the stream runs until the silver query has read every topic partition up to its committed end
   offset (at most ``--drain`` seconds), so every published event is in silver, then stops (SIGINT, then
   its process group is terminated). Micro-batch durations are printed per query.
3. Per event in the scenario's event tables (``silver/driver_events`` for fleet): freshness =
   commit time of the Delta version that added the row's file (``commitInfo.timestamp`` of
   ``_delta_log/<version>.json``, joined on ``add.path`` with the row's ``input_file_name()``) − the
   row's ``kafka_timestamp`` (publish time, CreateTime set by the producer). Events published
   before the producer started (none) are ignored.
   Printed twice: for every event, and for the events published after the silver query's first
   micro-batch that read records had finished (steady state: that first micro-batch also pays the
   JVM's warm-up, the Python workers' start and the state store's creation).

Without ``--bootstrap`` a throwaway local broker is started (and stopped) in a temp dir; every
socket is on loopback and every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from producer.config import load_config
from producer.generation.scenarios.registry import get_scenario
from producer.kafka.topics import ensure_topics, topic_layouts
from producer.stack.broker import LocalBroker, free_port
from streaming.contract import plan_for
from streaming.observability import end_offsets, offsets_of

REPO = Path(__file__).resolve().parent.parent
SEEDSTREAM = str(REPO / ".venv" / "bin" / "seedstream")


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGINT the process (a clean stop), then terminate and kill its whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; children (the JVM) may linger in the group a moment
        time.sleep(0.5)


def _wait_started(progress_log: Path, stream: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stream.poll() is not None:
            raise SystemExit(f"seedstream stream exited early ({stream.returncode})")
        if progress_log.exists() and '"started"' in progress_log.read_text():
            return
        time.sleep(0.5)
    raise SystemExit(f"the streaming query did not start within {timeout:.0f} s")


def _silver_offsets(progress_log: Path) -> dict[tuple[str, int], int]:
    """(topic, partition) → the next offset the silver query reads, from its progress events."""
    offsets: dict[tuple[str, int], int] = {}
    for line in progress_log.read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "progress" and record.get("name") == "silver":
            offsets.update(offsets_of(source.get("endOffset") for source in record.get("sources", [])))
    return offsets


def _wait_drained(progress_log: Path, ends: dict[tuple[str, int], int], timeout: float) -> bool:
    """Wait (at most ``timeout`` s) until the silver query has read every topic partition up to
    ``ends`` (their committed end offsets once the producer stopped): then every event is in silver.

    (Waiting for a micro-batch that starts after the producer stopped does not work: with nothing new
    to read, the trigger posts no progress, and the wait ran out with every event already in.)
    """
    deadline = time.monotonic() + timeout
    behind = dict(ends)
    while time.monotonic() < deadline:
        read = _silver_offsets(progress_log)
        behind = {key: end for key, end in ends.items() if read.get(key, 0) < end}
        if not behind:
            return True
        time.sleep(1)
    print(f"warning: the silver query had not read up to the end of {sorted(behind)} after {timeout:.0f} s")
    return False


def _commit_times(table: Path) -> dict[str, int]:
    """File name → commit timestamp (epoch ms) of the Delta version that added it."""
    added: dict[str, int] = {}
    for commit in sorted(table.glob("_delta_log/*.json")):
        actions = [json.loads(line) for line in commit.read_text().splitlines() if line.strip()]
        stamp = next(
            (
                a["commitInfo"]["timestamp"]
                for a in actions
                if "commitInfo" in a and "timestamp" in a["commitInfo"]
            ),
            int(commit.stat().st_mtime * 1000),
        )
        for action in actions:
            if "add" in action:
                added[Path(action["add"]["path"]).name] = int(stamp)
    return added


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    rank = max(1, min(len(values), int(-(-q * len(values) // 100))))
    return values[rank - 1]


def _warm_from(progress: list[dict[str, Any]]) -> float:
    """When the silver query's first micro-batch that read records ended (epoch seconds): it pays
    for the JVM's warm-up, the Python workers' start and the state store's creation once."""
    for p in progress:
        if p.get("event") == "progress" and p.get("name") == "silver" and p.get("numInputRows"):
            started = datetime.fromisoformat(str(p["timestamp"])).timestamp()
            return started + float(p["durationMs"]["triggerExecution"]) / 1000
    return 0.0


def _freshness(tables: list[Path], since: datetime) -> list[tuple[float, float]]:
    """(publish time, seconds until visible) of every row of the event ``tables`` published after
    ``since``."""
    from pyspark.sql import functions as F

    from streaming.session import SparkSettings, build_spark

    spark = build_spark(SparkSettings(master="local[2]", app_name="bench-freshness", ui_enabled=False))
    try:
        rows = {
            table: spark.read.format("delta")
            .load(str(table))
            .select(F.unix_micros("kafka_timestamp").alias("published_us"), F.input_file_name().alias("file"))
            .collect()
            for table in tables
        }
    finally:
        spark.stop()
    seconds: list[tuple[float, float]] = []
    for table, table_rows in rows.items():
        committed = _commit_times(table)
        for row in table_rows:
            published = row["published_us"] / 1e6
            if published < since.timestamp():
                continue
            visible_ms = committed[Path(row["file"]).name]
            seconds.append((published, visible_ms / 1000 - published))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="emulated.5s")
    parser.add_argument("--seconds", type=float, default=150, help="how long the producer publishes")
    parser.add_argument("--trigger", default="PT5S", help="processing-time trigger interval (ISO 8601)")
    parser.add_argument(
        "--drain", type=float, default=150, help="max seconds to wait for the stream to drain"
    )
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-freshness-"))
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = LocalBroker(work / "kafka", port=free_port())
        bootstrap = broker.start(timeout=120).bootstrap
    env = dict(os.environ)
    prefix = f"fresh{uuid.uuid4().hex[:6]}."
    env["SEEDSTREAM_KAFKA__TOPIC_PREFIX"] = prefix
    env["SEEDSTREAM_STREAMING__METRICS_PORT"] = "0"
    env["SEEDSTREAM_STREAMING__UI_PORT"] = "0"
    env["SEEDSTREAM_STREAMING__TRIGGER_INTERVAL"] = args.trigger
    data = work / "data"
    stream = producer = None
    try:
        # Create the topics first so the stream subscribes to all of them at once.
        overrides = {"kafka.topic_prefix": prefix, "kafka.bootstrap_servers": bootstrap}
        config = load_config(args.preset, overrides)
        layouts = topic_layouts(get_scenario(config.scenario).topics(), config.kafka)
        asyncio.run(asyncio.wait_for(ensure_topics(layouts, config.kafka), timeout=60))
        stream = subprocess.Popen(
            [
                SEEDSTREAM,
                "stream",
                "--config",
                args.preset,
                "--bootstrap-servers",
                bootstrap,
                "--data-dir",
                str(data),
                "--master",
                args.master,
            ],
            env=env,
            start_new_session=True,
        )
        _wait_started(data / "logs" / "streaming-progress.jsonl", stream, timeout=180)
        since = datetime.now(UTC)
        producer = subprocess.Popen(
            [
                SEEDSTREAM,
                "produce",
                "--config",
                args.preset,
                "--bootstrap-servers",
                bootstrap,
                "--data-dir",
                str(work / "producer"),
                "--api-port",
                str(free_port()),
            ],
            env=env,
            start_new_session=True,
        )
        time.sleep(args.seconds)
        _stop(producer, grace=30)
        partitions = {(layout.name, p) for layout in layouts for p in range(layout.partitions)}
        ends = asyncio.run(end_offsets(config.kafka, partitions))
        _wait_drained(data / "logs" / "streaming-progress.jsonl", ends, timeout=args.drain)
        _stop(stream, grace=60)
        progress = [
            json.loads(line) for line in (data / "logs" / "streaming-progress.jsonl").read_text().splitlines()
        ]
        batches: dict[str, list[float]] = {}
        for p in progress:
            if p.get("event") == "progress":
                batches.setdefault(p.get("name") or "?", []).append(
                    p["durationMs"]["triggerExecution"] / 1000
                )
        event_tables = [
            data / "delta" / "silver" / topic.table for topic in plan_for(config).of_role("events")
        ]
        events = _freshness(event_tables, since)
        warm = _warm_from(progress)
    finally:
        for process in (producer, stream):
            if process is not None:
                _stop(process, grace=5)
        if broker is not None:
            broker.stop()
    if not events:
        raise SystemExit("no events reached silver")
    every = sorted(seconds for _, seconds in events)
    steady = sorted(seconds for published, seconds in events if published >= warm)
    print(
        f"\n{args.preset}, realtime for {args.seconds:.0f} s, stream on {args.master}, "
        f"processing-time trigger {args.trigger}\n"
    )
    print("| query | micro-batches | median s | p90 s | max s |")
    print("|---|---:|---:|---:|---:|")
    for name, durations in sorted(batches.items()):
        durations.sort()
        print(
            f"| {name} | {len(durations)} | {_percentile(durations, 50):.1f} | "
            f"{_percentile(durations, 90):.1f} | {durations[-1]:.1f} |"
        )
    print()
    print("| freshness (publish → visible in silver), seconds | after the first micro-batch | all events |")
    print("|---|---:|---:|")
    for label, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        print(f"| {label} | {_percentile(steady, q):.2f} | {_percentile(every, q):.2f} |")
    print(f"| events | {len(steady):,} | {len(every):,} |")


if __name__ == "__main__":
    main()
