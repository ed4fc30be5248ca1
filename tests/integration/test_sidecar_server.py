"""``seedstream produce`` serves the sidecar in its own event loop, refuses unsafe binds, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from producer.stack.broker import free_port
from tests.fixtures.processes import ProcessFactory
from tests.fixtures.runtime import SEEDSTREAM

pytestmark = pytest.mark.kafka


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEEDSTREAM_")}
    env.update(extra)
    return env


def test_non_loopback_bind_without_token_is_refused_by_the_cli(tmp_path: Path, kafka_bootstrap: str) -> None:
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [SEEDSTREAM, "produce", "--config", "emulated.5s", "--bootstrap-servers", kafka_bootstrap,
         "--data-dir", str(data_dir), "--api-host", "0.0.0.0", "--api-port", str(free_port())],
        capture_output=True, text=True, timeout=60, env=_env(), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    message = result.stderr.strip()
    assert "refusing to bind the sidecar API to 0.0.0.0 without a token" in message
    assert "SEEDSTREAM_API_TOKEN" in message and "Traceback" not in message
    assert len(message.splitlines()) == 1, message
    assert not data_dir.exists(), "nothing may be written before the refusal"


def test_produce_serves_the_sidecar_and_stops_with_the_engine(
    tmp_path: Path, kafka_bootstrap: str, unique_name: Callable[[str], str], producer_process: ProcessFactory
) -> None:
    port = free_port()
    env = _env(SEEDSTREAM_API_TOKEN="s3cret-token", SEEDSTREAM_KAFKA__TOPIC_PREFIX=unique_name("cli") + ".")
    process = producer_process(
        "--config", "emulated.5s", "--bootstrap-servers", kafka_bootstrap,
        "--data-dir", str(tmp_path / "data"), "--api-port", str(port), env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                reply = httpx.get(f"{base}/api/health", timeout=2)
                if reply.status_code == 200 and reply.json()["kafka"]["connected"]:
                    health = reply.json()
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert health is not None, f"no health answer; exit {process.poll()}"
        assert health["generation_mode"] == "emulated" and health["status"] == "running"
        assert httpx.post(f"{base}/api/pause", timeout=5).status_code == 401
        # a web page elsewhere (a CORS simple request) is refused even with the token, and so is a
        # rebinding domain's Host header; the producer keeps running
        bearer = {"Authorization": "Bearer s3cret-token"}
        page = {"Origin": "http://attacker.example", "Content-Type": "text/plain", **bearer}
        attack = httpx.post(f"{base}/api/pause", headers=page, content="x", timeout=5)
        assert attack.status_code == 403 and attack.json()["error"] == "cross_origin_refused"
        rebound = httpx.get(f"{base}/api/health", headers={"Host": f"attacker.example:{port}"}, timeout=5)
        assert rebound.status_code == 400 and rebound.json()["error"] == "host_not_allowed"
        assert httpx.get(f"{base}/api/health", timeout=5).json()["status"] == "running"
        paused = httpx.post(f"{base}/api/pause", headers={"Authorization": "Bearer s3cret-token"}, timeout=5)
        assert paused.status_code == 200 and paused.json()["paused"] is True
        same_origin = httpx.post(f"{base}/api/pause", headers={"Origin": base, **bearer}, timeout=5)
        assert same_origin.status_code == 200  # what Swagger UI at /docs sends
        assert "seedstream_paused 1.0" in httpx.get(f"{base}/metrics", timeout=5).text
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    assert process.returncode == 0, stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/api/health", timeout=2)
