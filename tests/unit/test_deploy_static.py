"""Static checks of the Docker deployment: no Docker engine runs here, so deploy/docker-compose.yml and
deploy/Dockerfile are parsed and checked for what would otherwise only fail at ``docker compose up``:
services, loopback ports, healthchecks, volumes, real ``seedstream`` subcommands, flags and presets,
pinned images, a non-root user, and Spark's jars from the declared pom.

Each check returns a list of problems; ``test_checks_catch_mistakes`` feeds every check a broken
input to prove it can fail.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import click
import pytest
import typer
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SPARK_POM = "deploy/jvm/spark/pom.xml"
BROKER_POM = DEPLOY / "jvm" / "broker" / "pom.xml"

LOOPBACK = "127.0.0.1"
KAFKA = "kafka"
EXPECTED_SERVICES = {
    "kafka",
    "producer",
    "streaming",
    "spark-master",
    "spark-worker",
    "producer-emulated",
    "streaming-emulated",
}
# (service, host port): the seed's ports, Kafka for host clients, the emulated pipeline beside them.
EXPECTED_PORTS = {
    ("kafka", 9092),
    ("producer", 18000),
    ("streaming", 14040),
    ("spark-master", 17080),
    ("spark-master", 17077),
    ("producer-emulated", 18001),
    ("streaming-emulated", 14041),
}
NEEDS_HEALTHCHECK = {"kafka", "producer", "producer-emulated"}
TOP_LEVEL_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets"}
SERVICE_KEYS = {
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "depends_on",
    "healthcheck",
    "profiles",
    "hostname",
    "init",
    "restart",
    "stop_grace_period",
    "networks",
    "deploy",
    "user",
    "working_dir",
    "expose",
    "labels",
    "pull_policy",
}
REQUIRED_TOKEN = re.compile(r"^\$\{SEEDSTREAM_API_TOKEN:\?[^}]+\}$")
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")

Problems = list[str]


# --- compose helpers -------------------------------------------------------------------------------


def interpolate(value: object) -> str:
    """Compose's variable substitution with nothing set: defaults apply, required ones leave a marker."""

    def substitute(match: re.Match[str]) -> str:
        operator = match["op"] or ""
        if operator.endswith("-"):
            return match["arg"]
        if operator.endswith("?"):
            return f"<required {match['name']}>"
        return ""

    return _VARIABLE.sub(substitute, str(value))


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{COMPOSE_FILE} is not a mapping"
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose.get("services")
    return found if isinstance(found, dict) else {}


def argv_of(service: dict[str, Any], key: str = "command") -> list[str] | None:
    value = service.get(key)
    if value is None:
        return None
    if isinstance(value, list):
        return [interpolate(part) for part in value]
    return shlex.split(interpolate(value))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


@dataclass(frozen=True)
class Port:
    host_ip: str
    host_port: int
    container_port: int


def parse_port(entry: object) -> Port | None:
    """``"127.0.0.1:18000:18000"`` → Port; ``None`` for forms this stack must not use."""
    text = interpolate(entry).split("/")[0]
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return Port(parts[0], int(parts[1]), int(parts[2]))


def option_value(argv: list[str], option: str) -> str | None:
    for index, token in enumerate(argv):
        if token == option and index + 1 < len(argv):
            return argv[index + 1]
        if token.startswith(option + "="):
            return token.split("=", 1)[1]
    return None


