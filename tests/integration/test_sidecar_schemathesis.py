"""schemathesis against the sidecar's OpenAPI schema, with a real engine and broker behind it.

The engine and the app share one event loop running in a background thread (as in ``produce``);
each generated case is sent by an httpx ASGI client on that loop. Checks: no 5xx, documented status
codes and content types, responses matching their schemas, auth not ignored.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import positive_data_acceptance

from producer.config import ApiSettings
from producer.engine.engine import Engine
from producer.sidecar.app import create_app
from tests.integration.producer_support import producer_config

pytestmark = pytest.mark.kafka
T = TypeVar("T")
TOKEN = "schemathesis-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class EngineThread:
    """An engine running in its own event loop thread, with an httpx client to its app on that loop."""

    def __init__(self, engine: Engine, app: Any) -> None:
        self.engine = engine
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="engine-loop", daemon=True)
        self.thread.start()
        self.run = asyncio.run_coroutine_threadsafe(engine.run(), self.loop)

        async def open_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")

        self.client = self.call(open_client())

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coroutine`` on the engine's loop and wait (bounded) for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def send(self, case: schemathesis.Case, headers: dict[str, str]) -> httpx.Response:
        """Send a generated case to the app."""
        return self.call(
            self.client.request(
                case.method,
                case.formatted_path,
                params=case.query or None,
                headers={**{k: str(v) for k, v in (case.headers or {}).items()}, **headers},
                json=None if isinstance(case.body, NotSet) else case.body,
            )
        )

    def close(self) -> None:
        """Stop the engine (bounded), close the client and the loop."""
        self.engine.request_stop("test")
        try:
            self.run.result(timeout=20)
        finally:
            self.call(self.client.aclose())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


@pytest.fixture(scope="module")
def sidecar_thread(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineThread]:
    """A running engine (PT1S emulated intervals) and its token-protected app."""
    import uuid

    config = producer_config(
        "emulated.5s", kafka_bootstrap, f"schema-{uuid.uuid4().hex[:8]}.", seed=3,
        fleet__interval="PT1S", fleet__company_onboarding_interval="PT2S",
    )  # fmt: skip
    engine = Engine(config, Path(tmp_path_factory.mktemp("schemathesis")), connect_timeout=30)
    # schemathesis loads the schema through an ASGI test client that calls itself "testserver"
    app = create_app(engine, ApiSettings(token=TOKEN, allowed_hosts=("testserver",)))  # type: ignore[arg-type]
    running = EngineThread(engine, app)
    running.app = app  # type: ignore[attr-defined]
    yield running
    running.close()


@pytest.fixture(scope="module")
def sidecar_schema(sidecar_thread: EngineThread) -> schemathesis.BaseSchema:
    """The app's OpenAPI schema as schemathesis loads it."""
    return schemathesis.openapi.from_asgi("/openapi.json", sidecar_thread.app)  # type: ignore[attr-defined]


def conformance_test(
    operation: Any, sidecar: EngineThread, statuses: dict[str, set[int]]
) -> Callable[[], None]:
    """A hypothesis test sending ``operation``'s generated cases and validating every response."""

    # fault settings have rules JSON Schema cannot state (rates summing to at most 1, [min, max]
    # delays, delays against the watermark): a schema-valid body may rightly get 422
    excluded = [positive_data_acceptance] if operation.label == "PUT /api/faults" else []

    @given(case=operation.as_strategy())
    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        response = sidecar.send(case, AUTH)
        assert response.status_code < 500, f"{operation.label}: {response.status_code} {response.text}"
        case.validate_response(response, headers=AUTH, excluded_checks=excluded)
        statuses.setdefault(operation.label, set()).add(response.status_code)

    return conforms  # type: ignore[no-any-return]


def test_sidecar_conforms_to_its_schema(
    sidecar_schema: schemathesis.BaseSchema, sidecar_thread: EngineThread
) -> None:
    statuses: dict[str, set[int]] = {}
    for result in sidecar_schema.get_all_operations():
        operation = result.ok()
        if operation.label == "POST /api/clean":
            sidecar_thread.engine.pause("test")  # so clean really runs (409 otherwise)
        conformance_test(operation, sidecar_thread, statuses)()
    assert len(statuses) == 8, statuses
    assert all(any(200 <= code < 300 for code in codes) for codes in statuses.values()), statuses


def test_schema_covers_every_route(sidecar_schema: schemathesis.BaseSchema) -> None:
    operations: Callable[[], Any] = sidecar_schema.get_all_operations
    labels = {result.ok().label for result in operations()}
    assert labels == {
        "GET /api/health", "GET /api/logs", "GET /metrics",
        "POST /api/pause", "POST /api/resume", "POST /api/clean",
        "GET /api/faults", "PUT /api/faults",
    }  # fmt: skip
