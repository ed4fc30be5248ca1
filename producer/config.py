"""The one configuration model tree, and how it is loaded.

Sources, lowest to highest priority: a YAML preset or file → environment variables
``SEEDSTREAM_…`` (nested with ``__``, e.g. ``SEEDSTREAM_FLEET__NUMBER_OF_COMPANIES=5``) → CLI flags
(the ``overrides`` of :func:`load_config`). Unknown keys are errors; every problem is reported on
its own line naming the source, the field, the value and the rule, as a :class:`BadInputError`.

Scenario-specific settings live in their scenario's section (``fleet``, ``tapflow``, ``identity``);
other components add their own sections (``api``, ``streaming``) next to ``kafka``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

import producer
from producer.errors import BadInputError
from producer.generation.clock import Duration, format_duration
from producer.generation.fault_settings import FaultsConfig, check_fault_timing
from producer.generation.scenarios.fleet.settings import FleetConfig
from producer.generation.scenarios.identity.settings import IdentityConfig
from producer.generation.scenarios.tapflow.settings import TapflowConfig

CONFIGS_DIR = Path(producer.__file__).resolve().parent.parent / "configs"
"""Where the preset YAML files live (``configs/<name>.yaml``)."""

PRESETS = (
    "small", "base", "scaling", "emulated.5s", "emulated", "emulated.30s", "tapflow", "tapflow.small",
    "tapflow.emulated", "identity", "identity.small", "emulated.faults", "tapflow.faults",
)  # fmt: skip
ENV_PREFIX = "SEEDSTREAM_"
MAX_SEED = 2**63 - 1


DEFAULT_KAFKA_PORT = 9092
"""The client port of the local broker (``seedstream kafka start``) and of the default bootstrap."""


_HOST_PORT = re.compile(r"(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})")


class KafkaConfig(BaseModel):
    """Where and how records are published. Topic names are ``topic_prefix`` + the scenario's names
    (``fleet.companies``, ``fleet.driver-events``, ``fleet.driver-batches``); the prefix is empty by
    default and useful to isolate runs (``topic_prefix: "dev."`` → ``dev.fleet.companies``).

    Security: ``security_protocol`` SASL_PLAINTEXT or SASL_SSL needs ``sasl_mechanism``,
    ``sasl_username`` and ``sasl_password`` (best from ``SEEDSTREAM_KAFKA__SASL_PASSWORD``, so it is
    in no file); SSL and SASL_SSL verify the broker against ``ssl_cafile`` (else the system CAs) and
    present ``ssl_certfile``/``ssl_keyfile`` (PEM) when the cluster wants client certificates. Every
    Kafka client, aiokafka and Spark alike, is built from these settings by
    :mod:`producer.kafka.client`. The password is a ``SecretStr``: dumps and reprs mask it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: str = Field(f"127.0.0.1:{DEFAULT_KAFKA_PORT}", min_length=1)
    topic_prefix: str = Field("", description="Prepended to every topic name.")
    partitions: int = Field(3, gt=0, description="Partitions of each event topic (fleet.driver-events).")
    replication_factor: int = Field(1, gt=0)
    connect_timeout_seconds: float = Field(
        30.0, gt=0, le=3600, description="How long the producer waits for an unreachable bootstrap at start."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="The listener's protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism (SASL_* protocols only)."
    )
    sasl_username: str | None = Field(None, min_length=1, description="SASL user (SASL_* protocols only).")
    sasl_password: SecretStr | None = Field(
        None, description="SASL password; set it with SEEDSTREAM_KAFKA__SASL_PASSWORD, never in a file."
    )
    ssl_cafile: Path | None = Field(
        None, description="PEM file of the CAs that signed the brokers' certificates (default: system CAs)."
    )
    ssl_certfile: Path | None = Field(None, description="PEM client certificate (chain), for mutual TLS.")
    ssl_keyfile: Path | None = Field(None, description="PEM private key of ssl_certfile (unencrypted).")

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        for entry in value.split(","):
            match = _HOST_PORT.fullmatch(entry.strip())
            if match is None or not 1 <= int(match["port"]) <= 65535:
                raise ValueError(
                    f"{entry.strip()!r} is not host:port; give host:port[,host:port] "
                    "(e.g. 127.0.0.1:9092 or kafka-1:9092,kafka-2:9092, IPv6 as [::1]:9092)"
                )
        return ",".join(entry.strip() for entry in value.split(","))

    @field_validator("topic_prefix")
    @classmethod
    def _legal_prefix(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9._-]+", value):
            raise ValueError("may only contain letters, digits, '.', '_' and '-'")
        return value

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file {str(value)!r}: give the path of a PEM file")
        return value

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaConfig:
        """Refuse half-configured security, naming the missing or useless setting and the fix."""
        protocol = self.security_protocol
        problems = []
        if protocol.startswith("SASL_"):
            missing = [
                name
                for name, value in (
                    ("kafka.sasl_mechanism", self.sasl_mechanism),
                    ("kafka.sasl_username", self.sasl_username),
                    ("kafka.sasl_password", self.sasl_password),
                )
                if value is None
            ]
            if missing:
                problems.append(
                    f"security_protocol {protocol} needs {', '.join(missing)}: set them "
                    "(the password best as SEEDSTREAM_KAFKA__SASL_PASSWORD)"
                )
        else:
            stray = [
                name
                for name, value in (
                    ("kafka.sasl_mechanism", self.sasl_mechanism),
                    ("kafka.sasl_username", self.sasl_username),
                    ("kafka.sasl_password", self.sasl_password),
                )
                if value is not None
            ]
            if stray:
                problems.append(
                    f"{', '.join(stray)} set but security_protocol is {protocol}, which does not use SASL: "
                    "set kafka.security_protocol to SASL_PLAINTEXT or SASL_SSL, or remove them"
                )
        if not protocol.endswith("SSL"):
            stray = [
                name
                for name, value in (
                    ("kafka.ssl_cafile", self.ssl_cafile),
                    ("kafka.ssl_certfile", self.ssl_certfile),
                    ("kafka.ssl_keyfile", self.ssl_keyfile),
                )
                if value is not None
            ]
            if stray:
                problems.append(
                    f"{', '.join(stray)} set but security_protocol is {protocol}, which does not use TLS: "
                    "set kafka.security_protocol to SSL or SASL_SSL, or remove them"
                )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            problems.append("kafka.ssl_keyfile needs kafka.ssl_certfile (the key's certificate): set it")
        if problems:
            raise ValueError("; ".join(problems))
        return self


