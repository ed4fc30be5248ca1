"""Labelled fault injection: an interval's output with seeded faults applied, plus one label per fault.

:func:`faulted_interval` wraps the scenario's ``interval`` and is pure, like it. The rules:

- Only event records are faulted; entities and the ground truth (the truth of the clean data: what
  should arrive) are never changed. With every rate at 0 the scenario's output is returned as is.
- A record's fault comes from a keyed random stream of (dataset seed, the faults tag, its topic, its
  record id): word 0 picks the kind (the kinds partition ``[0, 1)`` by cumulative rate in
  :data:`~producer.generation.fault_settings.FAULT_KINDS` order), words 1–3 its parameters. Never
  position, shard or time, so any shard count, timing or restart gives the same faults.
- Records without a fault keep their key and value bytes and their relative order; each topic's
  records are ordered by publication instant (``Records.timestamps_us``, which paced delivery
  publishes at), moved records after unmoved ones at equal instants.
- ``drop``: not published. ``malformed_json``: the value truncated after its record id (so a scorer
  can still find the id in the raw payload). ``schema_violation``: a wrongly typed field (a number,
  boolean, patterned or date-time field given a value of the other JSON kind), a missing required
  field, or an unknown extra field; never the record id. ``unknown_category``: a declared category
  set outside its values. ``unknown_reference``: a reference set to a key no entity ever has (a fresh
  UUID, or an integer beyond any id range). ``reference_not_yet_valid``: a reference set to an
  entity (of the whole dataset, not only this shard) first created in ``[interval_start, event
  time]``, so it is published before the record in either delivery mode (by its own shard: with
  several shards, as far as they keep pace); when there is none the record gets
  ``unknown_reference`` instead, labelled so. ``outside_interval``: the event time moved
  up to one interval before interval_start (earlier, so it cannot move the watermark).
- ``out_of_order`` and ``duplicate`` stay in their interval's publication, at
  ``min(event_time + delay, interval_end - 1 µs)`` (a duplicate: the same key and value again, the
  original in place). ``late``: published at ``event_time + delay``, with a later interval's
  records: an interval's output includes the late records of up to
  :meth:`~producer.generation.fault_settings.FaultsConfig.late_reach` earlier intervals (from the
  epoch on) due in it, found by regenerating those intervals (with the fault settings in effect for
  each of them). Moved records keep their value.
- Labels (:mod:`producer.generation.fault_labels`, topic ``<scenario>.fault-labels``, keyed by
  record id): one per fault decided for the interval's own records, published with the interval,
  whatever interval publishes the record itself (``published_batch_id``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import orjson

from producer.generation.clock import (
    align_down,
    format_duration,
    from_micros,
    interval_id,
    to_micros,
    to_micros_delta,
)
from producer.generation.fault_labels import EXPECTED, FaultLabel, label_topic
from producer.generation.fault_settings import FAULT_KINDS, FaultKind, FaultsConfig
from producer.generation.fault_values import change, first_versions, record_ids, truncated
from producer.generation.scenarios.base import IntervalOutput, Records, TopicSpec
from producer.generation.serialization import dumps
from producer.generation.shard import Shard
from producer.generation.streams import U64, mix64, seed_key, tag, unit_floats, words

if TYPE_CHECKING:
    from producer.generation.dataset import Dataset
    from producer.generation.scenarios.base import Scenario

FAULTS_TAG = tag("faults")
NO_FAULT = len(FAULT_KINDS)
"""The kind index of a record without a fault."""


def faulted_interval(
    scenario: Scenario,
    dataset: Dataset,
    interval_start: datetime,
    shard: Shard,
    generation_time: datetime | None = None,
) -> IntervalOutput:
    """The shard's output of the interval at ``interval_start`` with the configured faults applied and
    its labels in ``labels`` (see the module docstring); the scenario's own output when no rate is set
    (and no late record of an earlier interval is due in it).

    The settings are those in effect for the interval (:meth:`Dataset.faults_at`): the configuration's,
    or a change recorded in the dataset from an interval on. Late records of an earlier interval follow
    that interval's settings."""
    output = scenario.interval(dataset, interval_start, shard, generation_time)
    faults = dataset.faults_at(interval_start)
    length = scenario.interval_length(dataset.config)
    if not faults.enabled and not _late_reach(dataset, length):
        return output
    context = _Context(scenario, dataset, faults, interval_start, length)
    arrivals = _late_arrivals(context, shard)
    if not faults.enabled and not any(arrivals):
        return output
    events, labels = [], []
    for index, records in enumerate(output.events):
        published, found = _inject(context, records, arrivals[index])
        events.append(published)
        labels += found
    label_records = Records(
        label_topic(scenario.name),
        [label.record_id.encode() for label in labels],
        [dumps(label) for label in labels],
        np.full(len(labels), context.end_us, dtype=np.int64),
    )
    return replace(output, events=tuple(events), labels=label_records)


