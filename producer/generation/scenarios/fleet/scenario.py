"""The fleet scenario behind the :class:`~producer.generation.scenarios.base.Scenario` interface.

Topics (before the configurable prefix): ``fleet.companies`` (key company_id, compacted),
``fleet.driver-events`` (key driver_id), ``fleet.driver-batches`` (key batch_id).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import numpy as np

from producer.config import SeedstreamConfig
from producer.generation.clock import from_micros
from producer.generation.dataset import Dataset
from producer.generation.scenarios.base import IntervalOutput, Records, ReportAccumulator, Scenario, TopicSpec
from producer.generation.scenarios.fleet import generate
from producer.generation.scenarios.fleet.models import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    Company,
    DriverEvent,
    DriverEventBatch,
)
from producer.generation.serialization import (
    dumps,
    fixed_width_rows,
    timestamp_matrix,
    uuid_matrix,
    uuid_strings,
)
from producer.generation.shard import Shard

COMPANIES = TopicSpec(
    "fleet.companies", "entities", Company, "company_id", True, SCHEMA_VERSION, time_field="created_at"
)
DRIVER_EVENTS = TopicSpec(
    "fleet.driver-events", "events", DriverEvent, "driver_id", False, SCHEMA_VERSION,
    time_field="timestamp", id_field="event_id",
)  # fmt: skip
DRIVER_BATCHES = TopicSpec(
    "fleet.driver-batches", "ground_truth", DriverEventBatch, "batch_id", False, SCHEMA_VERSION
)


class _DriverFragments:
    """Each driver's id and JSON fragment (``"driver_id":…,"company_id":…,"truck_id":…``), cached.

    Indexed by driver number − 1 (``ordinal × drivers_per_company + seq − 1``); fragments are kept as
    a NUL-padded byte matrix plus lengths, for :func:`~producer.generation.serialization.fixed_width_rows`.
    """

    def __init__(self, seed: int, drivers_per_company: int) -> None:
        self.seed = seed
        self.drivers_per_company = drivers_per_company
        self.driver_ids = np.empty(0, dtype=object)
        self.matrix = np.zeros((0, 0), dtype=np.uint8)
        self.lengths = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()

    def ensure(self, companies: int) -> None:
        """Cover all drivers of companies ``0 … companies-1``."""
        drivers = self.drivers_per_company
        if companies * drivers <= self.lengths.size:
            return
        with self._lock:
            have = self.lengths.size // drivers
            ids = generate.company_ids(self.seed).ensure(companies)
            new_ids: list[bytes] = []
            new_fragments: list[bytes] = []
            for ordinal in range(have, companies):
                company = ids[ordinal]
                for seq in range(1, drivers + 1):
                    driver_id = f"DRV-{company}-{seq:03d}"
                    new_ids.append(driver_id.encode())
                    new_fragments.append(
                        f'"driver_id":"{driver_id}","company_id":"{company}",'
                        f'"truck_id":"TRK-{self.seed}-{ordinal * drivers + seq:04d}"'.encode()
                    )
            width = max([self.matrix.shape[1], *map(len, new_fragments)])
            fragments = np.array(new_fragments, dtype=f"S{width}").view(np.uint8).reshape(-1, width)
            old = np.zeros((self.matrix.shape[0], width), dtype=np.uint8)
            old[:, : self.matrix.shape[1]] = self.matrix
            self.matrix = np.concatenate([old, fragments])
            self.lengths = np.concatenate(
                [self.lengths, np.array(list(map(len, new_fragments)), dtype=np.int64)]
            )
            self.driver_ids = np.concatenate([self.driver_ids, np.array(new_ids, dtype=object)])


class FleetScenario(Scenario):
    """Companies onboarding on a cadence; their drivers' events per interval; ground truth per shard."""

    name: ClassVar[str] = "fleet"

    def __init__(self) -> None:
        self._fragments: dict[tuple[int, int], _DriverFragments] = {}
        self._lock = threading.Lock()

    def topics(self) -> tuple[TopicSpec, ...]:
        return (COMPANIES, DRIVER_EVENTS, DRIVER_BATCHES)

    def interval_length(self, config: SeedstreamConfig) -> timedelta:
        return config.fleet.interval

    def expected_records(self, dataset: Dataset, interval_start: datetime, shard: Shard) -> float:
        """Eligible drivers × λ (or the emulated range's mean), plus truth and onboarded companies."""
        fleet = dataset.config.fleet
        eligible = generate.companies_created_before(fleet, dataset.epoch, interval_start) / shard.count
        if fleet.events_per_batch_range is not None:
            low, high = fleet.events_per_batch_range
            events = (low + high) / 2 / shard.count
        else:
            events = eligible * fleet.drivers_per_company * generate.event_rate(fleet)
        onboarded = fleet.onboarding_batch_size * fleet.interval / fleet.company_onboarding_interval
        return events + 1 + onboarded / shard.count

    def report_accumulator(self, dataset: Dataset) -> ReportAccumulator:
        from producer.generation.scenarios.fleet.report import FleetReport

        return FleetReport(dataset)

    # -- columnar API (used by the serializers below, tests and the streaming checks) ---------------

    def company_columns(
        self, dataset: Dataset, start: datetime, end: datetime, shard: Shard
    ) -> generate.CompanyColumns:
        """The shard's companies created in ``[start, end)`` as columns."""
        return generate.companies(dataset, start, end, shard)

    def event_columns(
        self, dataset: Dataset, interval_start: datetime, shard: Shard | None = None
    ) -> generate.EventColumns:
        """The shard's (default: all) events of one interval as columns."""
        return generate.interval_events(dataset, interval_start, shard or Shard())

    # -- records -------------------------------------------------------------------------------------

    def entities(
        self, dataset: Dataset, start: datetime, end: datetime, shard: Shard
    ) -> tuple[Records, ...]:
        columns = generate.companies(dataset, start, end, shard)
        values = [
            dumps(Company(company_id=company_id, created_at=from_micros(created)))
            for company_id, created in zip(columns.company_ids, columns.created_at_us.tolist(), strict=True)
        ]
        keys = [company_id.encode() for company_id in columns.company_ids]
        return (Records(COMPANIES, keys, values, columns.created_at_us),)

    def interval(
        self,
        dataset: Dataset,
        interval_start: datetime,
        shard: Shard,
        generation_time: datetime | None = None,
    ) -> IntervalOutput:
        events = generate.interval_events(dataset, interval_start, shard)
        truth = self.ground_truth(events, shard, generation_time)
        return IntervalOutput(
            interval_id=events.interval_id,
            interval_start=truth.interval_start,
            interval_end=truth.interval_end,
            events=(self.serialize_events(events),),
            ground_truth=Records(
                DRIVER_BATCHES,
                [truth.batch_id.encode()],
                [dumps(truth)],
                np.array([events.interval_end_us], dtype=np.int64),
            ),
        )

    def ground_truth(
        self, events: generate.EventColumns, shard: Shard, generation_time: datetime | None = None
    ) -> DriverEventBatch:
        """The interval's ground-truth record for ``shard`` (counts of exactly ``events``)."""
        return DriverEventBatch(
            batch_id=events.interval_id,
            interval_start=from_micros(events.interval_start_us),
            interval_end=from_micros(events.interval_end_us),
            event_count=len(events),
            event_type_counts=events.event_type_counts(),
            eligible_companies=events.eligible_companies,
            seed=events.seed,
            shard=str(shard),
            generation_time=generation_time or datetime.now(UTC),
        )

    def serialize_events(self, events: generate.EventColumns) -> Records:
        """Keys (driver_id) and compact JSON values of ``events``, vectorized.

        Equal, byte for byte, to ``dumps(record)`` of each :meth:`event_records` item. Rows are built
        as fixed-width byte matrices, one per (fragment width, event type) group.
        """
        fragments = self._driver_fragments(events.seed, events.drivers_per_company)
        if not len(events):
            return Records(DRIVER_EVENTS, [], [], events.timestamp_us)
        fragments.ensure(int(events.company_ordinal.max()) + 1)
        driver_index = events.driver_number - 1
        uuids = uuid_matrix(events.event_id_high, events.event_id_low)
        timestamps = timestamp_matrix(events.timestamp_us)
        widths = fragments.lengths[driver_index]
        group = widths * len(EVENT_TYPES) + events.event_type
        order = np.argsort(group, kind="stable")
        boundaries = np.flatnonzero(np.diff(group[order])) + 1
        values: list[bytes] = []
        tail = f'","batch_id":"{events.interval_id}"}}'.encode()
        for rows in np.split(order, boundaries):
            width = int(widths[rows[0]])
            event_type = EVENT_TYPES[int(events.event_type[rows[0]])]
            values += fixed_width_rows(
                [
                    b'{"event_id":"',
                    uuids[rows],
                    b'",',
                    fragments.matrix[driver_index[rows], :width],
                    f',"event_type":"{event_type}","timestamp":"'.encode(),
                    timestamps[rows],
                    tail,
                ],
                rows.size,
            )
        in_order = np.empty(len(events), dtype=object)
        in_order[order] = values
        keys: list[bytes] = fragments.driver_ids[driver_index].tolist()
        return Records(DRIVER_EVENTS, keys, in_order.tolist(), events.timestamp_us)

    def event_records(self, events: generate.EventColumns) -> list[DriverEvent]:
        """``events`` as validated models (slow; for tests and small intervals)."""
        ids = generate.company_ids(events.seed)
        return [
            DriverEvent(
                event_id=event_id,
                driver_id=f"DRV-{ids[ordinal]}-{seq:03d}",
                company_id=ids[ordinal],
                truck_id=f"TRK-{events.seed}-{number:04d}",
                event_type=EVENT_TYPES[event_type],
                timestamp=from_micros(timestamp),
                batch_id=events.interval_id,
            )
            for event_id, ordinal, seq, number, event_type, timestamp in zip(
                uuid_strings(events.event_id_high, events.event_id_low),
                events.company_ordinal.tolist(),
                events.driver_seq.tolist(),
                events.driver_number.tolist(),
                events.event_type.tolist(),
                events.timestamp_us.tolist(),
                strict=True,
            )
        ]

    def _driver_fragments(self, seed: int, drivers_per_company: int) -> _DriverFragments:
        key = (seed, drivers_per_company)
        with self._lock:
            if key not in self._fragments:
                self._fragments[key] = _DriverFragments(seed, drivers_per_company)
            return self._fragments[key]
