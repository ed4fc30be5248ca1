"""Test-run configuration: the fixture plugins every test may use.

Fixtures live in ``tests/fixtures/`` as plugins (Kafka, Spark, child processes and directories, a
headless browser); with ``CI=true`` a missing runtime fails the test instead of skipping it
(:func:`tests.fixtures.runtime.runtime_missing`).
"""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.spark",
    "tests.fixtures.processes",
    "tests.fixtures.browser",
]