@dataclass(frozen=True)
class _Context:
    """One interval's fault settings and instants, and its look-ahead of new entities (lazily)."""

    scenario: Scenario
    dataset: Dataset
    faults: FaultsConfig
    interval_start: datetime
    length: timedelta

    @cached_property
    def start_us(self) -> int:
        return to_micros(self.interval_start)

    @cached_property
    def end_us(self) -> int:
        return self.start_us + to_micros_delta(self.length)

    @cached_property
    def batch_id(self) -> str:
        return interval_id(self.interval_start, self.length)

    def delay_us(self, kind: FaultKind, word: int) -> int:
        """The delay of a ``late``, ``out_of_order`` or ``duplicate`` record, drawn in ``[min, max]``."""
        low, high = (to_micros_delta(bound) for bound in getattr(self.faults, kind).delay)
        return low + int(unit_floats(np.array([word], dtype=np.uint64))[0] * (high - low + 1))

    def published_batch(self, micros: int) -> str:
        """The id of the interval containing the instant ``micros``."""
        return interval_id(align_down(from_micros(micros), self.length), self.length)

    @cached_property
    def new_entities(self) -> dict[str, list[tuple[int, Any]]]:
        """The entities first created in this interval, of the whole dataset (so the choice does not
        depend on the shard count)."""
        end = self.interval_start + self.length
        entities = self.scenario.entities(self.dataset, self.interval_start, end, Shard())
        return first_versions(entities, self.interval_start)


# -- choosing faults ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decisions:
    """Each record's fault kind (an index into FAULT_KINDS, :data:`NO_FAULT` for none) and stream state."""

    kinds: npt.NDArray[np.int64]
    states: U64
    ids: list[str]

    def faulted(self) -> npt.NDArray[np.int64]:
        """The rows with a fault."""
        return np.flatnonzero(self.kinds != NO_FAULT)

    def params(self, row: int) -> tuple[int, int, int]:
        """Words 1–3 of the row's stream, for the fault's parameters."""
        raw = words(self.states[row : row + 1], np.arange(1, 4, dtype=np.int64))
        return int(raw[0]), int(raw[1]), int(raw[2])


def _decide(dataset: Dataset, faults: FaultsConfig, records: Records) -> _Decisions:
    spec = records.topic
    assert spec.id_field is not None
    ids = record_ids(records.values, spec.id_field)
    hashed = np.array(
        [int.from_bytes(hashlib.blake2b(each.encode(), digest_size=8).digest(), "big") for each in ids],
        dtype=np.uint64,
    )
    states = mix64(hashed ^ np.uint64(seed_key(dataset.seed, FAULTS_TAG, tag(spec.name))))
    draws = unit_floats(words(states, np.zeros(len(ids), dtype=np.int64)))
    bounds = np.cumsum(faults.rates())
    kinds = np.searchsorted(bounds, draws, side="right").astype(np.int64)
    return _Decisions(kinds, states, ids)


# -- applying them -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """What a fault does to one record: the value published, when (None: never), and whether the
    original also stays at its instant (a duplicate)."""

    kind: FaultKind
    detail: str
    value: bytes
    published_us: int | None
    copy: bool = False


def _inject(
    context: _Context, records: Records, arrivals: list[tuple[int, bytes, bytes]]
) -> tuple[Records, list[FaultLabel]]:
    """One event topic's records with faults applied and late ``arrivals`` (instant, key, value) added."""
    decisions = _decide(context.dataset, context.faults, records)
    rows = decisions.faulted()
    if not rows.size and not arrivals:
        return records, []
    count = len(records)
    keep = np.ones(count, dtype=np.bool_)
    values = list(records.values)
    instants = records.timestamps_us.copy()
    extra: list[tuple[int, bytes, bytes]] = []
    labels = []
    for row in rows.tolist():
        key = records.keys[row]
        outcome = _outcome(context, records.topic, FAULT_KINDS[decisions.kinds[row]], values[row],
                           int(instants[row]), decisions.params(row))  # fmt: skip
        if outcome is None:
            continue
        published = outcome.published_us
        if published is None or not context.start_us <= published < context.end_us:
            keep[row] = False
        elif outcome.copy:
            extra.append((published, key, outcome.value))
        elif published != instants[row]:
            keep[row] = False
            extra.append((published, key, outcome.value))
        else:
            values[row] = outcome.value
        labels.append(_label(context, records, row, decisions.ids[row], outcome))
    return _ordered(records, keep, values, instants, [*extra, *arrivals]), labels