def named_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount target → named volume (bind mounts, which start with ``.`` or ``/``, are left out)."""
    mounts: dict[str, str] = {}
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            source, target = str(entry.get("source", "")), str(entry.get("target", ""))
        else:
            source, _, rest = interpolate(entry).partition(":")
            target = rest.split(":")[0]
        if source and not source.startswith((".", "/", "~")):
            mounts[target.rstrip("/")] = source
    return mounts


def kafka_internal_bootstrap(compose: dict[str, Any]) -> str | None:
    """The advertised listener that names the kafka service: what containers must bootstrap from."""
    advertised = interpolate(
        environment(services(compose).get(KAFKA, {})).get("KAFKA_ADVERTISED_LISTENERS", "")
    )
    for listener in advertised.split(","):
        address = listener.split("://", 1)[-1]
        if address.startswith(f"{KAFKA}:"):
            return address
    return None


# --- the CLI ---------------------------------------------------------------------------------------


# Typer builds on its own copy of click, so commands are inspected by duck typing (``commands`` on a
# group, ``opts`` on an option), which also fits plain click (``contract_cli``).
CliCommand = Any


def real_cli() -> CliCommand:
    from producer.cli import app

    command = typer.main.get_command(app)
    assert getattr(command, "commands", None), "the seedstream app has no subcommands"
    return command


def option_names(command: CliCommand) -> dict[str, Any]:
    return {
        name: param
        for param in command.params
        if param.param_type_name == "option"
        for name in (*param.opts, *param.secondary_opts)
    }


def resolve_subcommand(cli: CliCommand, argv: list[str]) -> tuple[CliCommand | None, list[str], Problems]:
    """``["seedstream", "kafka", "start", "--port", "1"]`` → (the ``start`` command, its arguments)."""
    command = cli
    index = 1
    while hasattr(command, "commands") and index < len(argv) and not argv[index].startswith("-"):
        sub = command.commands.get(argv[index])
        if sub is None:
            known = ", ".join(sorted(command.commands))
            return None, [], [f"unknown subcommand {' '.join(argv[: index + 1])!r} (known: {known})"]
        command, index = sub, index + 1
    if hasattr(command, "commands"):
        return None, [], [f"{' '.join(argv[:index])!r} names a command group, not a command"]
    return command, argv[index:], []


def preset_problems(value: str) -> Problems:
    from producer.config import PRESETS

    if value in PRESETS:
        return (
            []
            if (ROOT / "configs" / f"{value}.yaml").is_file()
            else [f"preset {value!r} has no configs/{value}.yaml"]
        )
    path = Path(value)
    if path.parent.name == "configs" and (ROOT / "configs" / path.name).is_file():
        return []
    return [f"--config {value!r} is neither a preset ({', '.join(PRESETS)}) nor a file under configs/"]


# --- compose checks --------------------------------------------------------------------------------


def schema_problems(compose: dict[str, Any]) -> Problems:
    problems = [
        f"unknown top-level key {key!r}"
        for key in compose
        if key not in TOP_LEVEL_KEYS and not key.startswith("x-")
    ]
    if not services(compose):
        problems.append("no services")
    for name, service in services(compose).items():
        if not isinstance(service, dict):
            problems.append(f"{name}: not a mapping")
            continue
        problems += [f"{name}: unknown key {key!r}" for key in service if key not in SERVICE_KEYS]
        if "image" not in service and "build" not in service:
            problems.append(f"{name}: has neither image nor build")
        build = service.get("build")
        if isinstance(build, dict):
            context = (DEPLOY / build.get("context", ".")).resolve()
            if not (context / build.get("dockerfile", "Dockerfile")).is_file():
                problems.append(
                    f"{name}: build dockerfile {build.get('dockerfile')!r} not found in {context}"
                )
        for key in ("command", "entrypoint"):
            if key in service and not isinstance(service[key], list):
                problems.append(f"{name}: {key} must be a list (exec form), not a string")
    missing = EXPECTED_SERVICES - set(services(compose))
    if missing:
        problems.append(f"missing services: {sorted(missing)}")
    return problems


def port_problems(compose: dict[str, Any]) -> Problems:
    problems: Problems = []
    published: dict[int, str] = {}
    for name, service in services(compose).items():
        for entry in service.get("ports") or []:
            port = parse_port(entry)
            if port is None or port.host_ip != LOOPBACK:
                problems.append(f"{name}: port {entry!r} is not published as {LOOPBACK}:HOST:CONTAINER")
                continue
            if port.host_port in published:
                problems.append(
                    f"host port {port.host_port} published by both {published[port.host_port]} and {name}"
                )
            published[port.host_port] = name
    for name, host_port in sorted(EXPECTED_PORTS):
        if published.get(host_port) != name:
            problems.append(f"{name}: does not publish host port {host_port}")
    return problems


def healthcheck_problems(compose: dict[str, Any]) -> Problems:
    problems: Problems = []
    all_services = services(compose)
    for name in sorted(NEEDS_HEALTHCHECK):
        test = (all_services.get(name, {}).get("healthcheck") or {}).get("test")
        if not test:
            problems.append(f"{name}: has no healthcheck")
    kafka_test = " ".join(map(str, (all_services.get(KAFKA, {}).get("healthcheck") or {}).get("test") or []))
    if kafka_test and not re.search(r"/opt/kafka/bin/kafka-(broker-api-versions|topics)\.sh", kafka_test):
        problems.append(
            "kafka: healthcheck does not use the image's kafka-broker-api-versions.sh or kafka-topics.sh"
        )
    bootstrap = kafka_internal_bootstrap(compose)
    if kafka_test and (bootstrap is None or bootstrap not in kafka_test):
        problems.append(f"kafka: healthcheck does not query the advertised listener {bootstrap}")
    for name, service in all_services.items():
        argv = argv_of(service) or []
        if argv[:2] != ["seedstream", "produce"]:
            continue
        test = " ".join(map(str, (service.get("healthcheck") or {}).get("test") or []))
        api_port = option_value(argv, "--api-port") or "18000"
        if test and f"127.0.0.1:{api_port}/api/health" not in test:
            problems.append(f"{name}: healthcheck does not call /api/health on the sidecar port {api_port}")
    return problems


def depends_on_problems(compose: dict[str, Any]) -> Problems:
    problems: Problems = []
    all_services = services(compose)
    for name, service in all_services.items():
        depends = service.get("depends_on") or {}
        targets = depends if isinstance(depends, dict) else dict.fromkeys(depends, {})
        own_profiles = set(service.get("profiles") or [])
        for target, spec in targets.items():
            if target not in all_services:
                problems.append(f"{name}: depends on unknown service {target!r}")
                continue
            target_profiles = set(all_services[target].get("profiles") or [])
            if target_profiles and not (own_profiles and own_profiles <= target_profiles):
                problems.append(
                    f"{name}: depends on {target}, which is off unless profile {sorted(target_profiles)}"
                )
            condition = (spec or {}).get("condition", "service_started")
            if condition == "service_healthy" and not all_services[target].get("healthcheck"):
                problems.append(f"{name}: waits for {target} to be healthy, but {target} has no healthcheck")
    producer = all_services.get("producer", {}).get("depends_on") or {}
    if not isinstance(producer, dict) or (producer.get(KAFKA) or {}).get("condition") != "service_healthy":
        problems.append("producer: does not wait for kafka to be healthy")
    return problems


def volume_problems(compose: dict[str, Any]) -> Problems:
    problems: Problems = []
    declared = set((compose.get("volumes") or {}).keys())
    used: set[str] = set()
    all_services = services(compose)
    for name, service in all_services.items():
        for target, source in named_mounts(service).items():
            used.add(source)
            if source not in declared:
                problems.append(f"{name}: volume {source!r} (at {target}) is not declared under volumes:")
    problems += [
        f"volume {unused!r} is declared but no service uses it" for unused in sorted(declared - used)
    ]
    for name, service in all_services.items():
        argv = argv_of(service) or []
        if argv[:2] != ["seedstream", "stream"]:
            continue
        data_dir = (option_value(argv, "--data-dir") or "").rstrip("/")
        mounts = named_mounts(service)
        if data_dir not in mounts:
            problems.append(f"{name}: --data-dir {data_dir!r} is not on a named volume")
        checkpoints = mounts.get(f"{data_dir}/checkpoints")
        if checkpoints is None or checkpoints == mounts.get(data_dir):
            problems.append(f"{name}: {data_dir}/checkpoints is not on its own named volume")
    streaming_mounts = named_mounts(all_services.get("streaming", {}))
    worker_mounts = named_mounts(all_services.get("spark-worker", {}))
    for target, source in streaming_mounts.items():
        if worker_mounts.get(target) != source:
            problems.append(f"spark-worker: executors need volume {source!r} at {target}, like the driver")
    return problems


def command_problems(compose: dict[str, Any], cli: CliCommand) -> Problems:
    """Every ``seedstream`` command names a real subcommand, real flags and a real preset."""
    problems: Problems = []
    bootstrap = kafka_internal_bootstrap(compose)
    for name, service in services(compose).items():
        for key in ("entrypoint", "command"):
            argv = argv_of(service, key)
            if not argv or argv[0] != "seedstream":
                continue
            command, arguments, found = resolve_subcommand(cli, argv)
            problems += [f"{name}: {problem}" for problem in found]
            if command is not None:
                options = option_names(command)
                index = 0
                while index < len(arguments):
                    token = arguments[index].split("=", 1)[0]
                    param = options.get(token)
                    if not token.startswith("-"):
                        problems.append(f"{name}: unexpected argument {token!r} to {command.name}")
                    elif param is None:
                        problems.append(f"{name}: {command.name} has no option {token}")
                    elif not getattr(param, "is_flag", False) and "=" not in arguments[index]:
                        index += 1
                    index += 1
            problems += [f"{name}: {p}" for p in check_option_values(argv, service, bootstrap)]
    return problems


def check_option_values(argv: list[str], service: dict[str, Any], bootstrap: str | None) -> Problems:
    problems: Problems = []
    config = option_value(argv, "--config")
    if config is not None:
        problems += preset_problems(config)
    servers = option_value(argv, "--bootstrap-servers")
    if servers is not None and servers != bootstrap:
        problems.append(f"--bootstrap-servers {servers!r} is not kafka's advertised listener {bootstrap!r}")
    api_host = option_value(argv, "--api-host")
    if api_host is not None and api_host not in ("127.0.0.1", "localhost", "::1"):
        raw = str((service.get("environment") or {}).get("SEEDSTREAM_API_TOKEN", ""))
        if not REQUIRED_TOKEN.match(raw):
            problems.append(
                f"--api-host {api_host} needs SEEDSTREAM_API_TOKEN as a required variable "
                "(${SEEDSTREAM_API_TOKEN:?message}), not a default or nothing"
            )
    api_port = option_value(argv, "--api-port")
    if api_port is not None:
        container_ports = {
            port.container_port for port in map(parse_port, service.get("ports") or []) if port
        }
        if int(api_port) not in container_ports:
            problems.append(f"--api-port {api_port} is not a published container port")
    return problems


def spark_problems(compose: dict[str, Any]) -> Problems:
    """The cluster profile: master and worker from our image, wired to each other and to the driver."""
    from producer.config import StreamingSettings

    problems: Problems = []
    all_services = services(compose)
    master_argv = argv_of(all_services.get("spark-master", {})) or []
    worker_argv = argv_of(all_services.get("spark-worker", {})) or []
    if master_argv[:2] != ["spark-class", "org.apache.spark.deploy.master.Master"]:
        problems.append("spark-master: does not run org.apache.spark.deploy.master.Master via spark-class")
    if worker_argv[:2] != ["spark-class", "org.apache.spark.deploy.worker.Worker"]:
        problems.append("spark-worker: does not run org.apache.spark.deploy.worker.Worker via spark-class")
    master_url = f"spark://{option_value(master_argv, '--host')}:{option_value(master_argv, '--port')}"
    if master_url not in worker_argv:
        problems.append(f"spark-worker: does not register with the master at {master_url}")
    for name in ("spark-master", "spark-worker"):
        if set(all_services.get(name, {}).get("profiles") or []) != {"cluster"}:
            problems.append(f"{name}: not in (only) the 'cluster' profile")
        if all_services.get(name, {}).get("image") != all_services.get("streaming", {}).get("image"):
            problems.append(f"{name}: must run the streaming image (the driver's Spark, Python and jars)")
    ui_port = StreamingSettings().ui_port
    for name, service in all_services.items():
        argv = argv_of(service) or []
        if argv[:2] != ["seedstream", "stream"]:
            continue
        master = option_value(argv, "--master") or "local[*]"
        if not (master.startswith("local") or master == master_url):
            problems.append(f"{name}: --master {master!r} is neither local nor {master_url}")
        if ui_port not in {
            port.container_port for port in map(parse_port, service.get("ports") or []) if port
        }:
            problems.append(f"{name}: the Spark UI port {ui_port} is not published")
        if environment(service).get("SPARK_LOCAL_IP") != "0.0.0.0":
            problems.append(
                f"{name}: SPARK_LOCAL_IP must be 0.0.0.0, else the Spark UI listens on loopback only"
            )
    return problems


def kafka_problems(compose: dict[str, Any]) -> Problems:
    problems: Problems = []
    kafka = services(compose).get(KAFKA, {})
    image = str(kafka.get("image", ""))
    match = re.fullmatch(r"apache/kafka:(\d+)\.(\d+)\.(\d+)", image)
    pom = ElementTree.parse(BROKER_POM).getroot()
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    broker_version = pom.findtext("m:properties/m:kafka.version", namespaces=namespace)
    if match is None or match[1] != "4":
        problems.append(f"kafka: image {image!r} is not apache/kafka pinned to a 4.x.y tag")
    elif image.split(":")[1] != broker_version:
        problems.append(f"kafka: image {image} differs from the broker and tools version {broker_version}")
    env = {key: interpolate(value) for key, value in environment(kafka).items()}
    if set(env.get("KAFKA_PROCESS_ROLES", "").split(",")) != {"broker", "controller"}:
        problems.append("kafka: not a single KRaft node (KAFKA_PROCESS_ROLES=broker,controller)")
    if any("ZOOKEEPER" in key for key in env):
        problems.append("kafka: ZooKeeper settings in a KRaft stack")
    host_ports = [parse_port(entry) for entry in kafka.get("ports") or []]
    for port in filter(None, host_ports):
        if f"{LOOPBACK}:{port.host_port}" not in env.get("KAFKA_ADVERTISED_LISTENERS", ""):
            problems.append(
                f"kafka: host port {port.host_port} has no advertised listener {LOOPBACK}:{port.host_port}"
            )
        if f":{port.container_port}" not in env.get("KAFKA_LISTENERS", ""):
            problems.append(f"kafka: no listener on container port {port.container_port}")
    if not named_mounts(kafka).get(env.get("KAFKA_LOG_DIRS", "").rstrip("/")):
        problems.append("kafka: KAFKA_LOG_DIRS is not on a named volume")
    return problems


# --- Dockerfile ------------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions (continuations joined, comments dropped, ARG defaults applied)."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        logical.append(pending.strip())
        pending = ""
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            arguments[name] = default
        elif keyword == "FROM":
            parts = re.sub(r"--platform=\S+\s*", "", rest).split()
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: arguments.get(m[1], m[0]), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, base))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def ancestry(stages: list[Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, oldest first."""
    by_name = {stage.name: stage for stage in stages}
    chain: list[Stage] = []
    current = by_name.get(name)
    while current is not None:
        chain.insert(0, current)
        current = by_name.get(current.base)
    return chain


