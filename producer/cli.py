"""The ``seedstream`` command line (PRODUCT.md's CLI contract).

Each command parses its flags and calls one function of the module that does the work; every
user-facing failure is a :class:`SeedstreamError` printed as one line with a non-zero exit status.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from producer.broker import DEFAULT_PORT, LocalBroker
from producer.errors import SeedstreamError

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

DEFAULT_DATA_DIR = Path(".seedstream")

DataDirOption = Annotated[
    Path, typer.Option("--data-dir", help="Where state, logs, Delta tables and the local broker live.")
]


@kafka_app.command("start")
def kafka_start(
    port: Annotated[int, typer.Option(help="The broker's client port.")] = DEFAULT_PORT,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Start the local broker (formatting storage on first use) and print its bootstrap address."""
    broker = LocalBroker(data_dir, port=port)
    running = broker.status()
    if running is not None:
        err_console.print(f"the local broker already runs (pid {running.pid}) at {running.bootstrap}")
        console.print(running.bootstrap)
        return
    with err_console.status(f"starting the local Kafka broker on port {port}"):
        info = broker.start()
    err_console.print(f"local Kafka broker started (pid {info.pid}); log: {broker.log_file}")
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


def main() -> None:
    """Console-script entry point: one clear line and a non-zero status for every known failure."""
    try:
        app()
    except SeedstreamError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
