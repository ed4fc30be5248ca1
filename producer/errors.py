"""The error taxonomy: every user-facing failure is a :class:`SeedstreamError` subclass.

The CLI prints one line and exits with ``exit_code``; the sidecar maps each class to an HTTP status
through one table (``producer.sidecar.app``). Only :class:`KafkaUnavailableError` (and the Kafka
client's own transient failures) is ever retried; bad input never is.
"""

from __future__ import annotations


class SeedstreamError(Exception):
    """A user-facing failure: the message says what was wrong and how to fix it.

    ``exit_code`` is 2 for bad input (config, flags) and 1 for runtime failures.
    """

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class BadInputError(SeedstreamError):
    """Bad user input (a config value, a flag, a request): exit status 2, HTTP 422."""

    exit_code = 2


class NotPausedError(SeedstreamError):
    """An operation that needs the producer paused (clean) was asked of a running one: HTTP 409."""


class NotStartedError(SeedstreamError):
    """An operation that needs the producer started (its dataset loaded) was asked too early: HTTP 409."""


class KafkaUnavailableError(SeedstreamError):
    """No broker answered in time: transient, retried by the engine, HTTP 503 from the sidecar."""


class KafkaAuthenticationError(SeedstreamError):
    """The broker refused our credentials: never retried, HTTP 502 from the sidecar."""