def copy_sources(arguments: str) -> tuple[dict[str, str], list[str]]:
    """``COPY --from=x a b dest`` → ({"from": "x"}, ["a", "b", "dest"])."""
    flags: dict[str, str] = {}
    tokens = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
    while tokens and tokens[0].startswith("--"):
        key, _, value = tokens.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, tokens


def env_of(chain: list[Stage]) -> dict[str, str]:
    env: dict[str, str] = {}
    for stage in chain:
        for keyword, rest in stage.instructions:
            if keyword == "ENV":
                env.update(token.split("=", 1) for token in shlex.split(rest) if "=" in token)
    return env


def dockerignored(pattern_path: str, ignore: list[str]) -> bool:
    top = pattern_path.strip("/").split("/")[0]
    return any(entry.strip("/") in (pattern_path.strip("/"), top) for entry in ignore)


def dockerfile_problems(text: str, compose: dict[str, Any]) -> Problems:
    problems: Problems = []
    stages = parse_dockerfile(text)
    names = {stage.name for stage in stages}
    ignore = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()[:1] not in ("", "#")
    ]
    for service_name, service in services(compose).items():
        build = service.get("build")
        target = build.get("target") if isinstance(build, dict) else None
        if target is not None and target not in names:
            problems.append(f"{service_name}: build target {target!r} is not a stage of deploy/Dockerfile")
    for stage in stages:
        base = stage.base
        if base == "scratch" or base in names:
            continue
        tag = base.split("@")[0].rpartition(":")[2] if ":" in base.split("/")[-1] else ""
        if "@sha256:" not in base and (not tag or tag == "latest" or not re.search(r"\d", tag)):
            problems.append(f"stage {stage.name}: base image {base!r} is not pinned to a version")
    python_bases = [stage.base for stage in stages if stage.base.startswith("python:")]
    if not python_bases or not all(re.match(r"python:3\.11[.\d]*-slim", base) for base in python_bases):
        problems.append(f"the Python base is not python:3.11-slim: {python_bases}")

    mvn_stage, jar_dir = None, None
    for stage in stages:
        for keyword, rest in stage.instructions:
            if keyword == "RUN" and re.search(r"\bmvn\b", rest):
                output = re.search(r"-DoutputDirectory=(\S+)", rest)
                if f"-f {SPARK_POM}" in rest and "dependency:copy-dependencies" in rest and output:
                    mvn_stage, jar_dir = stage.name, output[1].rstrip("/")
                    copied = [copy_sources(r)[1][:-1] for k, r in stage.instructions if k == "COPY"]
                    if not any(SPARK_POM in sources for sources in copied):
                        problems.append(f"stage {stage.name}: runs mvn on {SPARK_POM} without copying it in")
    if mvn_stage is None:
        problems.append(
            f"no RUN resolves the Spark jars with `mvn -f {SPARK_POM} dependency:copy-dependencies`"
        )
    for target in ("producer", "streaming"):
        chain = ancestry(stages, target)
        if not chain:
            problems.append(f"no stage {target!r}")
            continue
        instructions = [item for stage in chain for item in stage.instructions]
        users = [rest.split(":")[0] for keyword, rest in instructions if keyword == "USER"]
        if not users or users[-1] in ("root", "0"):
            problems.append(f"stage {target}: runs as root (no final non-root USER)")
        elif not any(
            keyword == "RUN" and "useradd" in rest and users[-1] in rest for keyword, rest in instructions
        ):
            problems.append(f"stage {target}: USER {users[-1]} is never created with useradd")
        if not any(
            keyword == "RUN" and re.search(r"pip install\b[^&;]*\s(-e\s+)?\.(\s|$)", rest)
            for keyword, rest in instructions
        ):
            problems.append(f"stage {target}: does not pip install the package")
    streaming_chain = ancestry(stages, "streaming")
    streaming_instructions = [item for stage in streaming_chain for item in stage.instructions]
    if not any(keyword == "RUN" and "openjdk-17-jre" in rest for keyword, rest in streaming_instructions):
        problems.append("stage streaming: installs no Java 17 runtime")
    jars_home = env_of(streaming_chain).get("SEEDSTREAM_JARS_DIR", "").rstrip("/")
    copied_jars = [
        tokens[-1].rstrip("/")
        for keyword, rest in streaming_instructions
        if keyword == "COPY"
        for flags, tokens in [copy_sources(rest)]
        if flags.get("from") == mvn_stage and jar_dir in tokens[:-1]
    ]
    if not jars_home or f"{jars_home}/spark" not in copied_jars:
        problems.append(
            f"stage streaming: the jars resolved into {jar_dir} are not copied to $SEEDSTREAM_JARS_DIR/spark "
            f"(SEEDSTREAM_JARS_DIR={jars_home!r}, copied to {copied_jars})"
        )
    for stage in stages:
        for keyword, rest in stage.instructions:
            if keyword not in ("COPY", "ADD"):
                continue
            flags, tokens = copy_sources(rest)
            if "from" in flags:
                if flags["from"] not in names:
                    problems.append(f"stage {stage.name}: COPY --from={flags['from']} names no stage")
                continue
            for source in tokens[:-1]:
                if not list(ROOT.glob(source)):
                    problems.append(f"stage {stage.name}: COPY source {source!r} does not exist")
                elif dockerignored(source, ignore):
                    problems.append(
                        f"stage {stage.name}: COPY source {source!r} is excluded by .dockerignore"
                    )
    return problems


