"""The streaming job's own Java code: compiled once per source tree, reused, clear when no JDK."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from producer.errors import SeedstreamError
from streaming import javabuild


def test_the_router_jar_is_built_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEEDSTREAM_JARS_DIR", str(tmp_path))
    (tmp_path / "seedstream").mkdir()
    stale = tmp_path / "seedstream" / "seedstream-streaming-000000000000.jar"
    stale.write_bytes(b"an older tree's jar")
    jar = javabuild.streaming_jar()
    assert jar.parent == tmp_path / "seedstream"
    with zipfile.ZipFile(jar) as archive:
        assert "dev/seedstream/streaming/Router.class" in archive.namelist()
        assert "dev/seedstream/streaming/RowCacheSerializer.class" in archive.namelist()
    assert not stale.exists()
    built = jar.stat().st_mtime_ns
    assert javabuild.streaming_jar() == jar
    assert jar.stat().st_mtime_ns == built  # not rebuilt
    assert list((tmp_path / "seedstream").iterdir()) == [jar]  # no build directory left behind


def test_an_edit_to_the_sources_names_a_new_jar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = javabuild.SOURCES
    copy = tmp_path / "java"
    for source in sorted(original.rglob("*.java")):
        target = copy / source.relative_to(original)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    before = javabuild._digest(sorted(original.rglob("*.java")))  # noqa: SLF001
    monkeypatch.setattr(javabuild, "SOURCES", copy)
    copied = sorted(copy.rglob("*.java"))
    assert javabuild._digest(copied) == before  # noqa: SLF001 - the digest is of content, not location
    copied[0].write_text(copied[0].read_text() + "\n// an edit\n")
    assert javabuild._digest(copied) != before  # noqa: SLF001


def test_no_jdk_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEEDSTREAM_JARS_DIR", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SeedstreamError, match="javac was not found: .*install one or set JAVA_HOME"):
        javabuild.streaming_jar()


def test_a_compile_error_is_one_line_naming_the_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "java" / "Broken.java"
    broken.parent.mkdir()
    broken.write_text("class Broken { int x = ; }\n")
    monkeypatch.setattr(javabuild, "SOURCES", broken.parent)
    monkeypatch.setenv("SEEDSTREAM_JARS_DIR", str(tmp_path / "jars"))
    with pytest.raises(SeedstreamError) as raised:
        javabuild.streaming_jar()
    message = str(raised.value)
    assert message.startswith(f"compiling {broken.parent} failed: ")
    assert "\n" not in message
    assert not list((tmp_path / "jars" / "seedstream").glob("*.jar"))