API_TOKEN_ENV = "SEEDSTREAM_API_TOKEN"  # noqa: S105 - the variable name, not a secret


def _token_from_environment() -> SecretStr | None:
    value = os.environ.get(API_TOKEN_ENV, "").strip()
    return SecretStr(value) if value else None


class ApiSettings(BaseModel):
    """The sidecar HTTP API. Loopback-only by default; a non-loopback ``host`` needs a ``token``.

    The token comes from ``SEEDSTREAM_API_TOKEN`` (or ``SEEDSTREAM_API__TOKEN``); when set, every
    POST route needs ``Authorization: Bearer <token>``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", min_length=1, description="Bind address (loopback unless a token is set).")
    port: int = Field(18000, ge=1, le=65535)
    token: SecretStr | None = Field(
        default_factory=_token_from_environment,
        description=f"Bearer token for POST routes ({API_TOKEN_ENV}).",
    )
    max_body_bytes: int = Field(
        64 * 1024, gt=0, le=16 * 1024 * 1024, description="Larger request bodies are refused with 413."
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description=(
            "Host names (no scheme or port) the sidecar answers to besides localhost, 127.0.0.1, [::1] and "
            "the bind host, e.g. a compose service name; other Host headers get 400 (DNS rebinding) and a "
            "browser Origin that is not one of these hosts on the served port gets 403. "
            "SEEDSTREAM_API__ALLOWED_HOSTS takes a JSON list or comma-separated names."
        ),
    )

    @field_validator("token")
    @classmethod
    def _blank_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        # from the environment: a JSON list or comma-separated names
        if value.lstrip().startswith("["):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                parsed = None
            if isinstance(parsed, list):
                return parsed
        return value.split(",")

    @field_validator("allowed_hosts")
    @classmethod
    def _bare_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        hosts: list[str] = []
        for host in (each.strip().lower() for each in value if each.strip()):
            ipv6 = host.removeprefix("[").removesuffix("]")
            if ":" in ipv6 and re.fullmatch(r"[0-9a-f:.]+", ipv6):
                hosts.append(f"[{ipv6}]")  # the form a Host header carries
            elif re.fullmatch(r"[a-z0-9._-]+", host):
                hosts.append(host)
            else:
                raise ValueError(
                    f"{host!r} is not a bare host name: give names like 'producer' or IPs like '10.0.0.5' "
                    "or 'fd00::1', without scheme, port or path"
                )
        return tuple(hosts)


class StreamingSettings(BaseModel):
    """How the Spark job runs.

    ``watermark_delay``: the watermark trails the largest event time seen by this much; records older
    than the watermark are quarantined as ``late``. ``allowed_lateness``: an interval is checked
    once the watermark passes ``interval_end + allowed_lateness``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    master: str | None = Field(
        None, description="Spark master URL; None: local[*], or whatever spark-submit was given."
    )
    trigger_interval: Duration = Field(
        timedelta(seconds=5), description="Processing-time trigger (ISO 8601)."
    )
    watermark_delay: Duration | None = Field(
        None, description="How far the watermark trails the max event time; default: one interval length."
    )
    allowed_lateness: Duration | None = Field(
        None, description="Extra wait after interval_end + watermark before checking; default: none (PT0S)."
    )
    max_offsets_per_trigger: int | None = Field(
        200_000,
        gt=0,
        description="Cap on records per micro-batch: per bronze query, and per event topic in silver "
        "(shared among its partitions; entities are never capped), so a backlog of any size drains in "
        "bounded micro-batches; None: no cap.",
    )
    shuffle_partitions: int = Field(2, gt=0)
    ui_port: int = Field(14040, ge=0, le=65535, description="Spark UI (Structured Streaming tab).")
    metrics_port: int | None = Field(
        19100,
        ge=0,
        le=65535,
        description="Prometheus endpoint on the driver; None disables it, 0 picks a free port.",
    )
    metrics_host: str = Field("127.0.0.1", description="Bind address of the Prometheus endpoint.")
    driver_memory: str = "2g"
    use_local_jars: bool = Field(
        True, description="Put the cached connector jars on spark.jars (else --jars)."
    )
    catalog: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Register tables as <catalog>.<scenario>_<layer>.<table> (e.g. Unity Catalog's main); "
        "None: the session's current catalog (locally, a persistent metastore under the data dir).",
    )

    @field_validator("trigger_interval", "watermark_delay", "allowed_lateness")
    @classmethod
    def _not_negative(cls, value: timedelta | None, info: ValidationInfo) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError(f"streaming.{info.field_name} must not be negative")
        if info.field_name == "trigger_interval" and value is not None and value <= timedelta(0):
            raise ValueError("streaming.trigger_interval must be longer than zero")
        return value

    def check_timing(self, interval: timedelta) -> None:
        """Refuse (BadInputError, exit 2) a trigger longer than the scenario's ``interval``: every
        micro-batch would span several intervals and intervals would close a trigger late."""
        if self.trigger_interval > interval:
            raise BadInputError(
                f"streaming.trigger_interval {format_duration(self.trigger_interval)} is longer than the "
                f"scenario's interval {format_duration(interval)}: set streaming.trigger_interval to at most "
                "the interval length"
            )

    def delay(self, interval: timedelta) -> timedelta:
        """The effective watermark delay for intervals of length ``interval``."""
        return self.watermark_delay if self.watermark_delay is not None else interval

    def lateness(self) -> timedelta:
        """The effective allowed lateness."""
        return self.allowed_lateness if self.allowed_lateness is not None else timedelta(0)


