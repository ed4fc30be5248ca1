"""Streaming throughput ladder: the same backfill through more and more of the pipeline, beside a plain query.

Usage: .venv/bin/python bench/bench_streaming.py [--preset scaling] [--hours 1[,4]] [--bootstrap HOST:PORT]
       [--master local[2]] [--rungs plain,bronze,parse,silver,checks] [--repeat N]

1. ``seedstream produce --from --to`` backfills ``--hours`` of ``--preset`` into fresh topics.
2. Each rung runs as its own process (JVM start included, timed from outside) with ``availableNow``
   over the same topics, with the default settings (``maxOffsetsPerTrigger``, shuffle partitions,
   driver memory) and a fresh data dir:

   - ``plain``: one Kafka query over the event topics that parses each value once (``from_json``)
     and appends it to one Delta table — the yardstick (same session and Kafka fetch settings);
   - ``bronze``: the silver query's Kafka sources landing every record in its topic's bronze table
     (the appends silver makes, one thread per table), nothing else;
   - ``parse``: + the parse/validate stage (its rows computed, then landed in bronze);
   - ``silver``: the whole silver query (router, bronze, merges, appends, observations);
   - ``checks``: the whole job, ``seedstream stream --available-now`` (+ checks, provisional checks);
   - diagnostic (not in the default ladder): ``silver-norouter`` (silver with the router replaced
     by a no-op).

events/s = event records (event topics) / wall seconds of the process; µs/event = its inverse.
``--repeat N`` runs the rungs N times in turn over the same topics (plain, …, whole job, plain, …):
seconds are then medians, with their range, and × plain is the median of each repeat's own ratio,
so a machine that slows or speeds up between repeats moves both sides of a ratio alike.
Several ``--hours`` (e.g. ``1,4``) run the whole ladder once per backfill, each into its own topics,
and add a table per further event: each rung's seconds of the larger backfill less those of the
smaller, per event of the difference (the rungs' fixed costs cancel out).
After the ``checks`` rung it prints what the whole job concluded: intervals per status (final and
provisional, from ``D/logs/checks.jsonl``) and the rows quarantined.
Without ``--bootstrap`` a throwaway local broker is started (and stopped) in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from producer.stack.broker import LocalBroker, free_port

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming.query import StreamingQuery

    from streaming.job import Pipeline

REPO = Path(__file__).resolve().parent.parent
SEEDSTREAM = str(REPO / ".venv" / "bin" / "seedstream")
RUNGS = ("plain", "bronze", "parse", "silver", "checks")


def _run_rung(rung: str, preset: str, bootstrap: str, data_dir: str, master: str) -> None:
    """Inside the rung's own process: run it to the end of what Kafka holds."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("streaming").setLevel(logging.INFO)  # the silver micro-batch's step durations
    from pyspark.sql import functions as F

    from producer.config import load_config
    from producer.datadir import TableLocations
    from producer.kafka.client import spark_kafka_options
    from streaming.create import create_tables
    from streaming.job import FETCH_MAX_WAIT_MS, Pipeline
    from streaming.schemas import parse_schema
    from streaming.submit import session_for

    config = load_config(preset, {"kafka.bootstrap_servers": bootstrap, "streaming.master": master})
    spark = session_for(config)
    pipeline = Pipeline(spark, config, TableLocations(data_dir))
    if rung == "plain":
        queries = []
        for topic in pipeline.plan.of_role("events"):
            frame = (
                spark.readStream.format("kafka")
                .options(**spark_kafka_options(config.kafka))
                .option("subscribe", topic.kafka_topic)
                .option("startingOffsets", "earliest")
                .option("kafka.isolation.level", "read_committed")
                .option("kafka.fetch.max.wait.ms", str(FETCH_MAX_WAIT_MS))  # as the pipeline's sources
                .option("maxOffsetsPerTrigger", config.streaming.max_offsets_per_trigger or 200_000)
                .load()
                .select(F.from_json(F.col("value").cast("string"), parse_schema(topic.spec.model)).alias("r"))
                .select("r.*")
            )
            queries.append(
                frame.writeStream.format("delta")
                .option("checkpointLocation", f"{data_dir}/checkpoints/plain-{topic.table}")
                .trigger(availableNow=True)
                .start(f"{data_dir}/delta/plain/{topic.table}")
            )
        for query in queries:
            query.awaitTermination()
        return
    create_tables(pipeline.tables)
    queries = []
    if rung in ("bronze", "parse"):
        queries.append(_landing_query(pipeline, parsed=rung == "parse"))
    elif rung in ("silver", "silver-norouter"):
        if rung == "silver-norouter":  # diagnostic: the router replaced by a no-op, to price it
            import streaming.job

            streaming.job.routed = lambda frame: frame.withColumns(
                {"_late": F.lit(False), "_duplicate": F.lit(False), "_watermark_ms": F.lit(0).cast("long")}
            )
        queries.append(pipeline.start_silver(available_now=True))
    for query in queries:
        query.awaitTermination()