def _ordered(
    records: Records,
    keep: npt.NDArray[np.bool_],
    values: list[bytes],
    instants: npt.NDArray[np.int64],
    moved: list[tuple[int, bytes, bytes]],
) -> Records:
    """The kept records and the ``moved`` ones by publication instant, kept ones first at equal instants."""
    kept = np.flatnonzero(keep)
    all_instants = np.concatenate([instants[kept], np.array([m[0] for m in moved], dtype=np.int64)])
    order = np.argsort(all_instants, kind="stable")
    keys = [records.keys[i] for i in kept.tolist()] + [m[1] for m in moved]
    all_values = [values[i] for i in kept.tolist()] + [m[2] for m in moved]
    return Records(
        records.topic, [keys[i] for i in order.tolist()], [all_values[i] for i in order.tolist()],
        all_instants[order],
    )  # fmt: skip


def _label(context: _Context, records: Records, row: int, identifier: str, outcome: _Outcome) -> FaultLabel:
    published = outcome.published_us
    return FaultLabel(
        record_id=identifier,
        kind=outcome.kind,
        topic=records.topic.name,
        key=records.keys[row].decode(),
        batch_id=context.batch_id,
        published_batch_id=None if published is None else context.published_batch(published),
        expected=EXPECTED[outcome.kind],
        detail=outcome.detail,
    )


def _outcome(
    context: _Context,
    spec: TopicSpec,
    kind: FaultKind,
    value: bytes,
    instant: int,
    draws: tuple[int, int, int],
) -> _Outcome | None:
    """Apply the fault ``kind`` to one record published at ``instant``; None (no fault, no label) when
    the topic has no field the kind changes (no category or no reference)."""
    if kind in ("late", "out_of_order", "duplicate"):
        delay = context.delay_us(kind, draws[0])
        published = instant + delay if kind == "late" else min(instant + delay, context.end_us - 1)
        detail = (
            f"published {format_duration(timedelta(microseconds=published - instant))} after its event time"
        )
        if published == instant:
            detail = "published at its event time (the interval's last microsecond)"
        return _Outcome(kind, detail, value, published, copy=kind == "duplicate")
    if kind == "drop":
        return _Outcome(kind, "not published", value, None)
    if kind == "malformed_json":
        cut, detail = truncated(spec, value, draws)
        return _Outcome(kind, detail, cut, instant)
    record = orjson.loads(value)
    changed = change(kind, context, spec, record, instant, draws)
    if changed is None:
        return None
    kind_done, detail = changed
    return _Outcome(kind_done, detail, orjson.dumps(record), instant)


# -- late records of earlier intervals ---------------------------------------------------------------


def _late_arrivals(context: _Context, shard: Shard) -> list[list[tuple[int, bytes, bytes]]]:
    """Per event topic, the late records of earlier intervals published in this one (instant, key, value)."""
    topics = [spec for spec in context.scenario.topics() if spec.role == "events"]
    arrivals: list[list[tuple[int, bytes, bytes]]] = [[] for _ in topics]
    late = FAULT_KINDS.index("late")
    for back in range(1, _late_reach(context.dataset, context.length) + 1):
        earlier = context.interval_start - back * context.length
        if earlier < context.dataset.epoch:
            break
        faults = context.dataset.faults_at(earlier)
        if faults.late_reach(context.length) < back:
            continue  # that interval's late records cannot reach this one
        settings = replace(context, faults=faults)
        output = context.scenario.interval(context.dataset, earlier, shard, generation_time=earlier)
        for index, records in enumerate(output.events):
            decisions = _decide(context.dataset, faults, records)
            for row in np.flatnonzero(decisions.kinds == late).tolist():
                published = int(records.timestamps_us[row]) + settings.delay_us(
                    "late", decisions.params(row)[0]
                )
                if context.start_us <= published < context.end_us:
                    arrivals[index].append((published, records.keys[row], records.values[row]))
    return arrivals


def _late_reach(dataset: Dataset, length: timedelta) -> int:
    """How many intervals back a late record of any of the dataset's fault settings may come from."""
    return max(faults.late_reach(length) for faults in dataset.all_faults())
