"""The scenario's topics on the broker: waiting for them to exist, and their partition counts.

The silver query reads each event topic partition as its own source (:mod:`streaming.job`), so the
job needs the partition counts before it plans its queries.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TYPE_CHECKING

from producer.kafka.client import client_options

if TYPE_CHECKING:
    from producer.config import SeedstreamConfig

log = logging.getLogger(__name__)


async def _partitions(config: SeedstreamConfig, topics: list[str]) -> dict[str, int]:
    """Kafka topic → its partition count, for the ``topics`` that exist (only those are described:
    describing a missing topic could create it on a broker that auto-creates topics)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_options(config.kafka), request_timeout_ms=10000)
    await asyncio.wait_for(admin.start(), timeout=15)
    try:
        listed = set(await asyncio.wait_for(admin.list_topics(), timeout=15))
        existing = [topic for topic in topics if topic in listed]
        described = await asyncio.wait_for(admin.describe_topics(existing), timeout=15) if existing else []
    finally:
        await admin.close()
    return {entry["topic"]: len(entry["partitions"]) for entry in described if entry["partitions"]}


def wait_for_topics(config: SeedstreamConfig, topics: list[str], every: float = 2.0) -> dict[str, int]:
    """Return each topic's partition count once every topic exists, saying once (on stderr and in
    the log) what it waits for."""
    said = False
    while True:
        partitions = asyncio.run(_partitions(config, topics))
        missing = [topic for topic in topics if topic not in partitions]
        if not missing:
            return partitions
        if not said:
            message = f"waiting for topics {', '.join(missing)} (start the producer, or create them)"
            print(message, file=sys.stderr)  # noqa: T201 - the one line a user sees
            log.info(message)
            said = True
        time.sleep(every)


def existing_topics(config: SeedstreamConfig, topics: list[str]) -> set[str]:
    """Which of ``topics`` exist on the broker now."""
    return set(asyncio.run(_partitions(config, topics)))
