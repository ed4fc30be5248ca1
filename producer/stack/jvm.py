"""Where the JVM jars live: two separate sets resolved once from Maven Central by ``make setup``.

``broker`` holds the Kafka broker and Kafka's own tools; ``spark`` holds Spark's connectors (the
Kafka source and Delta). They are never put on one classpath.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from producer.errors import SeedstreamError

JarSet = Literal["broker", "spark"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def jars_root() -> Path:
    """The jar cache: ``SEEDSTREAM_JARS_DIR`` if set, else ``.cache/jars`` in the project root."""
    override = os.environ.get("SEEDSTREAM_JARS_DIR")
    return Path(override).resolve() if override else PROJECT_ROOT / ".cache" / "jars"


def jar_dir(jar_set: JarSet) -> Path:
    """The directory of one resolved jar set; a clear error when it was never fetched."""
    directory = jars_root() / jar_set
    if not directory.is_dir() or not any(directory.glob("*.jar")):
        raise SeedstreamError(
            f"the {jar_set} jars are not in {directory}: run `make setup` once "
            f"(it resolves deploy/jvm/{jar_set}/pom.xml from Maven Central), "
            "or point SEEDSTREAM_JARS_DIR at an existing cache"
        )
    return directory


def jars(jar_set: JarSet) -> list[Path]:
    """Every jar of one set, sorted for a stable classpath."""
    return sorted(jar_dir(jar_set).glob("*.jar"))


def java_executable() -> str:
    """The ``java`` to launch: ``$JAVA_HOME/bin/java`` if set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise SeedstreamError("java was not found: install Java 17 or newer, or set JAVA_HOME")
    return found
