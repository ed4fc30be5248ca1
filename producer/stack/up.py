"""``seedstream up``: the whole stack in one command, stopped cleanly in reverse order.

Starts the local KRaft broker (unless a bootstrap address is given), then ``seedstream produce``
with its sidecar, then ``seedstream stream``, each as a child process in its own process group, and
shows one combined console: where things are, events/s, silver rows and the last interval check.
Ctrl-C or SIGTERM stops the streaming job, then the producer, then the broker it started; nothing
is left behind. A lock file in the data dir keeps a second ``up`` from fighting over ports.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from producer.config import DEFAULT_KAFKA_PORT
from producer.datadir import DEFAULT_DATA_DIR, DataDir
from producer.errors import SeedstreamError
from producer.stack.broker import LocalBroker
from producer.stack.clean import reset_pipeline

STOP_GRACE_SECONDS = 20.0
PLAIN_STATUS_SECONDS = 10.0
"""How often ``up`` prints a status line when its output is not a terminal."""


def plain_console() -> Console:
    """A console for redirected output: no colour, no cursor movement, no live redraws, no wrapping."""
    return Console(
        file=sys.stderr, force_terminal=False, color_system=None, highlight=False, emoji=False, soft_wrap=True
    )


@dataclass
class UpSettings:
    """What ``up`` starts and where: every field maps to a flag of ``seedstream up``; the ports come
    from the config tree (``api.port``, ``streaming.ui_port``, ``streaming.metrics_port``) unless a
    flag overrides them."""

    api_port: int
    spark_ui_port: int
    metrics_port: int
    config: str = "emulated"
    data_dir: Path = DEFAULT_DATA_DIR
    bootstrap_servers: str | None = None
    kafka_port: int = DEFAULT_KAFKA_PORT
    ready_timeout: float = 180.0
    run_for: float | None = None
    reset_pipeline: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Child:
    """One supervised child process, in its own process group, logging to a file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int | None:
        """SIGTERM the process group, wait up to ``grace`` s, then SIGKILL what is left."""
        if self.alive():
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Children of the child (Spark's JVM) share its group: make sure none outlives it.
        _signal_group(self.process.pid, signal.SIGKILL)
        return self.process.returncode

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "(no output)"
        return "\n".join(text[-lines:]) or "(no output)"


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def single_instance(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir/up.lock`` for the lifetime of one ``up``; a second one gets a clear error."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = DataDir(data_dir).up_lock
    handle: IO[str] = lock_path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise SeedstreamError(
            f"seedstream up already runs for data dir {data_dir} (pid {owner}): "
            f"stop it with Ctrl-C or `kill -TERM {owner}`, or use another --data-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.seek(0)
        handle.truncate()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _http_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URL we build
        return json.loads(response.read())


def _http_text(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URL we build
        return str(response.read().decode())


def prometheus_sum(text: str, metric: str) -> float:
    """Sum every sample of ``metric`` (any labels) in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(metric) and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name == metric:
                try:
                    total += float(line.rsplit(" ", 1)[1])
                except ValueError:
                    continue
    return total


class Stack:
    """The broker, the producer with its sidecar and the streaming job, supervised together."""

    def __init__(self, settings: UpSettings, console: Console | None = None) -> None:
        self.settings = settings
        # a live table on a terminal; plain status lines when stderr is a file or a pipe
        self.console = console or (Console(stderr=True) if sys.stderr.isatty() else plain_console())
        self.live = self.console.is_terminal
        self.data_dir = settings.data_dir.resolve()
        self.files = DataDir(self.data_dir)
        self.logs_dir = self.files.logs_dir
        self.children: list[Child] = []
        self.broker: LocalBroker | None = None
        self.bootstrap = settings.bootstrap_servers or ""
        self._stop_requested = False
        self._last_events: tuple[float, float] | None = None
        self.status: dict[str, str] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self) -> int:
        """Start everything, show the console until stopped, then stop in reverse order."""
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        exit_code = 0
        try:
            with single_instance(self.data_dir):
                if self.settings.reset_pipeline:
                    self._reset_pipeline()
                try:
                    self._start_all()
                    exit_code = self._watch()
                finally:
                    self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return exit_code

    def _reset_pipeline(self) -> None:
        """``--reset-pipeline``: empty tables and checkpoints before the streaming job starts."""
        deleted = reset_pipeline(self.data_dir, by_up=True)
        shown = ", ".join(str(path.relative_to(self.data_dir)) for path in deleted) or "nothing to delete"
        self.console.print(f"[green]✓[/] pipeline reset: {shown}")

    def _request_stop(self, signum: int, _frame: object) -> None:
        self._stop_requested = True

    def _start_all(self) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        if not self.bootstrap:
            broker = LocalBroker(self.data_dir, port=self.settings.kafka_port)
            already = broker.status()
            if already is not None:
                self.console.print(f"using the local broker that already runs at {already.bootstrap}")
                self.bootstrap = already.bootstrap
            else:
                with self._step("starting the local Kafka broker"):
                    info = broker.start()
                self.broker = broker
                self.bootstrap = info.bootstrap
                self.console.print(f"[green]✓[/] Kafka broker at {self.bootstrap} (pid {info.pid})")
        self._check_stop()
        common = ["--config", self.settings.config, "--bootstrap-servers", self.bootstrap,
                  "--data-dir", str(self.data_dir)]
        producer = self._spawn("producer", ["produce", *common, "--api-port", str(self.settings.api_port)])
        self._wait_ready(producer, self._sidecar_ready, "the producer's sidecar to answer")
        self.console.print(f"[green]✓[/] producer with sidecar at http://127.0.0.1:{self.settings.api_port}")
        self._check_stop()
        streaming = self._spawn(
            "streaming",
            ["stream", *common],
            {
                "SEEDSTREAM_STREAMING__UI_PORT": str(self.settings.spark_ui_port),
                "SEEDSTREAM_STREAMING__METRICS_PORT": str(self.settings.metrics_port),
            },
        )
        self._wait_ready(streaming, self._streaming_ready, "the streaming job's metrics endpoint")
        self.console.print(f"[green]✓[/] streaming job (Spark UI http://127.0.0.1:{self.settings.spark_ui_port})")

    def _spawn(self, name: str, arguments: list[str], env_overrides: dict[str, str] | None = None) -> Child:
        log_path = self.files.child_output(name)
        env = {
            "PYSPARK_PYTHON": sys.executable,  # Spark's Python workers run in this virtualenv too
            **os.environ,
            **self.settings.extra_env,
            **(env_overrides or {}),
            "PYTHONUNBUFFERED": "1",
        }
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "producer.cli", *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def _wait_ready(self, child: Child, ready: Any, what: str) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout
        with self._step(f"waiting for {what}"):
            while time.monotonic() < deadline:
                self._check_stop()
                if not child.alive():
                    raise SeedstreamError(
                        f"{child.name} exited with status {child.process.returncode} while starting: "
                        f"{child.log_tail(3)} (full log: {child.log_path})"
                    )
                if ready():
                    return
                time.sleep(0.5)
        raise SeedstreamError(
            f"timed out after {self.settings.ready_timeout:.0f} s waiting for {what}: see {child.log_path}"
        )

    @contextmanager
    def _step(self, what: str) -> Iterator[None]:
        """A spinner on a terminal; one plain line otherwise."""
        if self.live:
            with self.console.status(what):
                yield
        else:
            self.console.print(f"{what}…")
            yield

    def _check_stop(self) -> None:
        if self._stop_requested:
            raise KeyboardInterrupt

    def _sidecar_ready(self) -> bool:
        try:
            _http_json(f"http://127.0.0.1:{self.settings.api_port}/api/health")
        except (OSError, ValueError):
            return False
        return True

    def _streaming_ready(self) -> bool:
        try:
            _http_text(f"http://127.0.0.1:{self.settings.metrics_port}/metrics")
        except (OSError, ValueError):
            return False
        return True

    def _watch(self) -> int:
        if not self.live:
            return self._watch_plain()
        started = time.monotonic()
        with Live(self._render(), console=self.console, refresh_per_second=1, transient=False) as live:
            while not self._stop_requested:
                for child in self.children:
                    if not child.alive():
                        live.stop()
                        self.console.print(
                            f"[red]{child.name} exited with status {child.process.returncode}:[/]\n"
                            f"{child.log_tail(8)}\n(full log: {child.log_path})"
                        )
                        return 1
                if self.settings.run_for is not None and time.monotonic() - started > self.settings.run_for:
                    break
                self._poll()
                live.update(self._render())
                time.sleep(1.0)
        return 0

    def _watch_plain(self) -> int:
        """The watch loop for redirected output: where things are once, then a status line at times."""
        started = time.monotonic()
        self.console.print(self._render())
        last_line = 0.0
        while not self._stop_requested:
            failed = next((child for child in self.children if not child.alive()), None)
            if failed is not None:
                self.console.print(
                    f"{failed.name} exited with status {failed.process.returncode}:\n"
                    f"{failed.log_tail(8)}\n(full log: {failed.log_path})"
                )
                return 1
            if self.settings.run_for is not None and time.monotonic() - started > self.settings.run_for:
                break
            self._poll()
            if time.monotonic() - last_line >= PLAIN_STATUS_SECONDS:
                self.console.print(self.status_line())
                last_line = time.monotonic()
            time.sleep(1.0)
        return 0

    def status_line(self) -> str:
        """The console's numbers on one line: ``status: producer running; events produced 1,204; …``."""
        return "status: " + "; ".join(f"{key} {value}" for key, value in self.status.items())

    def _stop_all(self) -> None:
        for child in reversed(self.children):
            if child.alive():
                self.console.print(f"stopping {child.name}")
            child.stop()
        if self.broker is not None:
            self.console.print("stopping the local Kafka broker")
            self.broker.stop()
        self.console.print("stopped")

    # -- the console ---------------------------------------------------------------------------

    def _poll(self) -> None:
        api = f"http://127.0.0.1:{self.settings.api_port}"
        try:
            health = _http_json(f"{api}/api/health")
            self.status["producer"] = str(health.get("status", "?"))
            metrics = _http_text(f"{api}/metrics")
            events = prometheus_sum(metrics, "seedstream_events_produced_total")
            now = time.monotonic()
            if self._last_events is not None and now > self._last_events[0]:
                rate = (events - self._last_events[1]) / (now - self._last_events[0])
                self.status["events/s"] = f"{rate:,.1f}"
            self._last_events = (now, events)
            self.status["events produced"] = f"{events:,.0f}"
        except (OSError, ValueError):
            self.status["producer"] = "not answering"
        try:
            metrics = _http_text(f"http://127.0.0.1:{self.settings.metrics_port}/metrics")
            self.status["silver rows"] = f"{prometheus_sum(metrics, 'seedstream_silver_rows'):,.0f}"
            complete = prometheus_sum(metrics, "seedstream_interval_checks_complete")
            checked = prometheus_sum(metrics, "seedstream_interval_checks")
            cleaned = prometheus_sum(metrics, "seedstream_interval_checks_cleaned")
            self.status["interval checks"] = f"{complete:,.0f} complete of {checked:,.0f}" + (
                f" ({cleaned:,.0f} cleaned, not checked)" if cleaned else ""
            )
        except (OSError, ValueError):
            self.status["streaming"] = "not answering"
        self._read_last_check()

    def _read_last_check(self) -> None:
        progress = self.files.checks_log
        try:
            lines = progress.read_text().strip().splitlines()
        except FileNotFoundError:
            return
        if lines:
            try:
                last = json.loads(lines[-1])
            except ValueError:
                return
            self.status["last interval check"] = f"{last.get('batch_id', '?')}: {last.get('status', '?')}"

    def _render(self) -> Group:
        where = Table.grid(padding=(0, 2))
        where.add_row("Kafka", self.bootstrap)
        where.add_row("sidecar", f"http://127.0.0.1:{self.settings.api_port}/api/health")
        where.add_row("Swagger UI", f"http://127.0.0.1:{self.settings.api_port}/docs")
        where.add_row("producer metrics", f"http://127.0.0.1:{self.settings.api_port}/metrics")
        where.add_row("Spark UI", f"http://127.0.0.1:{self.settings.spark_ui_port}/StreamingQuery/")
        where.add_row("streaming metrics", f"http://127.0.0.1:{self.settings.metrics_port}/metrics")
        where.add_row("data dir", str(self.data_dir))
        numbers = Table.grid(padding=(0, 2))
        for key, value in self.status.items():
            numbers.add_row(key, value)
        return Group(where, Text(""), numbers, Text("Ctrl-C stops everything", style="dim"))


def up(settings: UpSettings) -> int:
    """Run the whole stack until Ctrl-C or SIGTERM; return the exit status."""
    try:
        return Stack(settings).run()
    except KeyboardInterrupt:
        return 0
