# seedstream: `make run` and `make test` are the whole quick start; both call `make setup`,
# which is idempotent (a virtualenv, the Python package with its dev extras, the JVM jar cache).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
JARS := .cache/jars
PYTEST_ARGS ?=

.PHONY: setup run test lint typecheck bench clean-cache

setup: $(VENV)/.installed $(JARS)/broker/.resolved $(JARS)/spark/.resolved $(JARS)/seedstream/.built

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip setuptools wheel
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

# One jar set per pom: the broker with its tools, and Spark's connectors. Never mixed.
# Maven's console library writes colour resets (ESC[0m) on exit even with -B and style.color=never;
# jansi.noreset (a JVM property, so in MAVEN_OPTS) keeps them off the terminal.
$(JARS)/%/.resolved: deploy/jvm/%/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is needed to fetch the JVM jars once: install maven" >&2; exit 2; }
	rm -rf $(JARS)/$*.tmp && mkdir -p $(JARS)
	MAVEN_OPTS="$$MAVEN_OPTS -Djansi.noreset=true" mvn -q -B -Dstyle.color=never -f $< dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(abspath $(JARS))/$*.tmp
	rm -rf $(JARS)/$* && mv $(JARS)/$*.tmp $(JARS)/$*
	@touch $@

# The pipeline's own Java code (streaming/java: the silver router), compiled with javac against the
# pyspark wheel's jars; a session also builds it on first use (streaming/javabuild.py).
$(JARS)/seedstream/.built: $(VENV)/.installed $(shell find streaming/java -name '*.java')
	$(BIN)/python -m streaming.javabuild >/dev/null
	@touch $@

run: setup
	$(BIN)/seedstream up

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check producer streaming tests bench

typecheck: setup
	$(BIN)/mypy --strict producer streaming

bench: setup
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean-cache:
	rm -rf $(JARS)
