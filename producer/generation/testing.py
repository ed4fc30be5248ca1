"""One-line builders for tests: a config, a dataset, an interval's events.

``make_config("small", seed=5, fleet__number_of_companies=3)`` loads a preset and overrides
settings (``__`` separates nested keys); ``make_dataset`` adds an epoch (default
:data:`DEFAULT_EPOCH`) and a seed (the config's, else 7).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from producer.config import SeedstreamConfig, load_config
from producer.generation.dataset import Dataset
from producer.generation.scenarios.base import IntervalOutput
from producer.generation.scenarios.registry import get_scenario
from producer.generation.shard import Shard

DEFAULT_EPOCH = datetime(2025, 11, 8, tzinfo=UTC)
DEFAULT_SEED = 7


def make_config(preset: str = "small", **overrides: Any) -> SeedstreamConfig:
    """A validated config: ``preset`` (name or path) with ``overrides`` (``fleet__interval="PT5S"``)."""
    return load_config(preset, {key.replace("__", "."): value for key, value in overrides.items()})


def make_dataset(
    preset: str = "small", epoch: datetime = DEFAULT_EPOCH, seed: int | None = None, **overrides: Any
) -> Dataset:
    """A dataset over :func:`make_config`; the seed defaults to the config's, else :data:`DEFAULT_SEED`."""
    config = make_config(preset, **overrides)
    resolved = seed if seed is not None else config.seed if config.seed is not None else DEFAULT_SEED
    length = get_scenario(config.scenario).interval_length(config)
    return Dataset.create(config, epoch, length, seed=resolved)


def make_interval(
    dataset: Dataset, interval_start: datetime | None = None, shard: str | None = None
) -> IntervalOutput:
    """The serialized output of one interval (default: the epoch's), ``generation_time`` = interval_end."""
    scenario = get_scenario(dataset.config.scenario)
    start = interval_start or dataset.epoch
    return scenario.interval(
        dataset, start, Shard.parse(shard), generation_time=start + scenario.interval_length(dataset.config)
    )
