"""One Kafka layer: aiokafka and Spark options from one config, security validation, secrets masked."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from pydantic import SecretStr

from producer.config import KafkaConfig, load_config
from producer.errors import BadInputError, KafkaAuthenticationError, KafkaUnavailableError
from producer.kafka.client import (
    authentication_message,
    client_options,
    describe_listener,
    pace_metadata_updates,
    spark_kafka_options,
    unreachable_message,
    until_kafka_answers,
)
from producer.stack.broker import BrokerUser, free_port

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-Unit-Pa55"  # noqa: S105 - a test value
SCRAM = {
    "bootstrap_servers": "127.0.0.1:9093",
    "security_protocol": "SASL_PLAINTEXT",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "alice",
    "sasl_password": PASSWORD,
}


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A self-signed certificate (also its own CA), its key, and both in one file."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("pem")
    cert, key, both = directory / "cert.pem", directory / "key.pem", directory / "both.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    both.write_text(key.read_text() + cert.read_text())
    return cert, key, both


def scram(**changes: Any) -> KafkaConfig:
    return KafkaConfig(**{**SCRAM, **changes})


def test_plaintext_options_are_just_the_address() -> None:
    kafka = KafkaConfig(bootstrap_servers="b1:9092,b2:9092")
    assert client_options(kafka) == {"bootstrap_servers": "b1:9092,b2:9092", "security_protocol": "PLAINTEXT"}
    assert spark_kafka_options(kafka) == {
        "kafka.bootstrap.servers": "b1:9092,b2:9092",
        "kafka.security.protocol": "PLAINTEXT",
    }
    assert describe_listener(kafka) == "b1:9092,b2:9092"


@pytest.mark.parametrize(
    ("mechanism", "module"),
    [
        ("SCRAM-SHA-512", "org.apache.kafka.common.security.scram.ScramLoginModule"),
        ("SCRAM-SHA-256", "org.apache.kafka.common.security.scram.ScramLoginModule"),
        ("PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule"),
    ],
)
def test_sasl_options_for_aiokafka_and_spark(mechanism: str, module: str) -> None:
    kafka = scram(sasl_mechanism=mechanism)
    assert client_options(kafka) == {
        "bootstrap_servers": "127.0.0.1:9093",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "alice",
        "sasl_plain_password": PASSWORD,
    }
    assert spark_kafka_options(kafka) == {
        "kafka.bootstrap.servers": "127.0.0.1:9093",
        "kafka.security.protocol": "SASL_PLAINTEXT",
        "kafka.sasl.mechanism": mechanism,
        "kafka.sasl.jaas.config": f'{module} required username="alice" password="{PASSWORD}";',
    }


def test_jaas_values_are_quoted_and_escaped() -> None:
    jaas = spark_kafka_options(scram(sasl_username='a"b', sasl_password='p\\q"r'))["kafka.sasl.jaas.config"]
    assert jaas.endswith(' required username="a\\"b" password="p\\\\q\\"r";')


def test_tls_options_use_the_pem_files(pem_files: tuple[Path, Path, Path]) -> None:
    cert, key, both = pem_files
    kafka = scram(security_protocol="SASL_SSL", ssl_cafile=cert, ssl_certfile=cert, ssl_keyfile=key)
    options = client_options(kafka)
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_plain_password"] == PASSWORD
    spark = spark_kafka_options(kafka)
    assert spark["kafka.security.protocol"] == "SASL_SSL"
    assert (spark["kafka.ssl.truststore.type"], spark["kafka.ssl.truststore.location"]) == ("PEM", str(cert))
    assert spark["kafka.ssl.keystore.type"] == "PEM"
    assert spark["kafka.ssl.keystore.certificate.chain"] == cert.read_text()
    assert spark["kafka.ssl.keystore.key"] == key.read_text()
    combined = spark_kafka_options(KafkaConfig(security_protocol="SSL", ssl_certfile=both))
    assert combined["kafka.ssl.keystore.location"] == str(both)
    assert "kafka.ssl.truststore.location" not in combined and "kafka.sasl.jaas.config" not in combined
    assert isinstance(client_options(KafkaConfig(security_protocol="SSL"))["ssl_context"], ssl.SSLContext)


def test_an_unloadable_pem_file_is_bad_input(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(BadInputError, match="kafka.ssl_cafile="):
        client_options(KafkaConfig(security_protocol="SSL", ssl_cafile=junk))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secured.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("kafka_yaml", "expected"),
    [
        ("security_protocol: SASL_SSL\n  sasl_mechanism: PLAIN\n",
         "security_protocol SASL_SSL needs kafka.sasl_username, kafka.sasl_password"),
        ("security_protocol: SASL_PLAINTEXT\n  sasl_username: u\n  sasl_password: p\n",
         "needs kafka.sasl_mechanism"),
        ("sasl_username: u\n", "kafka.sasl_username set but security_protocol is PLAINTEXT"),
        ("security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: GSSAPI\n",
         "kafka.sasl_mechanism = 'GSSAPI': Input should be 'PLAIN', 'SCRAM-SHA-256' or 'SCRAM-SHA-512'"),
        ("security_protocol: TLS\n", "kafka.security_protocol = 'TLS': Input should be"),
        ("security_protocol: SSL\n  ssl_cafile: /nonexistent/ca.pem\n",
         "kafka.ssl_cafile = '/nonexistent/ca.pem': no such file '/nonexistent/ca.pem'"),
    ],
)  # fmt: skip
def test_incomplete_security_is_refused_naming_field_and_fix(
    tmp_path: Path, kafka_yaml: str, expected: str
) -> None:
    with pytest.raises(BadInputError) as caught:
        load_config(str(write(tmp_path, f"kafka:\n  {kafka_yaml}")))
    assert expected in str(caught.value)


def test_tls_files_need_a_tls_protocol_and_a_key_needs_its_certificate(
    pem_files: tuple[Path, Path, Path],
) -> None:
    cert, key, _ = pem_files
    with pytest.raises(ValueError, match="kafka.ssl_cafile set but security_protocol is PLAINTEXT"):
        KafkaConfig(ssl_cafile=cert)
    with pytest.raises(ValueError, match="kafka.ssl_keyfile needs kafka.ssl_certfile"):
        KafkaConfig(security_protocol="SSL", ssl_keyfile=key)


def test_password_from_the_environment_is_masked_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "kafka:\n  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: SCRAM-SHA-512\n"
        "  sasl_username: alice\n",
    )
    monkeypatch.setenv("SEEDSTREAM_KAFKA__SASL_PASSWORD", PASSWORD)
    config = load_config(str(path), {"kafka.bootstrap_servers": "127.0.0.1:9093"})
    assert config.kafka.sasl_password == SecretStr(PASSWORD)
    assert client_options(config.kafka)["sasl_plain_password"] == PASSWORD
    # dataset.json records config.model_dump(mode="json"): the password is masked there.
    dumped = json.dumps(config.model_dump(mode="json"))
    for text in (repr(config), str(config), config.model_dump_json(), dumped):
        assert PASSWORD not in text
    assert '"sasl_password":"**********"' in config.model_dump_json()
    messages = [
        describe_listener(config.kafka),
        unreachable_message(config.kafka, 3, KafkaConnectionError("closed")),
        authentication_message(config.kafka, SaslAuthenticationFailed("invalid credentials")),
    ]
    assert messages[0] == "127.0.0.1:9093 (SASL_PLAINTEXT SCRAM-SHA-512 as 'alice')"
    assert all(PASSWORD not in message and "\n" not in message for message in messages)
    assert messages[2].startswith(
        "Kafka authentication failed at 127.0.0.1:9093 (SASL_PLAINTEXT SCRAM-SHA-512 as 'alice'):"
    )


def test_a_refusal_is_not_retried_and_unreachable_is_kafka_unavailable() -> None:
    calls = 0

    async def refused(seconds_left: float) -> None:
        nonlocal calls
        calls += 1
        raise SaslAuthenticationFailed("Authentication failed due to invalid credentials")

    with pytest.raises(KafkaAuthenticationError, match="authentication failed at 127.0.0.1:9093"):
        asyncio.run(asyncio.wait_for(until_kafka_answers(scram(), 30, refused), timeout=10))
    assert calls == 1

    address = f"127.0.0.1:{free_port()}"

    async def unreachable(seconds_left: float) -> None:
        raise KafkaConnectionError("Unable to bootstrap")

    with pytest.raises(KafkaUnavailableError, match=f"cannot reach Kafka at {address}"):
        kafka = scram(bootstrap_servers=address)
        asyncio.run(asyncio.wait_for(until_kafka_answers(kafka, 1, unreachable), 20))


def test_local_broker_user_is_validated() -> None:
    assert BrokerUser("alice", SecretStr("fine-Pa55 word")).username == "alice"
    with pytest.raises(BadInputError, match="--sasl-user"):
        BrokerUser("al ice", SecretStr("x"))
    for bad in ("", 'with"quote', "a,b", "a]b", "a=b"):
        with pytest.raises(BadInputError, match="--sasl-password"):
            BrokerUser("alice", SecretStr(bad))


def test_kafka_start_refuses_a_password_without_a_user(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "producer.cli", "kafka", "start", "--data-dir", str(tmp_path),
         "--sasl-password", "x"],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--sasl-password needs --sasl-user" in result.stderr
    assert not (tmp_path / "kafka").exists()


@pytest.mark.parametrize("paced", [False, True])
def test_failed_metadata_updates_back_off_instead_of_spinning(paced: bool) -> None:
    """With the broker gone aiokafka's metadata update fails at once; paced, retrying it is cheap."""
    from aiokafka.client import AIOKafkaClient

    async def attempts_in(seconds: float) -> int:
        client = AIOKafkaClient(bootstrap_servers=f"127.0.0.1:{free_port()}")
        if paced:
            pace_metadata_updates(client)
        count, loop = 0, asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            assert not await client._metadata_update(client.cluster, [])
            count += 1
        await client.close()
        return count

    count = asyncio.run(attempts_in(1.0))
    if paced:
        assert count <= 4, count  # 0.2 + 0.4 + 0.8 s
    else:
        assert count > 100, "aiokafka no longer fails at once: the pacing may be unnecessary"
