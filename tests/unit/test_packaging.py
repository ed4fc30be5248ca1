"""The package builds without deprecation warnings and declares its licence the way setuptools ≥77 wants.

The wheel is built from a copy of what the package needs (``pyproject.toml``, ``README.md``,
``LICENSE``, ``producer/``, ``streaming/``) with the virtualenv's setuptools and no network; a copy
with the old table form of ``project.license`` proves the check sees the warning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.fixtures.runtime import REPO_ROOT

PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE")
PACKAGE_DIRS = ("producer", "streaming")
WARNINGS = ("Deprecat", "BuildBackendWarning", "!!")


def _build(source: Path, out: Path) -> tuple[str, Path | None]:
    """Build a wheel of ``source`` into ``out``: pip's verbose output and the wheel (None on failure)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-v", str(source), "-w", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    wheels = sorted(out.glob("seedstream-*.whl"))
    return result.stdout + result.stderr, wheels[0] if result.returncode == 0 and wheels else None


def _source_copy(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in PACKAGE_FILES:
        shutil.copy2(REPO_ROOT / name, source / name)
    for name in PACKAGE_DIRS:
        shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    return source


def _warnings(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if any(word in line for word in WARNINGS)]


def test_the_wheel_builds_without_deprecation_warnings_and_carries_the_licence(tmp_path: Path) -> None:
    source = _source_copy(tmp_path)
    output, wheel = _build(source, tmp_path / "wheel")
    assert wheel is not None, output[-3000:]
    assert _warnings(output) == []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(name for name in names if name.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    for java in ("Parser", "Router", "RowCacheSerializer"):  # built by streaming.javabuild
        assert f"streaming/java/dev/seedstream/streaming/{java}.java" in names

    # the old table form is what setuptools warns about: the check sees it
    pyproject = source / "pyproject.toml"
    text = pyproject.read_text()
    current = 'license = "Apache-2.0"\nlicense-files = ["LICENSE"]\n'
    old = text.replace(current, 'license = { text = "Apache-2.0" }\n')
    assert old != text
    pyproject.write_text(old)
    output, _ = _build(source, tmp_path / "old")
    assert any("project.license" in line for line in _warnings(output)), output[-3000:]
