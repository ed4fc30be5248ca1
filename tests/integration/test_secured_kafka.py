"""A SASL_PLAINTEXT SCRAM-SHA-512 cluster, for real: produce and stream with the password from the
environment only, silver equals ``generate``; a wrong password fails at once with one clear line and
writes nothing; the password shows up in no file, log, output or sidecar response."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from producer.errors import SeedstreamError
from producer.generation.clock import format_instant
from producer.generation.testing import DEFAULT_EPOCH
from producer.stack.broker import BrokerInfo, BrokerUser, LocalBroker, free_port
from tests.fixtures.runtime import runtime_missing
from tests.integration.streaming_support import (
    SEEDSTREAM,
    StreamCase,
    event_tuples,
    generate,
    make_case,
    silver_events,
    table,
)

pytestmark = [pytest.mark.kafka, pytest.mark.spark]

INTERVALS = 3
LENGTH = timedelta(minutes=15)
"""The interval of the ``small`` preset."""
USER = "seedstream-it"
PASSWORD = "Sc4m-" + os.urandom(6).hex() + "-pw"  # unique: any occurrence in a file is a leak
WRONG = "not-the-" + os.urandom(4).hex()


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BrokerInfo, Path]]:
    """Its own local KRaft broker with one SASL_PLAINTEXT SCRAM-SHA-512 listener; (info, its data dir)."""
    home = tmp_path_factory.mktemp("secured-kafka")
    broker = LocalBroker(home, port=free_port(), user=BrokerUser(USER, SecretStr(PASSWORD)))
    try:
        info = broker.start(timeout=120)
    except SeedstreamError as error:
        runtime_missing(f"no secured Kafka broker could be started: {error}")
    try:
        yield info, home
    finally:
        broker.stop()


def secured_env(case: StreamCase, password: str) -> dict[str, str]:
    """The case's environment plus the listener's security; the password only from the environment."""
    return {
        **case.env,
        "SEEDSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SEEDSTREAM_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "SEEDSTREAM_KAFKA__SASL_USERNAME": USER,
        "SEEDSTREAM_KAFKA__SASL_PASSWORD": password,
        "SEEDSTREAM_KAFKA__CONNECT_TIMEOUT_SECONDS": "20",
        "COLUMNS": "400",
    }


def seedstream(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDSTREAM, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd
    )


def produce_args(case: StreamCase, data_dir: Path, intervals: int) -> list[str]:
    return [
        "produce", "--config", "small", "--bootstrap-servers", case.bootstrap, "--data-dir", str(data_dir),
        "--from", format_instant(DEFAULT_EPOCH), "--to", format_instant(DEFAULT_EPOCH + intervals * LENGTH),
        "--api-port", str(free_port()),
    ]  # fmt: skip


def stream_args(case: StreamCase, data_dir: Path) -> list[str]:
    return ["stream", "--config", "small", "--bootstrap-servers", case.bootstrap, "--data-dir", str(data_dir),
            "--available-now"]  # fmt: skip


def files_containing(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def assert_refused(result: subprocess.CompletedProcess[str], listener: str) -> None:
    """Non-zero exit and exactly one error line naming the listener and "authentication failed"."""
    assert result.returncode != 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: Kafka authentication failed at "), errors[0]
    assert listener in errors[0] and "authentication failed" in errors[0]
    assert WRONG not in result.stderr + result.stdout


def health_while_running(case: StreamCase, data_dir: Path) -> tuple[str, str]:
    """Run a realtime producer with its sidecar on a fresh prefix; its /api/health and /api/logs bodies."""
    port = free_port()
    env = {**secured_env(case, PASSWORD), "SEEDSTREAM_KAFKA__TOPIC_PREFIX": case.prefix + "health."}
    process = subprocess.Popen(
        [SEEDSTREAM, "produce", "--config", "small", "--bootstrap-servers", case.bootstrap,
         "--data-dir", str(data_dir), "--api-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=data_dir,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.communicate(timeout=30)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as response:
                    health = response.read().decode()
                if json.loads(health)["kafka"]["connected"]:
                    break
            except (urllib.error.URLError, ConnectionError, KeyError):
                pass
            assert time.monotonic() < deadline, "the sidecar did not report a Kafka connection within 90 s"
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/logs?limit=500", timeout=10) as response:
            logs = response.read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate(timeout=30)
    assert PASSWORD not in out + err
    return health, logs


def test_secured_produce_and_stream_equal_generate_and_keep_the_password_secret(
    secured_broker: tuple[BrokerInfo, Path],
    data_dir_factory: Callable[[str], Path],
    unique_name: Callable[[str], str],
    request: pytest.FixtureRequest,
) -> None:
    info, broker_home = secured_broker
    assert info.security_protocol == "SASL_PLAINTEXT" and info.sasl_mechanism == "SCRAM-SHA-512"
    case = make_case(info.bootstrap, data_dir_factory("secured"), unique_name("sec") + ".")
    env = secured_env(case, PASSWORD)
    outputs: list[str] = []

    produced = seedstream(produce_args(case, case.data_dir / "producer", INTERVALS), env, case.data_dir)
    outputs += [produced.stdout, produced.stderr]
    assert produced.returncode == 0, produced.stderr
    streamed = seedstream(stream_args(case, case.data_dir), env, case.data_dir, timeout=420)
    outputs += [streamed.stdout, streamed.stderr]
    assert streamed.returncode == 0, streamed.stderr
    expected = generate(case, INTERVALS)

    # Spark in this process only now, after the stream's own Spark has exited.
    spark = request.getfixturevalue("spark")
    assert silver_events(spark, case) == event_tuples(expected["events"])
    assert table(spark, case, "silver", "driver_events").count() == len(expected["events"])
    companies = table(spark, case, "silver", "companies").collect()
    assert sorted(row.company_id for row in companies) == sorted(
        company["company_id"] for company in expected["entities"]
    )
    checks = table(spark, case, "checks", "interval_checks").collect()
    assert checks and {row.status for row in checks} == {"complete"}

    # A wrong password: one clear line, non-zero exit, nothing written to a fresh data dir.
    listener = f"{info.bootstrap} (SASL_PLAINTEXT SCRAM-SHA-512 as '{USER}')"
    wrong = secured_env(case, WRONG)
    fresh_producer, fresh_stream = data_dir_factory("refused-producer"), data_dir_factory("refused-stream")
    started = time.monotonic()
    refused = seedstream(produce_args(case, fresh_producer, INTERVALS), wrong, fresh_producer, timeout=120)
    assert_refused(refused, listener)
    refused_stream = seedstream(stream_args(case, fresh_stream), wrong, fresh_stream, timeout=120)
    assert_refused(refused_stream, listener)
    assert time.monotonic() - started < 60, "a refusal must not wait out the connect timeout"
    assert list(fresh_producer.iterdir()) == [] and list(fresh_stream.iterdir()) == []
    outputs += [refused.stdout, refused.stderr, refused_stream.stdout, refused_stream.stderr]

    # The sidecar of a running secured producer: neither /api/health nor /api/logs shows the password.
    health, logs = health_while_running(case, data_dir_factory("health"))
    assert json.loads(health)["kafka"]["bootstrap"] == info.bootstrap
    assert PASSWORD not in health and PASSWORD not in logs

    assert not any(PASSWORD in text for text in outputs)
    leaks = files_containing(case.data_dir.parent, PASSWORD) + files_containing(broker_home, PASSWORD)
    assert leaks == [], f"the password was written to {leaks}"
    # The broker's own JAAS login file lives only while the broker starts.
    assert not (broker_home / "kafka" / "broker-jaas.conf").exists()
