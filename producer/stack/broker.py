"""The embedded default broker: a single-node Apache Kafka in KRaft mode from the cached jars.

``seedstream kafka start`` formats storage on first use, launches broker and controller in one JVM
with a bounded heap, logs to ``<data-dir>/kafka/broker.log`` and waits until the broker has started
and accepts connections. The process outlives the command; ``stop`` ends it with SIGTERM (then
SIGKILL after a bounded wait) and ``status`` says whether it runs and where.

Secured (``--sasl-user``/``--sasl-password``): the client listener is SASL_PLAINTEXT with
SCRAM-SHA-512 (also used between brokers, e.g. for transaction markers); the controller listener
stays PLAINTEXT on a loopback port. The SCRAM credential is stored (salted and hashed by Kafka) when
storage is formatted, so a user is fixed for the life of the data dir. The broker's own login needs
the password in a JAAS file: ``<kafka>/broker-jaas.conf``, mode 0600, written just before the JVM
starts and deleted as soon as it has started (the JVM reads it once at startup); no other file holds it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import SecretStr

from producer.config import DEFAULT_KAFKA_PORT
from producer.datadir import DataDir
from producer.errors import BadInputError, SeedstreamError
from producer.stack.jvm import jar_dir, java_executable

DEFAULT_HOST = "127.0.0.1"
STARTED_MARKER = "Kafka Server started"
SASL_MECHANISM = "SCRAM-SHA-512"
SASL_LISTENER = "SASL_PLAINTEXT"


@dataclass(frozen=True)
class BrokerUser:
    """The SCRAM-SHA-512 user of a secured local broker (clients and the broker itself log in as it)."""

    username: str
    password: SecretStr

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", self.username):
            raise BadInputError(
                f"--sasl-user {self.username!r}: use 1-64 letters, digits, '.', '_' or '-'"
            )
        secret = self.password.get_secret_value()
        if not secret or any(char in secret for char in '"\\,[]=') or not secret.isprintable():
            raise BadInputError(
                "--sasl-password: give a non-empty printable password without quotes, backslashes, "
                "commas, brackets or '='"
            )


@dataclass(frozen=True)
class BrokerInfo:
    """What a running local broker is: its process and where clients reach it."""

    pid: int
    host: str
    port: int
    controller_port: int
    data_dir: str
    started_at: float
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients connect to."""
        return f"{self.host}:{self.port}"


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on (or holds) ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def accepts_connections(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to ``host:port`` succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_is_broker(pid: int) -> bool:
    """Whether ``pid`` is alive and is a Kafka broker JVM (guards against pid reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return False
        return b"kafka.Kafka" in args
    return True


class LocalBroker:
    """A single-node KRaft broker whose storage, config and logs live under ``data_dir/kafka``."""

    def __init__(
        self,
        data_dir: Path,
        port: int = DEFAULT_KAFKA_PORT,
        host: str = DEFAULT_HOST,
        heap_mb: int = 512,
        user: BrokerUser | None = None,
    ) -> None:
        if not 0 < port < 65536:
            raise BadInputError(f"--port {port} is not a TCP port: use 1-65535")
        self.host = host
        self.port = port
        self.heap_mb = heap_mb
        self.home = DataDir(data_dir.resolve()).broker_dir
        self.storage = self.home / "data"
        self.config_file = self.home / "server.properties"
        self.log_config = self.home / "log4j2.properties"
        self.log_file = self.home / "broker.log"
        self.stdout_file = self.home / "broker.out"
        self.state_file = self.home / "broker.json"
        self.user = user
        self.jaas_file = self.home / "broker-jaas.conf"
        self.scram_users_file = self.home / "scram-users.json"

    # -- queries -------------------------------------------------------------------------------

    def status(self) -> BrokerInfo | None:
        """The running broker of this data dir, or None (a stale state file is removed)."""
        if not self.state_file.exists():
            return None
        try:
            info = BrokerInfo(**json.loads(self.state_file.read_text()))
        except (ValueError, TypeError):
            self.state_file.unlink(missing_ok=True)
            return None
        if _pid_is_broker(info.pid):
            return info
        self.state_file.unlink(missing_ok=True)
        return None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> BrokerInfo:
        """Start the broker (formatting storage first if needed) and wait until it serves clients.

        Returns the running broker's info; if one already runs for this data dir, returns it.
        """
        running = self.status()
        if running is not None:
            return running
        if port_in_use(self.host, self.port):
            raise SeedstreamError(
                f"port {self.port} on {self.host} is already in use: stop what listens there "
                f"or start the broker on another port with --port"
            )
        classpath = str(jar_dir("broker") / "*")
        java = java_executable()
        self.home.mkdir(parents=True, exist_ok=True)
        controller_port = free_port(self.host)
        self._write_config(controller_port)
        if not (self.storage / "meta.properties").exists():
            self._format(java, classpath)
        self._check_user_formatted()
        security = []
        if self.user is not None:
            self._write_jaas(self.user)
            security = [f"-Djava.security.auth.login.config={self.jaas_file}"]

        self.log_file.unlink(missing_ok=True)
        with self.stdout_file.open("wb") as out:
            process = subprocess.Popen(
                [
                    java,
                    f"-Xmx{self.heap_mb}m",
                    f"-Xms{min(self.heap_mb, 256)}m",
                    "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={self.log_config}",
                    *security,
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(self.config_file),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        info = BrokerInfo(
            pid=process.pid,
            host=self.host,
            port=self.port,
            controller_port=controller_port,
            data_dir=str(self.home.parent),
            started_at=time.time(),
            security_protocol=SASL_LISTENER if self.user is not None else "PLAINTEXT",
            sasl_mechanism=SASL_MECHANISM if self.user is not None else None,
            sasl_username=self.user.username if self.user is not None else None,
        )
        self._write_state(info)
        try:
            self._wait_started(process, timeout)
        except BaseException:
            self._kill(process.pid, grace=5.0)
            self.state_file.unlink(missing_ok=True)
            raise
        finally:
            self.jaas_file.unlink(missing_ok=True)
        return info

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after ``timeout``); False if none ran."""
        info = self.status()
        if info is None:
            return False
        self._kill(info.pid, grace=timeout)
        self.state_file.unlink(missing_ok=True)
        return True

    # -- internals -----------------------------------------------------------------------------

    def _write_state(self, info: BrokerInfo) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(info)))
        temporary.replace(self.state_file)

    def _write_config(self, controller_port: int) -> None:
        listener = SASL_LISTENER if self.user is not None else "PLAINTEXT"
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{controller_port}",
            "listeners": f"{listener}://{self.host}:{self.port},CONTROLLER://{self.host}:{controller_port}",
            "advertised.listeners": f"{listener}://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": listener,
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
            "log.dirs": str(self.storage),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
            "log.segment.bytes": str(64 * 1024 * 1024),
            "num.io.threads": "4",
            "num.network.threads": "2",
        }
        if self.user is not None:
            properties["sasl.enabled.mechanisms"] = SASL_MECHANISM
            properties["sasl.mechanism.inter.broker.protocol"] = SASL_MECHANISM
        self.config_file.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        self.log_config.write_text(
            "status = warn\n"
            "appender.file.type = File\n"
            "appender.file.name = file\n"
            f"appender.file.fileName = {self.log_file}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = INFO\n"
            "rootLogger.appenderRef.file.ref = file\n"
            "logger.statechange.name = state.change.logger\n"
            "logger.statechange.level = WARN\n"
            "logger.request.name = kafka.request.logger\n"
            "logger.request.level = WARN\n"
        )

    def _format(self, java: str, classpath: str) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        result = subprocess.run(
            [
                java,
                "-Xmx256m",
                f"-Dlog4j2.configurationFile={self.log_config}",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                # '=' form: a base64 cluster id may begin with '-'
                f"--cluster-id={cluster_id}",
                "--config",
                str(self.config_file),
                *self._scram_arguments(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise SeedstreamError(
                f"formatting Kafka storage in {self.storage} failed: "
                f"{detail[-1] if detail else 'no output'}; remove {self.home} to start afresh"
            )
        users = [self.user.username] if self.user is not None else []
        self.scram_users_file.write_text(json.dumps({SASL_MECHANISM: users}))

    def _scram_arguments(self) -> list[str]:
        """``--add-scram`` for the user: Kafka stores only the salted hash in the metadata log."""
        if self.user is None:
            return []
        secret = self.user.password.get_secret_value()
        return ["--add-scram", f'{SASL_MECHANISM}=[name={self.user.username},password="{secret}"]']

    def _check_user_formatted(self) -> None:
        """A secured start needs the user in the storage: credentials are added only when formatting."""
        if self.user is None:
            return
        try:
            users = json.loads(self.scram_users_file.read_text()).get(SASL_MECHANISM, [])
        except (OSError, ValueError, AttributeError):
            users = []
        if self.user.username not in users:
            raise BadInputError(
                f"the broker storage in {self.storage} was formatted without the SCRAM user "
                f"{self.user.username!r}: start it with the user it was created with, or remove "
                f"{self.home} (or use another --data-dir) to start afresh"
            )

    def _write_jaas(self, user: BrokerUser) -> None:
        """The broker's own SCRAM login (inter-broker listener), mode 0600 from its creation."""
        self.jaas_file.unlink(missing_ok=True)
        content = (
            "KafkaServer {\n"
            "  org.apache.kafka.common.security.scram.ScramLoginModule required\n"
            f'  username="{user.username}"\n'
            f'  password="{user.password.get_secret_value()}";\n'
            "};\n"
        )
        descriptor = os.open(self.jaas_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(content)

    def _wait_started(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SeedstreamError(
                    f"the Kafka broker exited with status {process.returncode} while starting: "
                    f"{self._log_tail()} (full log: {self.log_file})"
                )
            if self._log_says_started() and accepts_connections(self.host, self.port):
                return
            time.sleep(0.2)
        raise SeedstreamError(
            f"the Kafka broker did not start within {timeout:.0f} s: see {self.log_file}"
        )

    def _log_says_started(self) -> bool:
        try:
            return STARTED_MARKER in self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return False

    def _log_tail(self) -> str:
        for candidate in (self.log_file, self.stdout_file):
            try:
                lines = [line for line in candidate.read_text(errors="replace").splitlines() if line.strip()]
            except FileNotFoundError:
                continue
            errors = [line for line in lines if "ERROR" in line or "Exception" in line]
            if errors or lines:
                return (errors or lines)[-1][:300]
        return "no log output"

    @staticmethod
    def _kill(pid: int, grace: float) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                reaped, _ = os.waitpid(pid, os.WNOHANG)
                if reaped == pid:
                    return
            except ChildProcessError:
                pass
            if not _pid_is_broker(pid):
                return
            time.sleep(0.1)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
