"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from producer.engine.engine import Engine
from producer.generation.testing import make_config


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine that was never run, no broker needed (emulated.5s: PT5S intervals, watermark PT5S)."""
    built = Engine(make_config("emulated.5s", seed=7), tmp_path / "data")
    yield built
    built.log.close()