_PRESET_DATA: ContextVar[dict[str, Any] | None] = ContextVar("_PRESET_DATA", default=None)


class _YamlSource(PydanticBaseSettingsSource):
    """The lowest-priority source: the already-parsed YAML preset of the current :func:`load_config`."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_PRESET_DATA.get() or {})


class SeedstreamConfig(BaseSettings):
    """Everything a seedstream run is configured by.

    ``seed`` may be absent: :func:`producer.generation.dataset.resolve_seed` then draws one, and the dataset
    descriptor records it so restarts reproduce the same data.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True, validate_default=True
    )

    scenario: Literal["fleet", "tapflow", "identity"] = "fleet"
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Dataset seed; generated once when absent.")
    delivery: Literal["paced", "batch"] = Field(
        "paced", description="paced: each event at its timestamp; batch: the whole interval at its close."
    )
    fleet: FleetConfig = FleetConfig()
    tapflow: TapflowConfig = TapflowConfig()
    identity: IdentityConfig = IdentityConfig()
    kafka: KafkaConfig = KafkaConfig()
    streaming: StreamingSettings = StreamingSettings()
    api: ApiSettings = Field(default_factory=ApiSettings)
    faults: FaultsConfig = FaultsConfig()

    @model_validator(mode="after")
    def _faults_fit_the_timing(self) -> SeedstreamConfig:
        """Refuse fault delays the scenario's interval and the watermark make unreliable, each problem
        located at its ``faults.<kind>.delay`` (a plain ValueError here would name no field)."""
        interval: timedelta = getattr(self, self.scenario).interval
        problems = check_fault_timing(self.faults, interval, self.streaming.delay(interval))
        if problems:
            raise ValidationError.from_exception_data(
                "SeedstreamConfig",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("fault_timing", rule),
                        loc=("faults", kind, "delay"),
                        input=[format_duration(each) for each in delay],
                    )
                    for kind, delay, rule in problems
                ],
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlSource(settings_cls)


