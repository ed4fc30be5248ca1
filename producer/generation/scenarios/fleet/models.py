"""fleet record models: the values published on the fleet topics (and exported to ``schemas/``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from producer.generation.scenarios.declarations import Category, Counts, Reference

EventType = Literal["start driving", "stopped driving", "delivered"]
EVENT_TYPES: tuple[EventType, ...] = ("start driving", "stopped driving", "delivered")
EVENT_TYPE_WEIGHTS: tuple[float, ...] = (0.40, 0.35, 0.25)

SCHEMA_VERSION = 1

_UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_TIMESTAMP_DESCRIPTION = "ISO 8601 UTC with microseconds and Z, e.g. 2025-11-08T12:15:00.000000Z"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Company(_Record):
    """A transportation company (topic ``fleet.companies``, key ``company_id``)."""

    company_id: str = Field(pattern=_UUID_PATTERN, description="UUID derived from the seed and the ordinal.")
    geography: Literal["US"] = "US"
    active: bool = True
    created_at: AwareDatetime = Field(
        description="Onboarding instant (simulated time). " + _TIMESTAMP_DESCRIPTION
    )


class DriverEvent(_Record):
    """One driver event (topic ``fleet.driver-events``, key ``driver_id``)."""

    event_id: str = Field(pattern=_UUID_PATTERN, description="Deterministic UUID.")
    driver_id: str = Field(pattern=r"^DRV-.+-\d{3,}$", description="DRV-{company_id}-{seq:03d}, seq from 1.")
    company_id: Annotated[str, Reference("fleet.companies")] = Field(pattern=_UUID_PATTERN)
    truck_id: str = Field(
        pattern=r"^TRK-\d+-\d{4,}$", description="TRK-{seed}-{n:04d}, n the global driver number."
    )
    event_type: Annotated[EventType, Category()]
    timestamp: AwareDatetime = Field(
        description="In [interval_start, interval_end). " + _TIMESTAMP_DESCRIPTION
    )
    batch_id: str = Field(description="The interval's batch id, e.g. 20251108T1215Z.")


class DriverEventBatch(_Record):
    """An interval's ground truth for one shard (topic ``fleet.driver-batches``, key ``batch_id``)."""

    batch_id: str
    interval_start: AwareDatetime
    interval_end: AwareDatetime
    event_count: Annotated[int, Counts("fleet.driver-events")] = Field(ge=0)
    event_type_counts: Annotated[dict[EventType, int], Counts("fleet.driver-events", "event_type")] = Field(
        description="Events per event type (all three present)."
    )
    eligible_companies: int = Field(
        ge=0, description="Companies of this shard created before interval_start."
    )
    seed: int = Field(ge=0)
    shard: str = Field(pattern=r"^\d+/\d+$", description="i/N (0-based); 0/1 when unsharded.")
    generation_time: AwareDatetime = Field(
        description="Wall clock when published (the only non-deterministic field); "
        "`seedstream generate` writes interval_end."
    )