def no_packages_problems(*texts: str) -> Problems:
    return [
        f"{needle!r} found: jars must come from {SPARK_POM}, resolved at build time"
        for text in texts
        for needle in ("spark.jars.packages", "--packages")
        if needle in text
    ]


def dockerignore_problems(text: str) -> Problems:
    entries = {line.strip().strip("/") for line in text.splitlines()}
    return [
        f".dockerignore does not exclude {name}"
        for name in (".venv", ".cache", ".seedstream", ".git", ".pytest_cache", "deploy/.env")
        if name not in entries
    ]


# --- tests -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def dockerfile_text() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def test_compose_schema_and_services(compose: dict[str, Any]) -> None:
    assert schema_problems(compose) == []


def test_ports_are_loopback_and_the_documented_ones(compose: dict[str, Any]) -> None:
    assert port_problems(compose) == []


def test_healthchecks(compose: dict[str, Any]) -> None:
    assert healthcheck_problems(compose) == []


def test_depends_on(compose: dict[str, Any]) -> None:
    assert depends_on_problems(compose) == []


def test_named_volumes_declared_and_used(compose: dict[str, Any]) -> None:
    assert volume_problems(compose) == []


@pytest.mark.parametrize("service", ["producer", "streaming", "producer-emulated", "streaming-emulated"])
def test_seedstream_commands_are_real(compose: dict[str, Any], service: str) -> None:
    """Checked against the real typer app: subcommand, every flag, the preset, bootstrap and token."""
    only = {"services": {service: services(compose)[service], KAFKA: services(compose)[KAFKA]}}
    assert (argv_of(services(compose)[service]) or [])[:1] == ["seedstream"]
    assert command_problems(only, real_cli()) == []


