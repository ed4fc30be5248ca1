"""How every Kafka client reaches the cluster: one place turns :class:`KafkaConfig` into client settings.

:func:`client_options` gives the aiokafka keyword arguments (bootstrap, security protocol, SASL
credentials, TLS context) and :func:`spark_kafka_options` the same settings as ``kafka.*`` options of
Spark's Kafka source, so the producer, the admin and tail readers, the cleaner, the reachability check
and the streaming job all connect the same way. :func:`until_kafka_answers` and :func:`require_kafka`
wait a bounded time for a broker and tell the two failures apart: an unreachable broker
(:class:`KafkaUnavailableError`, worth waiting for) and refused credentials
(:class:`KafkaAuthenticationError`, never retried, because waiting cannot fix a wrong password).
Messages name the listener (address, protocol, mechanism, user) and never the password.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context

from producer.config import KafkaConfig
from producer.errors import BadInputError, KafkaAuthenticationError, KafkaUnavailableError, SeedstreamError

FAILURES: tuple[type[BaseException], ...] = (KafkaError, TimeoutError, OSError)
"""What a send, commit or connect may raise when the broker is away: all of them are retried."""

AUTHENTICATION_FAILURES: tuple[type[BaseException], ...] = (
    SaslAuthenticationFailed,
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    UnsupportedSaslMechanismError,
    IllegalSaslStateError,
    ssl.SSLError,
)
"""What the broker answers to credentials it refuses (or a TLS handshake that cannot succeed)."""

LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
"""The JAAS login module of each SASL mechanism, for the Java clients (Spark)."""

PROBE_TIMEOUT = 10.0


def uses_sasl(kafka: KafkaConfig) -> bool:
    """Whether the listener authenticates with SASL."""
    return kafka.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def uses_tls(kafka: KafkaConfig) -> bool:
    """Whether the listener speaks TLS."""
    return kafka.security_protocol in ("SSL", "SASL_SSL")


def describe_listener(kafka: KafkaConfig) -> str:
    """The listener as users name it: ``host:port`` plus protocol, mechanism and user when secured."""
    if kafka.security_protocol == "PLAINTEXT":
        return kafka.bootstrap_servers
    detail: str = kafka.security_protocol
    if uses_sasl(kafka):
        detail += f" {kafka.sasl_mechanism} as {kafka.sasl_username!r}"
    return f"{kafka.bootstrap_servers} ({detail})"


def _password(kafka: KafkaConfig) -> str:
    if kafka.sasl_password is None:  # the config validator guarantees it for SASL_*
        raise BadInputError("kafka.sasl_password is required for SASL: set SEEDSTREAM_KAFKA__SASL_PASSWORD")
    return kafka.sasl_password.get_secret_value()


def ssl_context(kafka: KafkaConfig) -> ssl.SSLContext:
    """The TLS context of the listener: the configured CA (else the system's) and client certificate.

    Raises:
        BadInputError: when a PEM file cannot be loaded, naming the setting.
    """
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None,
            certfile=str(kafka.ssl_certfile) if kafka.ssl_certfile else None,
            keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
        )
    except (ssl.SSLError, OSError) as error:
        files = ", ".join(
            f"{name}={path}"
            for name, path in (
                ("kafka.ssl_cafile", kafka.ssl_cafile),
                ("kafka.ssl_certfile", kafka.ssl_certfile),
                ("kafka.ssl_keyfile", kafka.ssl_keyfile),
            )
            if path is not None
        )
        raise BadInputError(
            f"cannot load the TLS files ({files or 'system CAs'}): {error}; "
            "give readable, unencrypted PEM files"
        ) from None
    return context


def client_options(kafka: KafkaConfig) -> dict[str, Any]:
    """The aiokafka keyword arguments that reach ``kafka``'s listener (producers, consumers, admins).

    Callers add their own client settings (acks, timeouts, isolation level) next to these.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    if uses_sasl(kafka):
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = _password(kafka)
    if uses_tls(kafka):
        options["ssl_context"] = ssl_context(kafka)
    return options


def _jaas_quoted(value: str) -> str:
    """``value`` as a JAAS option string: double-quoted, backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spark_kafka_options(kafka: KafkaConfig) -> dict[str, str]:
    """The same settings as ``kafka.*`` options of Spark's Kafka source (Java client names).

    SASL credentials go into ``kafka.sasl.jaas.config`` (Spark redacts it in its logs and UI); TLS
    uses PEM files: the CA file as a PEM truststore, and the client certificate and key either as one
    PEM keystore file (when certificate and key share a file) or as PEM values.
    """
    options = {
        "kafka.bootstrap.servers": kafka.bootstrap_servers,
        "kafka.security.protocol": kafka.security_protocol,
    }
    if uses_sasl(kafka):
        assert kafka.sasl_mechanism is not None and kafka.sasl_username is not None
        options["kafka.sasl.mechanism"] = kafka.sasl_mechanism
        options["kafka.sasl.jaas.config"] = (
            f"{LOGIN_MODULES[kafka.sasl_mechanism]} required "
            f"username={_jaas_quoted(kafka.sasl_username)} password={_jaas_quoted(_password(kafka))};"
        )
    if uses_tls(kafka):
        if kafka.ssl_cafile is not None:
            options["kafka.ssl.truststore.type"] = "PEM"
            options["kafka.ssl.truststore.location"] = str(kafka.ssl_cafile)
        if kafka.ssl_certfile is not None:
            options["kafka.ssl.keystore.type"] = "PEM"
            if kafka.ssl_keyfile is None or kafka.ssl_keyfile == kafka.ssl_certfile:
                options["kafka.ssl.keystore.location"] = str(kafka.ssl_certfile)
            else:
                try:
                    options["kafka.ssl.keystore.certificate.chain"] = kafka.ssl_certfile.read_text()
                    options["kafka.ssl.keystore.key"] = kafka.ssl_keyfile.read_text()
                except OSError as error:
                    raise BadInputError(
                        f"cannot read kafka.ssl_certfile/kafka.ssl_keyfile: {error.strerror}; "
                        "give readable PEM files"
                    ) from None
    return options


def unreachable_message(kafka: KafkaConfig, timeout: float, error: BaseException) -> str:
    """The one line every component prints when no broker answers at ``kafka``'s listener."""
    return (
        f"cannot reach Kafka at {describe_listener(kafka)} within {timeout:.0f} s ({type(error).__name__}): "
        "start a broker (`seedstream kafka start`) or pass --bootstrap-servers HOST:PORT"
    )


def authentication_message(kafka: KafkaConfig, error: BaseException) -> str:
    """The one line every component prints when the broker refuses our credentials."""
    detail = " ".join(str(error).split()) or type(error).__name__
    if uses_sasl(kafka):
        fix = "check kafka.sasl_username, kafka.sasl_mechanism and SEEDSTREAM_KAFKA__SASL_PASSWORD"
    else:
        fix = "check kafka.ssl_cafile, kafka.ssl_certfile and kafka.ssl_keyfile against the cluster"
    return f"Kafka authentication failed at {describe_listener(kafka)}: {detail}; {fix}"


async def admin_failure(kafka: KafkaConfig, error: BaseException, failed: str) -> SeedstreamError:
    """The one-line error for a Kafka operation that raised ``error``: refused credentials (told
    apart from an unreachable broker by :func:`refused_credentials`), else ``failed`` as given."""
    if isinstance(error, AUTHENTICATION_FAILURES):
        return KafkaAuthenticationError(authentication_message(kafka, error))
    refusal = await refused_credentials(kafka)
    if refusal is not None:
        return KafkaAuthenticationError(authentication_message(kafka, refusal))
    return SeedstreamError(failed)


async def refused_credentials(kafka: KafkaConfig, timeout: float = PROBE_TIMEOUT) -> BaseException | None:
    """Connect to the first bootstrap address and authenticate; the refusal, or None.

    aiokafka's clients log an authentication failure and report it as "unable to bootstrap", like an
    unreachable broker; this one direct connection tells the two apart. A broker that does not
    answer at all is not a refusal (None).
    """
    if kafka.security_protocol == "PLAINTEXT":
        return None
    hosts = collect_hosts(kafka.bootstrap_servers, randomize=False)
    if not hosts:
        return None
    host, port, _family = hosts[0]
    options = client_options(kafka)
    del options["bootstrap_servers"]
    try:
        connection = await asyncio.wait_for(
            create_conn(host, port, request_timeout_ms=int(timeout * 1000), **options), timeout=timeout
        )
    except AUTHENTICATION_FAILURES as error:
        return error
    except FAILURES:
        return None
    connection.close()
    return None


async def until_kafka_answers(
    kafka: KafkaConfig,
    timeout: float,
    attempt: Callable[[float], Awaitable[None]],
    on_failure: Callable[[BaseException], None] | None = None,
) -> None:
    """Retry ``attempt(seconds_left)`` with backoff until it succeeds or ``timeout`` has passed.

    Raises:
        KafkaAuthenticationError: at once when the broker refuses the credentials (not retried).
        KafkaUnavailableError: naming the listener and the fix when no broker answered in time.
    """
    deadline = time.monotonic() + timeout
    delay = 0.25
    while True:
        try:
            await attempt(max(1.0, deadline - time.monotonic()))
            return
        except AUTHENTICATION_FAILURES as error:
            raise KafkaAuthenticationError(authentication_message(kafka, error)) from None
        except FAILURES as error:
            if on_failure is not None:
                on_failure(error)
            seconds_left = max(1.0, deadline - time.monotonic())
            refusal = await refused_credentials(kafka, min(PROBE_TIMEOUT, seconds_left))
            if refusal is not None:
                raise KafkaAuthenticationError(authentication_message(kafka, refusal)) from None
            if time.monotonic() + delay >= deadline:
                raise KafkaUnavailableError(unreachable_message(kafka, timeout, error)) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def require_kafka(kafka: KafkaConfig, timeout: float) -> None:
    """Wait until ``kafka``'s listener answers a metadata request with our credentials, within ``timeout``.

    Raises:
        KafkaAuthenticationError: when the broker refuses the credentials.
        KafkaUnavailableError: naming the listener and the fix when none answered in time.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    async def list_topics(seconds_left: float) -> None:
        admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), timeout=seconds_left)
            await asyncio.wait_for(admin.list_topics(), timeout=seconds_left)
        finally:
            await quietly(admin.close(), 5.0)

    # The outcome is reported as one line; aiokafka's own per-attempt complaints would only repeat it.
    aiokafka_log = logging.getLogger("aiokafka")
    level = aiokafka_log.level
    aiokafka_log.setLevel(logging.CRITICAL)
    try:
        await until_kafka_answers(kafka, timeout, list_topics)
    finally:
        aiokafka_log.setLevel(level)


METADATA_BACKOFF_SECONDS = (0.2, 2.0)
"""The first and the longest wait after a failed metadata update (doubling in between)."""


def pace_metadata_updates(client: Any, backoff: tuple[float, float] = METADATA_BACKOFF_SECONDS) -> None:
    """Make every failed metadata update of aiokafka ``client`` wait before it reports the failure.

    aiokafka's producer asks for fresh metadata whenever a partition has no known leader, and asks
    again as soon as the answer arrives. With the broker gone the answer is an immediate failure
    (connection refused), so the sender spins at full CPU, logging two lines per turn, until the
    batch expires. Waiting ``backoff[0]`` seconds after the first failure, doubling up to
    ``backoff[1]``, bounds that loop; a successful update resets the wait. aiokafka offers no
    setting for it (``retry_backoff_ms`` does not apply there), so the client's bound method is
    wrapped on this one instance.
    """
    update = client._metadata_update
    first, longest = backoff
    delay = first

    async def paced(*args: Any, **kwargs: Any) -> Any:
        nonlocal delay
        updated = await update(*args, **kwargs)
        if updated:
            delay = first
        else:
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
        return updated

    client._metadata_update = paced


async def quietly(operation: Awaitable[Any], timeout: float) -> None:
    """Await ``operation`` within ``timeout``, ignoring its failure (used while tearing down)."""
    try:
        await asyncio.wait_for(operation, timeout=timeout)
    except Exception as error:  # noqa: BLE001 - teardown after a failure must not raise
        del error
