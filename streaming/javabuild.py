"""The pipeline's own JVM code (``streaming/java``), compiled once into the jar cache.

Three classes today, in :file:`streaming/java/dev/seedstream/streaming/`: ``Parser.java`` (every
record parsed and checked once, see :mod:`streaming.validation`), ``Router.java`` (the silver
query's stateful router, see :mod:`streaming.router`) and ``RowCacheSerializer.java`` (the session's
cache of rows, ``spark.sql.cache.serializer``, see :mod:`streaming.session`). They are compiled with
the JDK's ``javac`` against the jars of the installed pyspark wheel (so they always match the Spark
that runs them) into
``<jar cache>/seedstream/seedstream-streaming-<digest>.jar``, the digest covering the sources and
the Spark version: an edit or a Spark upgrade builds a new jar, an unchanged tree reuses the old
one. ``make setup`` builds it; a session builds it on first use if it is missing. On a cluster,
pass the jar with ``spark-submit --jars`` (``python -m streaming.javabuild`` prints its path).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from producer.errors import SeedstreamError
from producer.stack.jvm import jars_root

log = logging.getLogger(__name__)

SOURCES = Path(__file__).resolve().parent / "java"
JAR_SET = "seedstream"
JAVA_RELEASE = "17"


def _sources() -> list[Path]:
    return sorted(SOURCES.rglob("*.java"))


def _spark_jars() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent / "jars"


def _digest(sources: list[Path]) -> str:
    from pyspark.version import __version__ as spark_version

    digest = hashlib.sha256(f"spark {spark_version}; release {JAVA_RELEASE}\n".encode())
    for source in sources:
        digest.update(str(source.relative_to(SOURCES)).encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _jdk_tool(name: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / name).exists():
        return str(Path(java_home) / "bin" / name)
    found = shutil.which(name)
    if found is None:
        raise SeedstreamError(
            f"{name} was not found: the streaming job compiles its parser and router once with a JDK "
            "(17 or newer); install one or set JAVA_HOME to it"
        )
    return found


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        log.error("%s failed (exit %d):\n%s%s", what, result.returncode, result.stdout, result.stderr)
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise SeedstreamError(f"{what} failed: {detail[0] if detail else f'exit {result.returncode}'}")


def streaming_jar() -> Path:
    """The compiled jar of ``streaming/java``, built now if this tree has no jar yet."""
    sources = _sources()
    if not sources:
        raise SeedstreamError(f"no Java sources under {SOURCES}: the installation is incomplete")
    directory = jars_root() / JAR_SET
    target = directory / f"seedstream-streaming-{_digest(sources)}.jar"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    javac, jar = _jdk_tool("javac"), _jdk_tool("jar")
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as work:
        classes = Path(work) / "classes"
        _run(
            [javac, "--release", JAVA_RELEASE, "-Xlint:all,-path", "-encoding", "UTF-8",
             "-cp", str(_spark_jars() / "*"), "-d", str(classes), *map(str, sources)],
            f"compiling {SOURCES}",
        )  # fmt: skip
        built = Path(work) / target.name
        _run([jar, "--create", "--file", str(built), "-C", str(classes), "."], f"packaging {target.name}")
        os.replace(built, target)  # atomic: a concurrent build of the same tree writes the same bytes
    for stale in directory.glob("seedstream-streaming-*.jar"):
        if stale != target:
            stale.unlink(missing_ok=True)
    log.info("built %s", target)
    return target


if __name__ == "__main__":
    import sys

    sys.stdout.write(f"{streaming_jar()}\n")