def test_spark_cluster_profile(compose: dict[str, Any]) -> None:
    assert spark_problems(compose) == []


def test_kafka_is_kraft_and_pinned(compose: dict[str, Any]) -> None:
    assert kafka_problems(compose) == []


def test_dockerfile(dockerfile_text: str, compose: dict[str, Any]) -> None:
    assert dockerfile_problems(dockerfile_text, compose) == []


def test_no_spark_jars_packages(dockerfile_text: str) -> None:
    assert no_packages_problems(dockerfile_text, COMPOSE_FILE.read_text(encoding="utf-8")) == []


def test_dockerignore() -> None:
    assert dockerignore_problems(DOCKERIGNORE.read_text(encoding="utf-8")) == []


# --- every check can fail ----------------------------------------------------------------------------


def contract_cli() -> click.Group:
    """The CLI contract (command and flag names), so these tests exercise the checks and not the real app."""
    cli = click.Group("seedstream")
    for name, flags in {
        "produce": ["--config", "--bootstrap-servers", "--data-dir", "--api-host", "--api-port"],
        "stream": ["--config", "--bootstrap-servers", "--data-dir", "--master"],
    }.items():
        cli.add_command(click.Command(name, params=[click.Option([flag]) for flag in flags]))
    return cli


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is None:
            del node[int(leaf) if isinstance(node, list) else leaf]
        elif isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return mutate


