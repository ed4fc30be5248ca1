"""`seedstream stream` against an address where no broker answers: one clear line, bounded time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from producer.stack.broker import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_stream_with_unreachable_kafka_fails_fast_with_one_line(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "producer.cli", "stream", "--config", "small", "--bootstrap-servers", address,
         "--data-dir", str(tmp_path / "data"), "--available-now"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False,
        env={**os.environ, "SEEDSTREAM_KAFKA__CONNECT_TIMEOUT_SECONDS": "3", "COLUMNS": "300"},
    )  # fmt: skip
    assert time.monotonic() - started < 45
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"cannot reach Kafka at {address}" in errors[0]
    assert "seedstream kafka start" in errors[0]
    assert not (tmp_path / "data" / "delta").exists()
