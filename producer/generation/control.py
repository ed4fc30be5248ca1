"""Control records: what the producer tells every pipeline besides data, on the ground-truth topic.

One kind today, the **clean marker**. ``POST /api/clean`` deletes every record of the scenario's
topics, so a pipeline that was reading them is left with intervals it saw only part of (events
without their ground truth, or a ground truth without some events). After the deletion the sidecar
publishes one marker on the ground-truth topic: it is the first record a consumer reads after the
gap, ordered before anything published after the resume, and it survives restarts of any pipeline
(on this machine or not). It names the cleaned range: every interval up to and including
``cleaned_through`` may have lost records, so a pipeline reports those intervals as cleaned instead
of missing data.

The marker is recognised by its Kafka header ``seedstream-control: clean`` and, for consumers that
read values only, by its value's ``seedstream_control`` field; it carries no ``seed`` or
``batch_id`` header, so nothing takes it for an interval's ground truth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from producer.generation.serialization import dumps

CONTROL_HEADER = "seedstream-control"
"""The Kafka header that marks a control record; its value names the kind (``clean``)."""
CONTROL_FIELD = "seedstream_control"
"""The value field that names the control record's kind (the header's twin, for value-only readers)."""
CLEAN = "clean"
CLEAN_MARKER_KEY = b"seedstream-control:clean"
SHARD_PATTERN = r"^\d+/\d+$"


class CleanMarker(BaseModel):
    """The clean marker's value: which intervals a clean may have emptied, when, by which shard."""

    model_config = ConfigDict(extra="forbid")

    seedstream_control: Literal["clean"] = Field(description="The control record's kind.")
    cleaned_through: str = Field(
        pattern=r"^\d{8}T\d{4}(\d{2}(\.\d{6})?)?Z$",
        description="The newest interval (batch_id) the clean may have deleted records of.",
        examples=["20251108T1215Z"],
    )
    cleaned_at: AwareDatetime = Field(description="When the records were deleted (wall clock, UTC).")
    shard: str = Field(pattern=SHARD_PATTERN, description="The producer shard that cleaned (i/N).")


def clean_marker_value(cleaned_through: str, cleaned_at: datetime, shard: str) -> bytes:
    """The clean marker's value bytes (the one serializer's compact JSON)."""
    return dumps(
        CleanMarker(
            seedstream_control=CLEAN, cleaned_through=cleaned_through, cleaned_at=cleaned_at, shard=shard
        )
    )
