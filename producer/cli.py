"""The ``seedstream`` command line: the composition root, and the command names scripts rely on.

Each command parses its flags and calls one function of the module that does the work; every
user-facing failure is a :class:`SeedstreamError` printed as one line with a non-zero exit status.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from producer.config import DEFAULT_KAFKA_PORT, PRESETS, SeedstreamConfig
from producer.datadir import DEFAULT_DATA_DIR, check_writable_dir, data_dir_uri, local_path
from producer.errors import BadInputError, SeedstreamError
from producer.stack.broker import LocalBroker

app = typer.Typer(
    name="seedstream",
    help="Seeded, reproducible synthetic business events into Apache Kafka, and a reference "
    "Spark Structured Streaming pipeline into Delta Lake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
kafka_app = typer.Typer(help="The embedded local KRaft broker.", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")

console = Console()
err_console = Console(stderr=True)

DataDirOption = Annotated[
    Path, typer.Option("--data-dir", help="Where state, logs, Delta tables and the local broker live.")
]


@kafka_app.command("start")
def kafka_start(
    port: Annotated[int, typer.Option(help="The broker's client port.")] = DEFAULT_KAFKA_PORT,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    sasl_user: Annotated[
        str | None,
        typer.Option("--sasl-user", help="Secure the listener: SASL_PLAINTEXT, SCRAM-SHA-512, this user."),
    ] = None,
    sasl_password: Annotated[
        str | None,
        typer.Option(
            "--sasl-password",
            help="The user's password (default: $SEEDSTREAM_KAFKA__SASL_PASSWORD, which stays out of ps).",
        ),
    ] = None,
) -> None:
    """Start the local broker (formatting storage on first use) and print its bootstrap address."""
    import os

    from pydantic import SecretStr

    from producer.stack.broker import SASL_LISTENER, SASL_MECHANISM, BrokerUser

    user = None
    if sasl_user is not None:
        secret = sasl_password or os.environ.get("SEEDSTREAM_KAFKA__SASL_PASSWORD")
        if not secret:
            raise BadInputError("--sasl-user needs --sasl-password or SEEDSTREAM_KAFKA__SASL_PASSWORD")
        user = BrokerUser(sasl_user, SecretStr(secret))
    elif sasl_password is not None:
        raise BadInputError("--sasl-password needs --sasl-user (the SCRAM user it belongs to)")
    check_writable_dir(data_dir)
    broker = LocalBroker(data_dir, port=port, user=user)
    running = broker.status()
    if running is not None:
        err_console.print(
            f"the local broker already runs (pid {running.pid}) at {running.bootstrap} "
            f"({running.security_protocol})",
            highlight=False,
        )
        console.print(running.bootstrap)
        return
    with err_console.status(f"starting the local Kafka broker on port {port}"):
        info = broker.start()
    err_console.print(f"local Kafka broker started (pid {info.pid}); log: {broker.log_file}", highlight=False)
    if user is not None:
        err_console.print(
            f"listener {SASL_LISTENER} {SASL_MECHANISM}, user {user.username}; clients: "
            f"SEEDSTREAM_KAFKA__SECURITY_PROTOCOL={SASL_LISTENER} "
            f"SEEDSTREAM_KAFKA__SASL_MECHANISM={SASL_MECHANISM} "
            f"SEEDSTREAM_KAFKA__SASL_USERNAME={user.username} SEEDSTREAM_KAFKA__SASL_PASSWORD=…",
            highlight=False,
            soft_wrap=True,
        )
    console.print(info.bootstrap)


@kafka_app.command("stop")
def kafka_stop(data_dir: DataDirOption = DEFAULT_DATA_DIR) -> None:
    """Stop the local broker cleanly."""
    broker = LocalBroker(data_dir)
    if broker.stop():
        err_console.print("local Kafka broker stopped")
    else:
        err_console.print(f"no local Kafka broker runs for {data_dir}")


@kafka_app.command("status")
def kafka_status(data_dir: DataDirOption = DEFAULT_DATA_DIR) -> None:
    """Say whether the local broker runs and where (exit status 1 when it does not)."""
    info = LocalBroker(data_dir).status()
    if info is None:
        console.print(f"not running (data dir {data_dir})")
        raise typer.Exit(1)
    console.print(f"running (pid {info.pid}) at {info.bootstrap}, data dir {info.data_dir}")


ConfigOption = Annotated[
    str, typer.Option("--config", help=f"A YAML config file or a preset: {', '.join(PRESETS)}.")
]


@app.command("generate")
def generate(
    config: ConfigOption,
    from_: Annotated[str, typer.Option("--from", help="First interval start, ISO 8601 (the dataset epoch).")],
    to: Annotated[str, typer.Option("--to", help="End (exclusive), ISO 8601, an interval start.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for <topic>.jsonl and dataset.json.")],
    shard: Annotated[
        str | None, typer.Option("--shard", help="i/N, 0-based: company k belongs to shard k % N.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the config's seed.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty --out (replacing its dataset).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Generate even a very large range.")] = False,
) -> None:
    """Generate intervals [--from, --to) to DIR/<topic>.jsonl, one record value per line (no Kafka).

    A non-empty DIR is refused unless --force; a range estimated above 100 M records or 20 GB is
    refused unless --yes, and one that does not fit the free disk space is always refused.
    """
    from producer.config import load_config
    from producer.generation.clock import parse_instant
    from producer.generation.reference import check_size, estimate, generate_files
    from producer.generation.shard import Shard

    settings = load_config(config, {"seed": seed})
    parsed_shard = Shard.parse(shard)
    try:
        start, end = parse_instant(from_), parse_instant(to)
    except ValueError as error:
        raise BadInputError(f"--from/--to: {error}") from None
    check_writable_dir(out, "--out")
    if not force and out.is_dir() and any(out.iterdir()):
        present = sorted(path.name for path in out.iterdir())
        raise BadInputError(
            f"--out {out} is not empty ({len(present)} entries, e.g. {present[0]}): pick an empty directory "
            "or pass --force to replace the dataset in it"
        )
    check_size(estimate(settings, start, end, parsed_shard), out, allow_large=yes)
    summary = generate_files(settings, start, end, out, shard=parsed_shard, console=err_console)
    counts = ", ".join(f"{count} {topic}" for topic, count in summary.records.items())
    err_console.print(
        f"wrote {summary.intervals} intervals (seed {summary.dataset.seed}, shard {parsed_shard}) "
        f"to {out}: {counts}",
        highlight=False,
    )


@app.command("produce")
def produce(
    config: ConfigOption,
    bootstrap_servers: Annotated[
        str | None, typer.Option("--bootstrap-servers", help="Kafka bootstrap (default: the config's).")
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    from_: Annotated[str | None, typer.Option("--from", help="Backfill from this interval start.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Backfill end (exclusive).")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Then continue in realtime.")] = False,
    shard: Annotated[str | None, typer.Option("--shard", help="i/N, 0-based: one of N.")] = None,
    api_host: Annotated[
        str | None, typer.Option("--api-host", help="Sidecar API bind address (default api.host: 127.0.0.1).")
    ] = None,
    api_port: Annotated[
        int | None, typer.Option("--api-port", help="Sidecar API port (default: api.port, 18000).")
    ] = None,
) -> None:
    """Publish the dataset to Kafka: realtime, or a --from/--to backfill (optionally --follow)."""
    from producer.config import load_config
    from producer.generation.clock import parse_instant
    from producer.generation.shard import Shard
    from producer.sidecar.produce import produce as run_produce

    # Every flag goes through the config model's validation (ranges, formats), like YAML and env.
    settings = load_config(
        config, {"kafka.bootstrap_servers": bootstrap_servers, "api.host": api_host, "api.port": api_port}
    )
    try:
        start = parse_instant(from_) if from_ is not None else None
        end = parse_instant(to) if to is not None else None
    except ValueError as error:
        raise BadInputError(f"--from/--to: {error}") from None
    check_writable_dir(data_dir)
    engine = run_produce(
        settings, data_dir, Shard.parse(shard), start, end, follow, console=err_console,
    )
    state = engine.state
    err_console.print(
        f"producer stopped: {state.intervals_published} intervals, {state.events_published} events so far "
        f"(seed {state.seed}, shard {engine.shard}); next interval {state.next_interval}; "
        f"state in {engine.paths.state_file}",
        highlight=False,
    )


def _create_topics(settings: SeedstreamConfig) -> None:
    """Create the scenario's missing topics, and its fault-label topic (which the job lands from the
    start, so faults switched on later are scored), with the producer's layout."""
    import asyncio

    from producer.generation.fault_labels import label_topic
    from producer.generation.scenarios.registry import get_scenario
    from producer.kafka.topics import ensure_topics, topic_layouts

    specs = (*get_scenario(settings.scenario).topics(), label_topic(settings.scenario))
    layouts = topic_layouts(specs, settings.kafka)
    asyncio.run(ensure_topics(layouts, settings.kafka))


