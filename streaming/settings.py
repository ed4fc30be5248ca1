"""The ``streaming`` section of the configuration: triggers, watermark, ports, master.

It lives in the one config tree (``SeedstreamConfig.streaming``), so a preset, the environment
(``SEEDSTREAM_STREAMING__WATERMARK_DELAY=PT5M``) and CLI flags all set it the usual way.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from producer.generation.scenarios.fleet.settings import Duration


class StreamingSettings(BaseModel):
    """How the Spark job runs.

    ``watermark_delay``: the watermark trails the largest event time seen by this much; records older
    than the watermark are quarantined as ``late``. ``allowed_lateness``: an interval is checked
    once the watermark passes ``interval_end + allowed_lateness``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    master: str | None = Field(
        None, description="Spark master URL; None: local[*], or whatever spark-submit was given."
    )
    trigger_interval: Duration = Field(
        timedelta(seconds=5), description="Processing-time trigger (ISO 8601)."
    )
    watermark_delay: Duration | None = Field(
        None, description="How far the watermark trails the max event time; default: one interval length."
    )
    allowed_lateness: Duration | None = Field(
        None, description="Extra wait after interval_end + watermark before checking; default: none (PT0S)."
    )
    max_offsets_per_trigger: int | None = Field(
        None, gt=0, description="Cap on event records per micro-batch (entities are never capped)."
    )
    shuffle_partitions: int = Field(2, gt=0)
    ui_port: int = Field(14040, ge=0, le=65535, description="Spark UI (Structured Streaming tab).")
    metrics_port: int | None = Field(
        19100,
        ge=0,
        le=65535,
        description="Prometheus endpoint on the driver; None disables it, 0 picks a free port.",
    )
    metrics_host: str = Field("127.0.0.1", description="Bind address of the Prometheus endpoint.")
    driver_memory: str = "2g"
    use_local_jars: bool = Field(
        True, description="Put the cached connector jars on spark.jars (else --jars)."
    )

    def delay(self, interval: timedelta) -> timedelta:
        """The effective watermark delay for intervals of length ``interval``."""
        return self.watermark_delay if self.watermark_delay is not None else interval

    def lateness(self) -> timedelta:
        """The effective allowed lateness."""
        return self.allowed_lateness if self.allowed_lateness is not None else timedelta(0)
