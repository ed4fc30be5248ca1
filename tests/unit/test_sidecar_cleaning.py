"""Clean never touches a path outside the data dir, symlinks included, and waits for the interval
being published."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from producer.engine.engine import Engine
from producer.errors import SeedstreamError
from producer.generation.testing import make_config
from producer.sidecar import cleaning
from producer.sidecar.cleaning import CleanReport, generated_files, remove_files


def test_regular_files_inside_are_removed_and_temp_leftovers_found(tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = Engine(make_config("emulated.5s", seed=7), data)
    try:
        engine.store.save(engine.state)
        leftover = engine.paths.producer_dir / f".{engine.paths.state_file.name}.123.tmp"
        leftover.write_text("{}")
        other_shard = engine.paths.producer_dir / "state-1-of-2.json"
        other_shard.write_text("{}")
        candidates = generated_files(engine)
        assert set(candidates) == {engine.paths.state_file, engine.paths.manifest_file, leftover}
        report = CleanReport()
        remove_files(candidates, data, report)
        assert sorted(report.deleted_files) == sorted(map(str, candidates)) and not report.skipped
        assert not any(path.exists() for path in candidates)
        assert other_shard.exists() and engine.paths.descriptor_file.parent.exists()
    finally:
        engine.log.close()


def test_symlinks_to_outside_are_skipped_and_their_targets_untouched(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "producer").mkdir(parents=True)
    outside.mkdir()
    precious = outside / "precious.json"
    precious.write_text("keep me")
    link_out = data / "producer" / "manifest.json"
    link_out.symlink_to(precious)
    inner_target = data / "producer" / "real.json"
    inner_target.write_text("inside")
    link_in = data / "producer" / "state.json"
    link_in.symlink_to(inner_target)
    directory = data / "producer" / "manifest-0-of-2.json"
    directory.mkdir()

    report = CleanReport()
    remove_files([link_out, link_in, directory, data / "producer" / "absent.json"], data, report)
    assert precious.read_text() == "keep me" and link_out.is_symlink()
    assert report.deleted_files == [str(link_in)] and not link_in.exists() and inner_target.exists()
    reasons = dict(report.skipped)
    assert "outside the data dir" in reasons[str(link_out)]
    assert "not a regular file" in reasons[str(directory)]


def test_a_producer_dir_symlinked_outside_is_never_entered(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir()
    outside.mkdir()
    (outside / "state.json").write_text("not yours")
    (data / "producer").symlink_to(outside, target_is_directory=True)
    report = CleanReport()
    remove_files([data / "producer" / "state.json"], data, report)
    assert (outside / "state.json").read_text() == "not yours"
    assert not report.deleted_files and "resolves outside" in report.skipped[0][1]


def test_a_data_dir_given_through_a_symlink_still_works(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "producer").mkdir(parents=True)
    (real / "producer" / "state.json").write_text("{}")
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)
    report = CleanReport()
    remove_files([alias / "producer" / "state.json"], alias, report)
    assert report.deleted_files == [str(alias / "producer" / "state.json")]


async def test_clean_waits_for_the_interval_being_published(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pause takes effect between intervals: clean must not delete (nor send its marker inside)
    while an interval's transaction is still open, or the two transactions collide."""
    events: list[str] = []

    async def fake_clean(engine: object) -> CleanReport:
        events.append("clean")
        return CleanReport()

    monkeypatch.setattr(cleaning, "_clean", fake_clean)
    publisher = SimpleNamespace(publishing=asyncio.Lock())
    engine = SimpleNamespace(publisher=publisher)
    await publisher.publishing.acquire()
    task = asyncio.create_task(cleaning.clean(engine))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert events == [] and not task.done()
    events.append("interval published")
    publisher.publishing.release()
    await asyncio.wait_for(task, 5)
    assert events == ["interval published", "clean"]
    assert not publisher.publishing.locked()


async def test_clean_gives_up_with_one_line_when_the_interval_never_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cleaning, "MARKER_TIMEOUT", 0.05)
    publisher = SimpleNamespace(publishing=asyncio.Lock())
    await publisher.publishing.acquire()
    with pytest.raises(SeedstreamError, match="not acknowledged within .* clean again"):
        await cleaning.clean(SimpleNamespace(publisher=publisher))  # type: ignore[arg-type]
