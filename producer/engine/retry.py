"""What the publisher retries, and how a stop ends a retry.

Only transient Kafka failures are retried (:data:`RETRIED`): the Kafka client's own failures, a
:class:`~producer.kafka.sink.SinkError` and :class:`~producer.errors.KafkaUnavailableError`. Bad
input, any other :class:`~producer.errors.SeedstreamError` and
:class:`~producer.errors.KafkaAuthenticationError` propagate at once. The loop itself is
:meth:`producer.engine.publisher.IntervalPublisher.until_sent`.
"""

from __future__ import annotations

from producer.errors import KafkaUnavailableError
from producer.kafka.sink import FAILURES, SinkError

MAX_BACKOFF_SECONDS = 10.0
RETRIED: tuple[type[BaseException], ...] = (SinkError, KafkaUnavailableError, *FAILURES)
"""The transient failures a send is retried after (with exponential backoff, up to
:data:`MAX_BACKOFF_SECONDS` between tries)."""


class StopRequested(Exception):
    """Raised when a stop interrupts a retry."""