@app.command("stream")
def stream(
    config: ConfigOption,
    bootstrap_servers: Annotated[
        str | None, typer.Option("--bootstrap-servers", help="Kafka bootstrap (default: the config's).")
    ] = None,
    data_dir: Annotated[
        str, typer.Option("--data-dir", help="Delta tables, checkpoints and logs (a path or a Hadoop URI).")
    ] = str(DEFAULT_DATA_DIR),
    available_now: Annotated[
        bool, typer.Option("--available-now", help="Drain what Kafka holds, check all intervals, exit.")
    ] = False,
    master: Annotated[
        str | None, typer.Option("--master", help="Spark master URL (default local[*] or spark-submit's).")
    ] = None,
) -> None:
    """Run the Spark job: Kafka → bronze → silver Delta tables → interval checks."""
    from producer.config import load_config
    from streaming.submit import run_stream

    settings = load_config(config, {"kafka.bootstrap_servers": bootstrap_servers, "streaming.master": master})
    local = local_path(data_dir_uri(data_dir))
    if local is not None:
        check_writable_dir(local)
    every = settings.streaming.trigger_interval.total_seconds()
    mode = "available-now" if available_now else f"every {every:g} s"
    announce = partial(
        err_console.print,
        f"streaming {settings.kafka.bootstrap_servers} into {data_dir} ({mode}); "
        f"Spark UI port {settings.streaming.ui_port}, metrics port {settings.streaming.metrics_port}",
        highlight=False,
    )
    summary = run_stream(settings, data_dir, available_now, create_topics=_create_topics, reached=announce)
    err_console.print(
        f"stopped after {summary.batches} micro-batches; "
        f"{summary.intervals_checked} intervals checked; tables in {summary.data_dir}/delta",
        highlight=False,
    )


