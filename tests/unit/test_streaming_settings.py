"""Streaming settings that cannot work together are refused with exit 2, naming the fields."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from producer.config import StreamingSettings, load_config
from producer.errors import BadInputError
from tests.fixtures.runtime import REPO_ROOT


def test_a_trigger_longer_than_the_interval_is_refused() -> None:
    settings = StreamingSettings(trigger_interval=timedelta(minutes=20))
    with pytest.raises(BadInputError, match=r"streaming.trigger_interval PT20M .* interval PT15M"):
        settings.check_timing(timedelta(minutes=15))
    StreamingSettings().check_timing(timedelta(minutes=15))


def test_a_zero_trigger_is_refused_naming_the_field() -> None:
    with pytest.raises(BadInputError, match="streaming.trigger_interval"):
        load_config("small", {"streaming.trigger_interval": "PT0S"})


def test_the_default_caps_every_micro_batch() -> None:
    assert load_config("small").streaming.max_offsets_per_trigger == 200_000


def test_stream_refuses_an_impossible_trigger_with_exit_2_before_touching_kafka() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "producer.cli", "stream", "--config", "small", "--available-now"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False,
        env={**os.environ, "SEEDSTREAM_STREAMING__TRIGGER_INTERVAL": "PT1H", "COLUMNS": "300"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "streaming.trigger_interval" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
