"""``seedstream init``: a short wizard that writes a validated YAML config and prints how to run it.

Five questions, each with a default and each also a flag (``--yes`` takes the defaults for the
questions no flag answered, so scripts never see a prompt):

1. **scenario**: one of the registered scenarios;
2. **scale**: one of that scenario's presets (``configs/<preset>.yaml``), listed with the first
   line of its description; the config starts as a copy of it;
3. **time range**: ``realtime`` or a backfill, a duration (``P7D``, ``PT6H``) from a start instant
   (an interval start; default: the duration before today's midnight UTC);
4. **seed**: an integer (default: the preset's seed, or 1 for presets that draw one);
5. **output**: ``kafka`` (the broker and the streaming job into Delta tables under a data dir) or
   ``files`` (``seedstream generate`` into a directory of JSON lines).

The YAML is validated exactly as every command loads it (:func:`producer.config.load_config`) and
the time range is checked against the scenario's interval before anything is written; the file is
written atomically and an existing one is kept unless ``--force``.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from producer import datadir
from producer.config import CONFIGS_DIR, PRESETS, SeedstreamConfig, load_config
from producer.errors import BadInputError
from producer.generation.clock import format_duration, format_instant, parse_duration, parse_instant

Output = Literal["kafka", "files"]
OUTPUTS: tuple[Output, ...] = ("kafka", "files")
REALTIME = "realtime"
DEFAULT_RANGE = "P1D"
DEFAULT_DATA_DIR = str(datadir.DEFAULT_DATA_DIR)
DEFAULT_FILES_DIR = "out"


@dataclass(frozen=True)
class Preset:
    """A preset as the wizard offers it: name, scenario, description (its leading comment), data."""

    name: str
    scenario: str
    description: str
    data: dict[str, Any]


def presets() -> list[Preset]:
    """Every preset, in the order of :data:`producer.config.PRESETS`."""
    found = []
    for name in PRESETS:
        path = CONFIGS_DIR / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        comment = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            comment.append(line.lstrip("# ").strip())
        data = yaml.safe_load(text) or {}
        found.append(Preset(name, str(data.get("scenario", "fleet")), " ".join(comment), data))
    return found


def scenarios() -> list[str]:
    """Scenarios with at least one preset, in preset order."""
    return list(dict.fromkeys(preset.scenario for preset in presets()))


def presets_of(scenario: str) -> list[Preset]:
    return [preset for preset in presets() if preset.scenario == scenario]


@dataclass(frozen=True)
class Answers:
    """What the wizard asked; ``start``/``duration`` are ``None`` for realtime."""

    scenario: str
    preset: str
    seed: int
    output: Output
    start: datetime | None
    duration: timedelta | None
    target: str
    """``kafka``: the data dir; ``files``: the directory ``generate`` writes."""

    @property
    def end(self) -> datetime | None:
        return None if self.start is None or self.duration is None else self.start + self.duration


def default_seed(preset: str) -> int:
    seed = next(p for p in presets() if p.name == preset).data.get("seed")
    return int(seed) if isinstance(seed, int) else 1


def default_start(duration: timedelta, today: datetime | None = None) -> datetime:
    """The backfill start offered by default: ``duration`` before today's midnight UTC."""
    now = today or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - duration


def parse_range(text: str) -> timedelta | None:
    """``realtime`` → ``None``; an ISO 8601 duration → it (positive); anything else: BadInputError."""
    if text.strip().lower() == REALTIME:
        return None
    try:
        duration = parse_duration(text.strip())
    except ValueError as error:
        raise BadInputError(
            f"time range {text!r}: {error}; give {REALTIME!r} or a duration like P7D or PT6H"
        ) from None
    if duration <= timedelta(0):
        raise BadInputError(f"time range {text!r}: must be longer than zero")
    return duration