COMPOSE_MUTATIONS = {
    "kafka healthcheck removed": (
        _set("services.kafka.healthcheck", None),
        healthcheck_problems,
        "no healthcheck",
    ),
    "producer on all interfaces": (
        _set("services.producer.ports.0", "0.0.0.0:18000:18000"),
        port_problems,
        "not published as",
    ),
    "producer without host ip": (
        _set("services.producer.ports.0", "18000:18000"),
        port_problems,
        "not published",
    ),
    "seed port dropped": (
        _set("services.spark-master.ports.0", "127.0.0.1:17090:17080"),
        port_problems,
        "17080",
    ),
    "unknown subcommand": (_set("services.producer.command.1", "prodcue"), None, "unknown subcommand"),
    "unknown flag": (_set("services.streaming.command.2", "--konfig"), None, "has no option --konfig"),
    "unknown preset": (_set("services.streaming.command.3", "medium"), None, "neither a preset"),
    "wrong bootstrap": (_set("services.producer.command.5", "localhost:9092"), None, "advertised listener"),
    "token with a default": (
        _set("services.producer.environment.SEEDSTREAM_API_TOKEN", "${SEEDSTREAM_API_TOKEN:-changeme}"),
        None,
        "required variable",
    ),
    "command as a string": (
        _set("services.producer.command", "seedstream produce"),
        schema_problems,
        "exec form",
    ),
    "service without image": (_set("services.kafka.image", None), schema_problems, "neither image nor build"),
    "typo in a service key": (_set("services.kafka.helthcheck", {}), schema_problems, "unknown key"),
    "volume undeclared": (_set("volumes.checkpoints", None), volume_problems, "not declared"),
    "checkpoints not a volume": (
        _set("services.streaming.volumes.1", None),
        volume_problems,
        "own named volume",
    ),
    "worker without data": (_set("services.spark-worker.volumes.0", None), volume_problems, "executors need"),
    "depends on a profiled service": (
        _set("services.streaming.depends_on.spark-master", {"condition": "service_started"}),
        depends_on_problems,
        "off unless profile",
    ),
    "kafka unpinned": (_set("services.kafka.image", "apache/kafka:latest"), kafka_problems, "4.x.y"),
    "kafka not a KRaft node": (
        _set("services.kafka.environment.KAFKA_PROCESS_ROLES", "broker"),
        kafka_problems,
        "KRaft",
    ),
    "worker on another master": (
        _set("services.spark-worker.command.-1", "spark://elsewhere:7077"),
        spark_problems,
        "register",
    ),
    "spark ui on loopback": (
        _set("services.streaming.environment.SPARK_LOCAL_IP", None),
        spark_problems,
        "0.0.0.0",
    ),
}