def _landing_query(pipeline: Pipeline, parsed: bool) -> StreamingQuery:
    """The silver query's sources (``parsed``: and its parse stage) landing every record in bronze
    the way :class:`streaming.silver.SilverWriter` does, and nothing else."""
    from concurrent.futures import ThreadPoolExecutor
    from functools import reduce

    from streaming.silver import AppendLedger, SilverWriter
    from streaming.validation import parse

    spark, plan = pipeline.spark, pipeline.plan
    frames = [parse(rows, plan, topics) if parsed else rows for rows, topics, _ in pipeline.silver_inputs()]
    frame = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
    writer = SilverWriter(spark, plan, pipeline.tables, ledger=AppendLedger(spark, "bench"))

    def land(batch: DataFrame, micro_batch_id: int) -> None:
        rows = batch.persist()
        try:
            held = {row["topic"] for row in rows.select("topic").distinct().collect()}
            with ThreadPoolExecutor(len(plan.topics)) as pool:
                for future in writer.land_bronze(pool, rows, held, micro_batch_id):
                    future.result()
        finally:
            rows.unpersist()

    return (
        frame.writeStream.foreachBatch(land)
        .option("checkpointLocation", pipeline.tables.checkpoint("landing"))
        .trigger(availableNow=True)
        .start()
    )


def _rows_appended(root: Path) -> int:
    """Rows appended to the Delta tables under ``root``, from their commits' operation metrics."""
    total = 0
    for commit in root.glob("**/_delta_log/*.json"):
        for line in commit.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info and info.get("operation") in ("WRITE", "STREAMING UPDATE"):
                total += int(info.get("operationMetrics", {}).get("numOutputRows", 0))
    return total


def _bronze_events(preset: str, prefix: str, work: Path, rungs: list[str]) -> int:
    from producer.config import load_config
    from streaming.contract import plan_for

    plan = plan_for(load_config(preset, {"kafka.topic_prefix": prefix}))
    for rung in rungs:
        bronze = work / f"data-{rung}" / "delta" / "bronze"
        events = sum(_rows_appended(bronze / topic.kafka_topic) for topic in plan.of_role("events"))
        if events:
            return events
    return 0


def _outcome(data: Path) -> str:
    """What the whole job concluded (the ``checks`` rung): intervals per status, final and
    provisional, from ``checks.jsonl``, and the rows quarantined."""
    from streaming.observability import json_lines

    lines = json_lines(data / "logs" / "checks.jsonl")
    latest = {line["batch_id"]: line for line in lines}  # a provisional line is superseded by a final one
    statuses: dict[str, int] = {}
    for line in latest.values():
        key = line["status"] + (" (provisional)" if line.get("provisional") else "")
        statuses[key] = statuses.get(key, 0) + 1
    quarantined = _rows_appended(data / "delta" / "silver" / "quarantine")
    summary = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    return f"{len(latest)} intervals checked: {summary or 'none'}; {quarantined:,} rows quarantined"


LABELS = {
    "plain": "plain query (parse once → Delta)",
    "bronze": "Kafka → bronze only",
    "parse": "+ parse/validate",
    "silver": "+ silver",
    "silver-norouter": "+ silver, router replaced by a no-op (diagnostic)",
    "checks": "+ checks (whole `stream --available-now`)",
}


@dataclass
class Ladder:
    """One backfill's rungs: rung → its wall seconds in each repeat (in the order run), and what the
    whole job concluded."""

    hours: int
    events: int
    runs: dict[str, list[float]]
    outcome: str | None

    def seconds(self, rung: str) -> float:
        return statistics.median(self.runs[rung])

    def ratio(self, rung: str) -> float | None:
        """The median over the repeats of the plain query's seconds / the rung's, each repeat's own."""
        plain = self.runs.get("plain")
        if not plain:
            return None
        return statistics.median(p / s for p, s in zip(plain, self.runs[rung], strict=True))


