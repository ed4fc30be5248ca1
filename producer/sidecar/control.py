"""Pause, resume and clean as the sidecar performs them, with the one-time auto re-init after a clean.

After a clean, the first resume re-initialises the baseline before the engine continues: every
entity created before the latest complete interval (the baseline companies and later onboarding
batches), then that interval (its new entities, events and ground truth), published through the
engine's :class:`~producer.engine.publisher.IntervalPublisher` while the engine still waits paused,
so nothing races the run loop. The outcome is kept in :class:`~producer.sidecar.models.AutoReinit`
(sticky once performed) for the resume response and health.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from producer.engine.engine import Engine
from producer.errors import NotPausedError
from producer.generation.clock import align_down
from producer.generation.fault_settings import FaultChange, FaultsConfig
from producer.sidecar.cleaning import CleanReport, clean
from producer.sidecar.models import AutoReinit

REINIT_TIMEOUT = 60.0


class Control:
    """The sidecar's control surface over one engine (one per app)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.auto_reinit = AutoReinit()
        self._missing: list[str] | None = None
        self._lock = asyncio.Lock()

    def pause(self) -> bool:
        """Pause the engine; False when it already was."""
        return self.engine.pause("api")

    async def resume(self) -> bool:
        """Resume the engine (re-initialising first after a clean); False when it was running."""
        async with self._lock:
            if not self.engine.paused:
                return False
            if self._missing is not None:
                actions = await reinitialise(self.engine)
                self.auto_reinit = AutoReinit(
                    performed=True, at=datetime.now(UTC), actions=actions, missing_files=self._missing
                )
                self._missing = None
                self.engine.log.info("lifecycle", "auto re-initialised after clean", actions=actions)
            return self.engine.resume("api")

    async def clean(self) -> CleanReport:
        """Delete the generated data; the producer must be paused.

        Raises:
            NotPausedError: when it is not.
        """
        async with self._lock:
            if not self.engine.paused:
                raise NotPausedError(
                    "clean needs the producer paused: POST /api/pause first, then POST /api/clean"
                )
            report = await clean(self.engine)
            self._missing = sorted({*(self._missing or []), *report.removed})
            return report

    async def change_faults(self, faults: FaultsConfig) -> FaultChange:
        """Inject ``faults`` from the next interval on (:meth:`Engine.change_faults`), after making sure
        the fault-label topic exists when they inject anything.

        Raises:
            BadInputError: when a delay breaks a timing rule (before Kafka is asked anything).
            NotStartedError: before the engine started.
        """
        async with self._lock:
            self.engine.check_faults(faults)
            publisher = self.engine.started_publisher()
            if faults.enabled:
                await publisher.ensure_topics(labels=True)
            return self.engine.change_faults(faults, "api")


async def reinitialise(engine: Engine) -> list[str]:
    """Republish the entities and the latest complete interval; returns the actions or ``error:`` markers."""
    try:
        return await asyncio.wait_for(_republish(engine), REINIT_TIMEOUT)
    except TimeoutError:
        return [
            f"error: Kafka did not acknowledge within {REINIT_TIMEOUT:.0f} s; the engine publishes on resume"
        ]
    except Exception as error:  # noqa: BLE001 - reported in auto_reinit.actions, never a 500
        return [f"error: {type(error).__name__}: {error}"]


async def _republish(engine: Engine) -> list[str]:
    """Publish the older entities, then the latest complete interval (if any), through the publisher."""
    publisher, through = engine.publisher, engine.state.entities_through
    if publisher is None or through is None:
        return ["error: the engine has not started yet; it publishes the baseline when it does"]
    topics = publisher.factory.topics
    current = align_down(engine.now(), publisher.length)
    latest = current - publisher.length
    complete = latest >= publisher.factory.dataset.epoch and latest >= through
    sent = await publisher.publish_older_entities(latest if complete else current)
    actions = [f"{topics.name(spec)}:{sent.get(topics.name(spec), 0)}" for spec in topics.of_role("entities")]
    if complete:
        output = await publisher.publish_interval(latest)
        actions += [f"{topics.name(records.topic)}:{len(records)}" for records in output.events]
        actions.append(f"{topics.name(topics.ground_truth)}:{output.interval_id}")
    return actions