@pytest.mark.parametrize("case", sorted(COMPOSE_MUTATIONS))
def test_checks_catch_compose_mistakes(compose: dict[str, Any], case: str) -> None:
    mutate, check, expected = COMPOSE_MUTATIONS[case]
    broken = copy.deepcopy(compose)
    mutate(broken)
    problems = check(broken) if check is not None else command_problems(broken, contract_cli())
    assert any(expected in problem for problem in problems), problems


DOCKERFILE_MUTATIONS = {
    "root user": (lambda text: text.replace("USER seedstream", "USER root"), "runs as root"),
    "no user": (lambda text: text.replace("USER seedstream\n", ""), "runs as root"),
    "unpinned base": (
        lambda text: text.replace("python:3.11.14-slim-bookworm", "python:latest"),
        "not pinned",
    ),
    "other pom": (lambda text: text.replace("-f deploy/jvm/spark/pom.xml", "-f pom.xml"), "no RUN resolves"),
    "missing source": (lambda text: text.replace("COPY configs ", "COPY presets "), "does not exist"),
    "jars elsewhere": (
        lambda text: text.replace("SEEDSTREAM_JARS_DIR=/opt/seedstream/jars", "SEEDSTREAM_JARS_DIR=/jars"),
        "not copied to $SEEDSTREAM_JARS_DIR/spark",
    ),
    "no java": (lambda text: text.replace("openjdk-17-jre-headless", "default-jre"), "no Java 17"),
    "no install": (lambda text: text.replace("pip install --no-deps -e .", "true"), "does not pip install"),
    "unknown target": (lambda text: text.replace("AS streaming", "AS spark"), "not a stage"),
}


@pytest.mark.parametrize("case", sorted(DOCKERFILE_MUTATIONS))
def test_checks_catch_dockerfile_mistakes(dockerfile_text: str, compose: dict[str, Any], case: str) -> None:
    mutate, expected = DOCKERFILE_MUTATIONS[case]
    broken = mutate(dockerfile_text)
    assert broken != dockerfile_text, "the mutation no longer applies: update it"
    problems = dockerfile_problems(broken, compose)
    assert any(expected in problem for problem in problems), problems


def test_checks_catch_packages_and_dockerignore() -> None:
    assert no_packages_problems("--conf spark.jars.packages=io.delta:delta-spark_2.13:4.0.0")
    assert dockerignore_problems(".git\n.venv\n") != []