def _ladder(args: argparse.Namespace, hours: int, bootstrap: str, work: Path) -> Ladder:
    """Backfill ``hours`` of the preset into fresh topics, then run each rung over them."""
    env = dict(os.environ)
    env["SEEDSTREAM_KAFKA__TOPIC_PREFIX"] = f"bench{uuid.uuid4().hex[:6]}."
    env["SEEDSTREAM_STREAMING__METRICS_PORT"] = "0"
    env["SEEDSTREAM_STREAMING__UI_PORT"] = "0"
    runs: dict[str, list[float]] = {rung: [] for rung in args.rungs.split(",")}
    end = (datetime(2025, 11, 8, tzinfo=UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%MZ")
    started = time.monotonic()
    subprocess.run(
        [SEEDSTREAM, "produce", "--config", args.preset, "--bootstrap-servers", bootstrap,
         "--data-dir", str(work / "producer"), "--from", "2025-11-08T00:00Z",
         "--to", end, "--api-port", str(free_port())],
        env=env, check=True,
    )  # fmt: skip
    print(
        f"{hours} h backfill (seedstream produce --from --to): {time.monotonic() - started:.1f} s", flush=True
    )
    for repeat in range(args.repeat):
        for rung in runs:
            data = work / (f"data-{rung}" if repeat == 0 else f"data-{rung}-{repeat}")
            if rung == "checks":
                command = [SEEDSTREAM, "stream", "--config", args.preset, "--bootstrap-servers", bootstrap,
                           "--data-dir", str(data), "--available-now", "--master", args.master]  # fmt: skip
            else:
                command = [sys.executable, __file__, "--rung", rung, "--preset", args.preset, "--bootstrap",
                           bootstrap, "--data-dir", str(data), "--master", args.master]  # fmt: skip
            started = time.monotonic()
            subprocess.run(command, env=env, check=True, stderr=(work / f"{rung}.err").open("wb"))
            runs[rung].append(time.monotonic() - started)
            print(f"{hours} h {rung}: {runs[rung][-1]:.1f} s", flush=True)
    events = _rows_appended(work / "data-plain" / "delta" / "plain")
    if not events:  # no plain rung: the event topics' bronze rows of the first rung that wrote bronze
        events = _bronze_events(args.preset, env["SEEDSTREAM_KAFKA__TOPIC_PREFIX"], work, list(runs))
    outcome = _outcome(work / "data-checks") if "checks" in runs else None
    return Ladder(hours, events, runs, outcome)


def _print_ladder(ladder: Ladder, preset: str, master: str) -> None:
    print(f"\n{preset}, {ladder.hours} h backfill: {ladder.events:,} events; {master}, default settings\n")
    repeats = len(next(iter(ladder.runs.values()), []))
    spread = repeats > 1
    if spread:
        print(f"{repeats} repeats: median seconds (range), × plain the median of each repeat's ratio\n")
    print(f"| rung | seconds{' (range)' if spread else ''} | events/s | µs/event | × plain |")
    print("|---|---:|---:|---:|---:|")
    for rung, times in ladder.runs.items() if ladder.events else []:
        seconds, ratio = ladder.seconds(rung), ladder.ratio(rung)
        shown = f"{seconds:.1f}" + (f" ({min(times):.1f}–{max(times):.1f})" if spread else "")
        print(
            f"| {LABELS[rung]} | {shown} | {ladder.events / seconds:,.0f} | "
            f"{seconds / ladder.events * 1e6:.1f} | {'–' if ratio is None else f'{ratio:.2f}'} |"
        )
    if ladder.outcome is not None:
        print(f"\nwhole job: {ladder.outcome}")


def _print_further(small: Ladder, large: Ladder) -> None:
    """Per event of the difference between two backfills: what each rung costs once its fixed costs
    (JVM, session, warm-up, the steps before and after the drain) are paid."""
    further = large.events - small.events
    if further <= 0:
        return
    seconds = {rung: large.seconds(rung) - small.seconds(rung) for rung in small.runs if rung in large.runs}
    plain = seconds.get("plain")
    print(f"\nper further event ({small.hours} h → {large.hours} h: {further:,} events)\n")
    print("| rung | further seconds | µs/event | × plain |")
    print("|---|---:|---:|---:|")
    for rung, extra in seconds.items():
        ratio = f"{plain / extra:.2f}" if plain and extra > 0 else "–"
        print(f"| {LABELS[rung]} | {extra:.1f} | {extra / further * 1e6:.1f} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="scaling")
    parser.add_argument(
        "--hours", default="1", help="backfill hours; several (e.g. 1,4) add a per-further-event table"
    )
    parser.add_argument("--bootstrap")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--rungs", default=",".join(RUNGS))
    parser.add_argument("--repeat", type=int, default=1, help="run the rungs this many times in turn")
    parser.add_argument("--rung", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rung:
        _run_rung(args.rung, args.preset, args.bootstrap, args.data_dir, args.master)
        return
    try:
        sizes = sorted({int(hours) for hours in args.hours.split(",")})
    except ValueError:
        parser.error(f"--hours {args.hours!r}: give whole hours, comma-separated (e.g. 1 or 1,4)")
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: give at least 1")
    if not sizes or sizes[0] <= 0:
        parser.error(f"--hours {args.hours!r}: every size must be at least 1 hour")
    unknown = [rung for rung in args.rungs.split(",") if rung not in LABELS]
    if unknown:
        parser.error(f"--rungs: unknown {', '.join(unknown)}; choose from {', '.join(LABELS)}")

    work = Path(tempfile.mkdtemp(prefix="bench-streaming-"))
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = LocalBroker(work / "kafka", port=free_port())
        bootstrap = broker.start(timeout=120).bootstrap
    try:
        ladders = [_ladder(args, hours, bootstrap, work / f"{hours}h") for hours in sizes]
    finally:
        if broker is not None:
            broker.stop()
    for ladder in ladders:
        _print_ladder(ladder, args.preset, args.master)
    for small, large in pairwise(ladders):
        _print_further(small, large)


if __name__ == "__main__":
    main()