@app.command("up")
def up(
    config: Annotated[
        str, typer.Option("--config", help="A preset name or a YAML file (default: emulated).")
    ] = "emulated",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option("--bootstrap-servers", help="Use this Kafka instead of starting the local broker."),
    ] = None,
    kafka_port: Annotated[
        int, typer.Option("--kafka-port", help="Port of the local broker.")
    ] = DEFAULT_KAFKA_PORT,
    api_port: Annotated[
        int | None, typer.Option("--api-port", help="Sidecar API port (default: the config's api.port).")
    ] = None,
    spark_ui_port: Annotated[
        int | None, typer.Option("--spark-ui-port", help="Spark UI port (default: streaming.ui_port).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="The streaming job's Prometheus port (streaming.metrics_port)."),
    ] = None,
    run_for: Annotated[
        float | None, typer.Option("--run-for", help="Stop by itself after this many seconds.")
    ] = None,
    reset_pipeline: Annotated[
        bool,
        typer.Option(
            "--reset-pipeline",
            help="First delete the streaming job's Delta tables, checkpoints and logs in the data dir "
            "(after POST /api/clean, to start the pipeline afresh too).",
        ),
    ] = False,
) -> None:
    """Broker + producer + sidecar + streaming job, with one console; Ctrl-C stops everything."""
    from producer.config import load_config
    from producer.stack.up import UpSettings
    from producer.stack.up import up as run_up

    # A bad config or flag fails here, before anything starts; flags override the config's ports.
    settings = load_config(
        config,
        {"api.port": api_port, "streaming.ui_port": spark_ui_port, "streaming.metrics_port": metrics_port},
    )
    if not settings.streaming.metrics_port:
        raise BadInputError(
            "seedstream up reads the streaming job's metrics: give --metrics-port or streaming.metrics_port "
            "a fixed port (not 0 or null)"
        )
    check_writable_dir(data_dir)
    status = run_up(
        UpSettings(
            config=config,
            data_dir=data_dir,
            bootstrap_servers=bootstrap_servers,
            kafka_port=kafka_port,
            api_port=settings.api.port,
            spark_ui_port=settings.streaming.ui_port,
            metrics_port=settings.streaming.metrics_port,
            run_for=run_for,
            reset_pipeline=reset_pipeline,
        )
    )
    raise typer.Exit(status)