def check_answers(answers: Answers) -> None:
    """Refuse answers that do not fit together (one line per problem)."""
    problems = []
    if answers.scenario not in scenarios():
        problems.append(f"scenario {answers.scenario!r}: not one of {', '.join(scenarios())}")
    elif answers.preset not in [preset.name for preset in presets_of(answers.scenario)]:
        names = ", ".join(preset.name for preset in presets_of(answers.scenario))
        problems.append(f"scale {answers.preset!r}: not a {answers.scenario} preset ({names})")
    if answers.output not in OUTPUTS:
        problems.append(f"output {answers.output!r}: not one of {', '.join(OUTPUTS)}")
    if answers.output == "files" and answers.start is None:
        problems.append("output files: needs a backfill time range (files are generated, not streamed)")
    if not 0 <= answers.seed < 2**63:
        problems.append(f"seed {answers.seed}: must lie within [0, 2^63)")
    if problems:
        raise BadInputError("\n".join(problems))


def render(answers: Answers) -> str:
    """The config's YAML text: the preset's settings with the seed, and comments saying how to run it."""
    preset = next(p for p in presets() if p.name == answers.preset)
    data = {key: value for key, value in preset.data.items() if key not in ("scenario", "seed")}
    body = yaml.dump(
        {"scenario": answers.scenario, "seed": answers.seed, **data},
        Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
    )  # fmt: skip
    when = (
        "realtime"
        if answers.start is None
        else f"backfill {short_instant(answers.start)} → {short_instant(answers.end)}"  # type: ignore[arg-type]
    )
    header = [
        f"Written by `seedstream init`: the {answers.scenario} scenario at the scale of the "
        f"{answers.preset} preset, seed {answers.seed}.",
        f"Run: {when}, output {answers.output} ({answers.target}).",
        f"Preset: {preset.description}" if preset.description else "",
    ]
    lines = [f"# {line}" for text in header if text for line in textwrap.wrap(text, 98)]
    return "\n".join(lines) + "\n" + body


class _Dumper(yaml.SafeDumper):
    """Block mappings, flow lists (``[1, 2]``): the presets' own style."""


def _flow_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(list, _flow_list)


def short_instant(instant: datetime) -> str:
    """``2025-11-08T00:00Z`` for whole minutes, the full ISO form otherwise."""
    if instant.second == 0 and instant.microsecond == 0:
        return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return format_instant(instant)


def commands(answers: Answers, config_path: Path) -> list[str]:
    """The commands that run the config, in order."""
    config = str(config_path)
    if answers.start is None:
        return [f"seedstream up --config {config} --data-dir {answers.target}"]
    window = f"--from {short_instant(answers.start)} --to {short_instant(answers.end)}"  # type: ignore[arg-type]
    if answers.output == "files":
        return [f"seedstream generate --config {config} {window} --out {answers.target}"]
    return [
        f"seedstream kafka start --data-dir {answers.target}",
        f"seedstream produce --config {config} {window} --data-dir {answers.target}",
        f"seedstream stream --config {config} --data-dir {answers.target} --available-now",
    ]


def write_config(answers: Answers, path: Path, force: bool = False) -> SeedstreamConfig:
    """Validate ``answers`` and write their config to ``path`` (atomically); nothing is written on error."""
    from producer.generation.reference import check_range

    check_answers(answers)
    if path.exists() and not force:
        raise BadInputError(f"{path} exists: pick another --out or pass --force to replace it")
    if path.is_dir():
        raise BadInputError(f"{path} is a directory: give a file name such as seedstream.yaml")
    if not path.parent.is_dir():
        raise BadInputError(f"{path.parent} does not exist: create it first or pick another --out")
    text = render(answers)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        settings = load_config(temporary)
        if answers.start is not None and answers.end is not None:
            try:
                check_range(settings, answers.start, answers.end)
            except BadInputError as error:
                raise BadInputError(
                    str(error).replace("--from", "start").replace("--to", "end of the time range")
                ) from None
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return settings


def describe_range(answers: Answers) -> str:
    if answers.start is None or answers.duration is None:
        return REALTIME
    return f"{format_duration(answers.duration)} from {short_instant(answers.start)}"


def parse_start(text: str) -> datetime:
    try:
        return parse_instant(text.strip())
    except ValueError as error:
        raise BadInputError(
            f"start {text!r}: {error}; give an ISO 8601 instant like 2025-11-08T00:00Z"
        ) from None
