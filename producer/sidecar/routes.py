"""The sidecar routes: ``/api/{health,pause,resume,clean,logs,faults}`` and ``/metrics``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BeforeValidator

from producer.engine.engine import Engine
from producer.engine.logs import Level
from producer.generation.clock import format_instant
from producer.generation.fault_settings import FAULT_KINDS, FaultsConfig
from producer.sidecar.deps import ControlDep, EngineDep, RegistryDep
from producer.sidecar.metrics import render
from producer.sidecar.models import (
    CleanResult,
    CompanyGenerator,
    ControlResult,
    DriverGenerator,
    EmulatedConfig,
    ErrorResponse,
    FaultCounts,
    FaultSchedule,
    Health,
    KafkaStatus,
    Lifecycle,
    LogEntryOut,
    LogPage,
    SkippedPath,
    StateInfo,
    Uptime,
)

MAX_LOG_LIMIT = 10_000
ERRORS: dict[int | str, dict[str, Any]] = {
    500: {"model": ErrorResponse, "description": "Unexpected failure (details in the producer log)."}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "A query parameter is invalid (named in the message)."}
}
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_EXAMPLE = """\
# HELP seedstream_records_produced_total Records acknowledged by Kafka, per topic.
# TYPE seedstream_records_produced_total counter
seedstream_records_produced_total{role="entities",topic="fleet.companies"} 200.0
seedstream_records_produced_total{role="events",topic="fleet.driver-events"} 1163.0
seedstream_records_produced_total{role="ground_truth",topic="fleet.driver-batches"} 12.0
# HELP seedstream_events_produced_total Event records (no entities, no ground truth) acknowledged by Kafka.
# TYPE seedstream_events_produced_total counter
seedstream_events_produced_total{topic="fleet.driver-events"} 1163.0
# HELP seedstream_paused 1 while the producer is paused.
# TYPE seedstream_paused gauge
seedstream_paused 0.0
"""

api = APIRouter(prefix="/api", tags=["status"], responses=ERRORS)
control = APIRouter(prefix="/api", tags=["control"], responses=ERRORS)
metrics = APIRouter(tags=["metrics"], responses=ERRORS)


def _idle(now: datetime, last: datetime | None) -> float | None:
    return max(0.0, (now - last).total_seconds()) if last is not None else None


def _emulated(engine: Engine) -> EmulatedConfig | None:
    section = getattr(engine.config, engine.config.scenario, None)
    batch_range = getattr(section, "events_per_batch_range", None)
    if section is None or batch_range is None:
        return None
    return EmulatedConfig(
        company_interval_seconds=section.company_onboarding_interval.total_seconds(),
        driver_interval_seconds=engine.length.total_seconds(),
        companies_per_batch=section.onboarding_batch_size,
        events_per_batch_range=batch_range,
    )


def _status(engine: Engine) -> str:
    return "paused" if engine.paused else "running"


@api.get("/health", response_model=Health, summary="Is the producer publishing, and how far has it got?")
async def health(engine: EngineDep, control: ControlDep) -> Health:
    """Whether the producer is publishing or paused, since when it runs, how many entity and event
    batches Kafka has acknowledged and when the last one was, which interval comes next, the
    scenario, seed and shard, whether Kafka is reachable (with its latest error), and the faults
    injected per kind since the process started."""
    now = datetime.now(UTC)
    stats = engine.stats
    uptime = stats.uptime_seconds
    emulated = _emulated(engine)
    run_mode = "backfill" if stats.mode == "backfill" else "realtime"
    return Health.model_validate(
        {
            "status": _status(engine),
            "timestamp": now,
            "uptime": Uptime(seconds=uptime, hours=uptime / 3600, start_time=stats.started_at),
            "company_generator": CompanyGenerator(
                total_batches=stats.entity_batches,
                last_batch_time=stats.last_entity_batch_at,
                idle_seconds=_idle(now, stats.last_entity_batch_at),
            ),
            "driver_generator": DriverGenerator(
                total_batches=stats.interval_batches,
                last_batch_time=stats.last_interval_batch_at,
                last_interval_end=stats.last_interval_end,
                idle_seconds=_idle(now, stats.last_interval_batch_at),
            ),
            "lifecycle": Lifecycle(
                paused=engine.paused, shutdown_requested=engine.stopping, phase=stats.status
            ),
            "state": StateInfo(
                last_saved=engine.state.updated_at,
                state_file=str(engine.paths.state_file),
                next_interval=engine.state.next_interval,
                intervals_published=engine.state.intervals_published,
                events_published=engine.state.events_published,
                saved=engine.store.saved,
                save_error=engine.store.save_error,
            ),
            "generation_mode": "emulated" if emulated is not None else run_mode,
            "run_mode": run_mode,
            "emulated_config": emulated,
            "auto_reinit": control.auto_reinit,
            "kafka": KafkaStatus(
                connected=stats.connected,
                bootstrap=engine.config.kafka.bootstrap_servers,
                last_error=stats.last_error,
                last_error_at=stats.last_error_at,
                reconnects=stats.reconnects,
            ),
            "scenario": engine.config.scenario,
            "seed": engine.dataset.seed if engine.dataset is not None else engine.state.seed,
            "shard": str(engine.shard),
            "run_id": stats.run_id,
            "faults": _fault_counts(engine),
        }
    )


def _fault_counts(engine: Engine) -> FaultCounts:
    counted = engine.stats.snapshot()["faults_injected"]
    assert isinstance(counted, dict)
    injected = {kind: int(counted.get(kind, 0)) for kind in FAULT_KINDS}
    return FaultCounts(
        enabled=engine.faults_in_effect().enabled, injected=injected, injected_total=sum(injected.values())
    )


def _schedule(engine: Engine) -> FaultSchedule:
    dataset = engine.dataset
    return FaultSchedule(
        in_effect=engine.faults_in_effect(),
        next_interval=engine.state.next_interval,
        changes=list(dataset.fault_changes) if dataset is not None else [],
    )


@api.get("/faults", response_model=FaultSchedule, summary="Which faults are injected, and since when")
async def faults(engine: EngineDep) -> FaultSchedule:
    """The fault settings of the next interval to publish and every change made while producing
    (`PUT /api/faults`), as recorded in the dataset descriptor."""
    return _schedule(engine)


def _result(engine: Engine, control: ControlDep, changed: bool) -> ControlResult:
    return ControlResult.model_validate(
        {
            "status": _status(engine),
            "changed": changed,
            "paused": engine.paused,
            "timestamp": datetime.now(UTC),
            "auto_reinit": control.auto_reinit,
        }
    )


@control.post("/pause", response_model=ControlResult, summary="Pause publishing")
async def pause(engine: EngineDep, control: ControlDep) -> ControlResult:
    """Stop publishing events and entities. The pause is saved, so a restarted
    producer stays paused until resumed. Pausing a paused producer changes nothing (`changed: false`)."""
    return _result(engine, control, control.pause())


@control.post("/resume", response_model=ControlResult, summary="Resume publishing")
async def resume(engine: EngineDep, control: ControlDep) -> ControlResult:
    """Continue publishing where the producer stopped. The first resume after a clean republishes
    the entities and the latest complete interval first, so consumers start from a full baseline
    (`auto_reinit` says what was sent). Resuming a running producer changes nothing."""
    return _result(engine, control, await control.resume())


@control.post(
    "/clean",
    response_model=CleanResult,
    summary="Delete everything generated so far (pause first)",
    responses={
        409: {"model": ErrorResponse, "description": "The producer is not paused."},
        502: {"model": ErrorResponse, "description": "Kafka refused or did not answer."},
        503: {
            "model": ErrorResponse,
            "description": "The interval being published when the pause came was not acknowledged in time.",
        },
    },
)
async def clean(control: ControlDep) -> CleanResult:
    """Delete every record of the scenario's topics and this producer's state and manifest files.

    The topics themselves are kept, so running consumers keep working; only files inside the data
    dir are touched. A clean marker on the ground-truth topic then tells pipelines which intervals
    may have lost records (`cleaned_through`). The next resume starts afresh and republishes the
    entities first. The pipeline's Delta tables are not touched (`seedstream clean --pipeline` resets
    them with the stack stopped).
    """
    report = await control.clean()
    return CleanResult(
        status="cleaned",
        deleted_count=report.deleted_count,
        deleted_files=report.deleted_files,
        deleted_records=report.deleted_records,
        cleaned_through=report.cleaned_through,
        skipped=[SkippedPath(path=path, reason=reason) for path, reason in report.skipped],
        timestamp=datetime.now(UTC),
    )


@control.put(
    "/faults",
    response_model=FaultSchedule,
    summary="Change the injected faults from the next interval on",
    responses={
        409: {"model": ErrorResponse, "description": "The producer has not started yet."},
        422: {
            "model": ErrorResponse,
            "description": "The settings are invalid (the field named in the message); nothing changed.",
        },
        503: {"model": ErrorResponse, "description": "Kafka did not answer (creating the label topic)."},
    },
)
async def change_faults(body: FaultsConfig, engine: EngineDep, control: ControlDep) -> FaultSchedule:
    """Replace the fault settings (the configuration's `faults` section: one entry per kind with its
    `rate` and, for delayed kinds, its `delay`; kinds left out get rate 0) from the interval after the
    one being published on. The settings are checked like the configuration (rates in [0, 1] summing to
    at most 1, delays against the watermark), recorded in the dataset descriptor so a restart or replay
    reproduces them, and logged. Invalid settings change nothing."""
    await control.change_faults(body)
    return _schedule(engine)


def _plus_restored(value: Any) -> Any:
    """An unencoded ``+`` in a query string arrives as a space: ``…T12:00:00 00:00`` → ``…+00:00``."""
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 6 and value[-6] == " " and value[-5:-3].isdigit():
            value = value[:-6] + "+" + value[-5:]
    return value


Since = Annotated[datetime | None, BeforeValidator(_plus_restored)]


def _json_ready(metadata: dict[str, Any]) -> dict[str, Any]:
    def default(value: Any) -> Any:
        return format_instant(value) if isinstance(value, datetime) else str(value)

    data = orjson.loads(orjson.dumps(metadata, default=default, option=orjson.OPT_PASSTHROUGH_DATETIME))
    assert isinstance(data, dict)
    return data


@api.get("/logs", response_model=LogPage, responses=INVALID, summary="What the producer has been doing")
async def logs(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_LIMIT, description="At most this many entries.")] = 100,
    since: Annotated[
        Since,
        Query(description="Only entries after this ISO 8601 instant (URL-encode `+`; naive means UTC)."),
    ] = None,
    level: Annotated[Level | None, Query(description="Only entries at this level or above.")] = None,
) -> LogPage:
    """The producer's structured log: starts and stops, pauses, topics created, Kafka outages.

    Without `since`: the latest `limit` entries. With it: the first `limit` entries after it.
    Entries are oldest first; `nextSince` is the last entry's instant (or `since` when none
    matched), so passing it as `since` pages forward without gaps.
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    selected = engine.log.entries(limit=MAX_LOG_LIMIT * 100, since=since, level=level)
    selected = selected[:limit] if since is not None else selected[-limit:]
    entries = [
        LogEntryOut(
            ts=entry.timestamp,
            level=entry.level,
            component=entry.component,
            message=entry.message,
            metadata=_json_ready(entry.metadata),
        )
        for entry in selected
    ]
    next_since = selected[-1].timestamp if selected else since
    return LogPage(entries=entries, total_returned=len(entries), next_since=next_since)


@metrics.get(
    "/metrics",
    response_class=Response,
    summary="Producer counters for Prometheus",
    responses={
        200: {
            "content": {PROMETHEUS_CONTENT_TYPE: {"schema": {"type": "string"}, "example": METRICS_EXAMPLE}},
            "description": "The Prometheus text exposition format.",
        }
    },
)
async def prometheus_metrics(registry: RegistryDep) -> Response:
    """Records, record batches and bytes acknowledged per topic, send errors, reconnects, skipped
    intervals, send latency, whether the producer is paused and whether Kafka is reachable."""
    return Response(render(registry), media_type=PROMETHEUS_CONTENT_TYPE)