@app.command("clean")
def clean(
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    pipeline: Annotated[
        bool,
        typer.Option("--pipeline", help="Delete the streaming job's Delta tables and checkpoints."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do it (nothing is deleted without it).")] = False,
) -> None:
    """Reset the pipeline (with the stack stopped): its Delta tables, checkpoints and logs under the
    data dir. The producer's topics and state are cleaned by POST /api/clean (pause first)."""
    from producer.stack.clean import pipeline_paths, reset_pipeline

    if not pipeline:
        raise BadInputError(
            "say what to clean: --pipeline deletes the streaming job's tables and checkpoints; "
            "the producer's topics and state are cleaned with POST /api/clean (pause first)"
        )
    if not yes:
        listed = ", ".join(str(path) for path in pipeline_paths(data_dir))
        raise BadInputError(f"this deletes {listed}: add --yes to do it")
    deleted = reset_pipeline(data_dir)
    if not deleted:
        err_console.print(f"nothing to delete: no pipeline tables or checkpoints under {data_dir}")
        return
    for path in deleted:
        err_console.print(f"deleted {path}")
    err_console.print("the next `seedstream up` reads Kafka from its earliest offsets into new tables")


@app.command("report")
def report(
    config: ConfigOption,
    from_: Annotated[str, typer.Option("--from", help="First interval start, ISO 8601 (the dataset epoch).")],
    to: Annotated[str, typer.Option("--to", help="End (exclusive), ISO 8601, an interval start.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    shard: Annotated[str | None, typer.Option("--shard", help="i/N, 0-based: report on one shard.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the config's seed.")] = None,
) -> None:
    """The scenario's summary report over [--from, --to), from generated data (no Kafka needed).

    Exit status 1 when a rule fails (a referential-integrity violation, a figure outside its
    expectation), so scripts can rely on it.
    """
    import json

    from rich.markup import escape
    from rich.table import Table

    from producer.config import load_config
    from producer.generation.clock import parse_instant
    from producer.generation.report import build_report
    from producer.generation.shard import Shard

    settings = load_config(config, {"seed": seed})
    try:
        start, end = parse_instant(from_), parse_instant(to)
    except ValueError as error:
        raise BadInputError(f"--from/--to: {error}") from None
    with err_console.status("generating and measuring"):
        result = build_report(settings, start, end, Shard.parse(shard))
    if as_json:
        console.print_json(json.dumps(result.to_json()))
    else:
        console.print(
            f"[bold]{result.scenario}[/] seed {result.seed}, {result.intervals} intervals "
            f"from {from_} to {to}",
            highlight=False,
        )
        for section in result.sections:
            table = Table(title=section.title, title_justify="left", show_edge=False)
            table.add_column("metric")
            table.add_column("value", justify="right")
            table.add_column("expected", justify="right")
            table.add_column("", justify="center")
            for row in section.rows:
                mark = "" if row.ok is None else "[green]✓[/]" if row.ok else "[red]✗[/]"
                value = f"{row.value:,}" if isinstance(row.value, int) else str(row.value)
                table.add_row(escape(row.metric), escape(value), escape(row.expected), mark)
            console.print(table)
    if result.failures:
        raise SeedstreamError(
            f"{len(result.failures)} figure(s) outside their expectation: {'; '.join(result.failures)}"
        )


@app.command("init")
def init(
    out: Annotated[Path, typer.Option("--out", help="Where to write the config.")] = Path("seedstream.yaml"),
    scenario: Annotated[str | None, typer.Option("--scenario", help="fleet, tapflow, ...")] = None,
    scale: Annotated[str | None, typer.Option("--scale", help="One of the scenario's presets.")] = None,
    time_range: Annotated[
        str | None, typer.Option("--range", help="realtime, or a backfill duration such as P7D or PT6H.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Backfill start, ISO 8601 (default: range before today).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="The dataset seed.")] = None,
    output: Annotated[
        str | None, typer.Option("--output", help="kafka (broker + streaming job) or files (generate).")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="The data dir (kafka) or the directory of files (files).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="No prompts: defaults for what no flag gave.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out.")] = False,
) -> None:
    """Write a validated YAML config with a short wizard (scenario, scale, time range, seed, output)
    and print the commands that run it; with --yes, no prompts."""
    from producer import wizard

    def ask(value: str | None, question: str, default: str, choices: list[str] | None = None) -> str:
        if value is not None:
            return value
        if yes:
            return default
        label = f"{question} ({', '.join(choices)})" if choices else question
        for _ in range(5):
            answer = str(typer.prompt(label, default=default, err=True)).strip()
            if choices is None or answer in choices:
                return answer
            err_console.print(f"{answer!r} is not one of {', '.join(choices)}", highlight=False)
        allowed = ", ".join(choices or [])
        raise BadInputError(f"{question.lower()}: no valid answer in 5 tries (one of {allowed})")

    chosen = ask(scenario, "Scenario", wizard.scenarios()[0], wizard.scenarios())
    if chosen not in wizard.scenarios():
        raise BadInputError(f"--scenario {chosen!r}: not one of {', '.join(wizard.scenarios())}")
    offered = wizard.presets_of(chosen)
    if scale is None and not yes:
        for offer in offered:
            err_console.print(f"  [bold]{offer.name}[/]: {offer.description}", highlight=False)
    preset = ask(scale, "Scale", offered[0].name, [p.name for p in offered])
    duration = wizard.parse_range(ask(time_range, "Time range (realtime, or a duration like P7D)", "P1D"))
    begin = None
    if duration is not None:
        begin = wizard.parse_start(
            ask(start, "Backfill start (ISO 8601)", wizard.short_instant(wizard.default_start(duration)))
        )
    default_seed = wizard.default_seed(preset) if preset in [p.name for p in offered] else 1
    seed_text = ask(None if seed is None else str(seed), "Seed", str(default_seed))
    try:
        chosen_seed = int(seed_text)
    except ValueError:
        raise BadInputError(f"seed {seed_text!r}: not an integer") from None
    sink = ask(output, "Output", "kafka", list(wizard.OUTPUTS))
    where = ask(
        target,
        "Data dir" if sink == "kafka" else "Directory for the files",
        wizard.DEFAULT_DATA_DIR if sink == "kafka" else wizard.DEFAULT_FILES_DIR,
    )
    answers = wizard.Answers(chosen, preset, chosen_seed, sink, begin, duration, where)  # type: ignore[arg-type]
    wizard.write_config(answers, out, force=force)
    err_console.print(
        f"wrote {out}: {chosen} at the scale of {preset}, seed {chosen_seed}, "
        f"{wizard.describe_range(answers)}, output {sink}",
        highlight=False,
    )
    console.print("Run it with:", highlight=False)
    for command in wizard.commands(answers, out):
        console.print(f"  {command}", highlight=False, soft_wrap=True)


PipelineDataDirOption = Annotated[
    str, typer.Option("--data-dir", help="The streaming job's data dir (a path or a Hadoop URI).")
]


@app.command("validate")
def validate(
    config: ConfigOption,
    data_dir: PipelineDataDirOption = str(DEFAULT_DATA_DIR),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run the scenario's validation queries against its tables (by name) and print query → result →
    expected → pass; exit status 1 when any fails."""
    import json

    from rich.table import Table

    from producer.config import load_config
    from streaming.validate import validate_data_dir

    results = validate_data_dir(load_config(config), data_dir)
    failed = [result for result in results if not result.passed]
    if as_json:
        rows = [
            {"query": r.query.name, "sql": r.sql, "result": r.value, "expected": r.query.expected,
             "tolerance": r.query.tolerance, "pass": r.passed, "error": r.error}
            for r in results
        ]  # fmt: skip
        console.print_json(json.dumps(rows))
    else:
        table = Table("query", "result", "expected", "pass", title=f"validation of {data_dir}")
        for result in results:
            shown = result.error or ("–" if result.value is None else f"{result.value:g}")
            mark = "[green]pass[/]" if result.passed else "[bold red]FAIL[/]"
            table.add_row(result.query.name, shown, result.expected, mark)
        console.print(table)
    if failed:
        err_console.print(
            f"{len(failed)} of {len(results)} validation queries failed: "
            + "; ".join(result.query.name for result in failed),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    err_console.print(f"all {len(results)} validation queries passed", highlight=False)


@app.command("score")
def score(
    config: ConfigOption,
    data_dir: PipelineDataDirOption = str(DEFAULT_DATA_DIR),
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Read the labels from this file (generate's <scenario>.fault-labels.jsonl) instead of "
            "the bronze table of the label topic.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the score as JSON.")] = False,
) -> None:
    """Score what a pipeline did with the injected faults: per fault kind, injected, caught correctly,
    caught with the wrong reason, missed, pending, false positives, precision and recall. Reads the
    Delta tables under --data-dir by path (any pipeline that writes the same tables)."""
    import json

    from rich.table import Table

    from producer.config import load_config
    from streaming.score_report import score_data_dir

    def ratio(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    def count(value: int | None) -> str:
        return "–" if value is None else f"{value:,}"

    scores = score_data_dir(load_config(config), data_dir, labels)
    if as_json:
        console.print_json(json.dumps([each.as_json() for each in scores]))
    else:
        table = Table(title=f"fault score of {data_dir}")
        table.add_column("kind", no_wrap=True)
        headings = ("injected", "correct", "wrong reason", "missed", "pending", "false pos.")
        for heading in (*headings, "precision", "recall"):
            table.add_column(heading, justify="right")
        for each in scores:
            table.add_row(
                each.kind, count(each.injected), count(each.correct), count(each.wrong_reason),
                count(each.missed), count(each.pending), count(each.false_positives), ratio(each.precision),
                ratio(each.recall),
            )  # fmt: skip
        console.print(table)
    injected = sum(each.injected for each in scores)
    correct = sum(each.correct for each in scores)
    pending = sum(each.pending for each in scores)
    err_console.print(
        f"{correct:,} of {injected:,} injected faults handled as expected"
        + (f"; {pending:,} pending" if pending else ""),
        highlight=False,
    )


@app.command("optimize")
def optimize(
    config: ConfigOption,
    data_dir: PipelineDataDirOption = str(DEFAULT_DATA_DIR),
) -> None:
    """Run Delta's OPTIMIZE with Z-ordering on the tables the scenario declares; exit status 1 when
    a table could not be optimized."""
    from rich.table import Table

    from producer.config import load_config
    from streaming.optimize import optimize_data_dir

    results = optimize_data_dir(load_config(config), data_dir)
    table = Table("table", "Z-order", "files removed", "files added", title=f"OPTIMIZE in {data_dir}")
    for result in results:
        removed = "–" if result.files_removed is None else str(result.files_removed)
        added = result.problem or ("–" if result.files_added is None else str(result.files_added))
        table.add_row(result.table, ", ".join(result.columns), removed, added)
    console.print(table)
    failed = [result for result in results if result.problem and result.problem != "no table yet"]
    if failed:
        err_console.print(
            f"{len(failed)} tables not optimized: " + "; ".join(f"{r.table}: {r.problem}" for r in failed),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    done = sum(1 for result in results if result.problem is None)
    err_console.print(f"optimized {done} tables", highlight=False)


@app.command("schemas")
def schemas(
    out: Annotated[Path | None, typer.Option("--out", help="Target directory (default schemas/).")] = None,
) -> None:
    """Regenerate the JSON Schema of every topic's record value from the models."""
    from producer.generation.schema_export import SCHEMAS_DIR, write_schemas

    written = write_schemas(out or SCHEMAS_DIR)
    err_console.print(f"wrote {len(written)} schemas to {out or SCHEMAS_DIR}", highlight=False)


def main() -> None:
    """Console-script entry point: one clear line and a non-zero status for every known failure."""
    try:
        app()
    except SeedstreamError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(INTERRUPTED)
    except SystemExit as exit_:
        if exit_.code == INTERRUPTED:  # click turns Ctrl-C into a silent exit 130
            err_console.print("interrupted")
        raise


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), with the one line ``interrupted``."""


if __name__ == "__main__":
    main()
