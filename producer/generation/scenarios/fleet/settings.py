"""The ``fleet`` section of the configuration: companies, drivers, event rate, cadence, emulated mode."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from producer.generation.clock import Duration, check_interval_length, format_duration, to_micros_delta


class FleetConfig(BaseModel):
    """Transportation companies onboarding on a cadence; their drivers emit events per interval.

    ``events_per_batch_range`` switches on emulated mode: each interval then holds a
    total number of events drawn uniformly from ``[min, max]`` and spread over the eligible drivers,
    instead of Poisson(``event_rate_per_driver``) events per driver.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    number_of_companies: int = Field(100, gt=0, description="Baseline companies, onboarded before the epoch.")
    drivers_per_company: int = Field(10, gt=0, le=999, description="Drivers per company (DRV-…-001…999).")
    event_rate_per_driver: float = Field(
        3.5, gt=0, le=10_000, description="Mean events per driver per 15 minutes (scaled to the interval)."
    )
    company_onboarding_interval: Duration = Field(
        timedelta(hours=1), description="Onboarding cadence (ISO 8601): a batch of companies per tick."
    )
    companies_per_onboarding_batch: int | None = Field(
        None,
        gt=0,
        description="Companies added per onboarding tick; default 10% of the baseline, at least 1.",
    )
    interval: Duration = Field(
        timedelta(minutes=15), description="Event interval length (ISO 8601); must divide a day."
    )
    events_per_batch_range: tuple[int, int] | None = Field(
        None, description="Emulated mode: [min, max] events per interval (inclusive)."
    )

    @model_validator(mode="after")
    def _check(self) -> FleetConfig:
        check_interval_length(self.interval)
        if to_micros_delta(self.interval) % 1_000_000:
            raise ValueError(f"interval {format_duration(self.interval)} must be whole seconds")
        if self.events_per_batch_range is not None:
            low, high = self.events_per_batch_range
            if low < 0 or high < low:
                raise ValueError(
                    f"events_per_batch_range {list(self.events_per_batch_range)} must be [min, max] "
                    "with 0 <= min <= max"
                )
        return self

    @property
    def onboarding_batch_size(self) -> int:
        """Companies per onboarding tick (``companies_per_onboarding_batch`` or its default)."""
        if self.companies_per_onboarding_batch is not None:
            return self.companies_per_onboarding_batch
        return max(1, self.number_of_companies // 10)

    @property
    def emulated(self) -> bool:
        """Whether emulated mode (fixed per-interval batch-size range) is on."""
        return self.events_per_batch_range is not None