def resolve_config_path(path_or_preset: str) -> Path:
    """A preset name (``small``) → ``configs/small.yaml``; anything else is a file path."""
    if path_or_preset in PRESETS or (CONFIGS_DIR / f"{path_or_preset}.yaml").is_file():
        return CONFIGS_DIR / f"{path_or_preset}.yaml"
    path = Path(path_or_preset)
    if not path.is_file():
        raise BadInputError(
            f"config {path_or_preset!r} is neither a file nor a preset; presets: {', '.join(PRESETS)}"
        )
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise BadInputError(f"{path}: cannot read YAML: {str(error).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: the top level must be a mapping of settings, not {type(data).__name__}")
    return data


def _nested(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"fleet.seed": 1}`` or ``{"fleet": {"seed": 1}}`` → nested dict; ``None`` values are skipped."""
    result: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return result


def _source_of(loc: tuple[str | int, ...], path: Path, overrides: dict[str, Any]) -> str:
    keys = [str(part) for part in loc]
    env_name = ENV_PREFIX + "__".join(keys).upper()
    node: Any = overrides
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if node is not None:
        return "command line"
    if env_name in {name.upper() for name in os.environ}:
        return f"environment {env_name}"
    return str(path)


def format_validation_error(error: ValidationError, path: Path, overrides: dict[str, Any]) -> str:
    """One line per problem: ``source: field: value: rule``."""
    lines = []
    for problem in error.errors():
        loc = tuple(problem["loc"])
        field = ".".join(str(part) for part in loc) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling; unknown keys are not allowed)"
        elif problem["type"] == "missing":
            message = "required setting is missing"
        value = problem.get("input")
        shown = "" if problem["type"] == "missing" or isinstance(value, dict) else f" = {value!r}"
        lines.append(f"{_source_of(loc, path, overrides)}: {field}{shown}: {message}")
    return "\n".join(lines)


def load_config(path_or_preset: str, overrides: Mapping[str, Any] | None = None) -> SeedstreamConfig:
    """Load and validate the configuration.

    Args:
        path_or_preset: a preset name (``small``, ``emulated.5s``, …) or a YAML file path.
        overrides: CLI-flag values, highest priority; keys may be dotted (``"kafka.topic_prefix"``).

    Raises:
        BadInputError: with one line per problem (file or env var, field, value, rule).
    """
    path = resolve_config_path(path_or_preset)
    data = _read_yaml(path)
    nested = _nested(overrides or {})
    _check_environment()
    token = _PRESET_DATA.set(data)
    try:
        return SeedstreamConfig(**nested)
    except ValidationError as error:
        raise BadInputError(format_validation_error(error, path, nested)) from None
    except SettingsError as error:
        # pydantic-settings could not decode a complex value (JSON) from the environment.
        field = str(error).split('"')[1] if '"' in str(error) else "?"
        names = sorted(name for name in os.environ if name.upper().startswith(f"{ENV_PREFIX}{field.upper()}"))
        raise BadInputError(
            f"environment {', '.join(names) or ENV_PREFIX + field.upper()}: not valid JSON for {field}; "
            f"give JSON (e.g. {ENV_PREFIX}{field.upper()}='{{\"key\": 1}}') or set nested keys with __"
        ) from None
    finally:
        _PRESET_DATA.reset(token)


TOOL_ENVIRONMENT = frozenset(
    {API_TOKEN_ENV, "SEEDSTREAM_JARS_DIR", "SEEDSTREAM_PRESET", "SEEDSTREAM_SPARK_MASTER"}
)
"""``SEEDSTREAM_…`` variables that are not settings of the config tree (read by other components)."""


def _check_environment() -> None:
    """Refuse ``SEEDSTREAM_…`` variables that name no setting (a typo would otherwise be ignored)."""
    known = set(SeedstreamConfig.model_fields)
    problems = [
        f"environment {name}: unknown setting {name[len(ENV_PREFIX):].split('__')[0].lower()!r} "
        f"(check the spelling; top-level settings: {', '.join(sorted(known))})"
        for name in sorted(os.environ)
        if name.upper().startswith(ENV_PREFIX)
        and name.upper() not in TOOL_ENVIRONMENT
        and name[len(ENV_PREFIX) :].split("__")[0].lower() not in known
    ]
    if problems:
        raise BadInputError("\n".join(problems))
