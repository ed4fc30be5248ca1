"""The sidecar's one error table: each error class → HTTP status, error code and a JSON message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from producer.engine.engine import Engine
from producer.errors import (
    BadInputError,
    KafkaAuthenticationError,
    KafkaUnavailableError,
    NotPausedError,
    NotStartedError,
    SeedstreamError,
)
from producer.sidecar.app import ERRORS, create_app, error_status
from producer.sidecar.models import ErrorResponse


class _Refused(KafkaAuthenticationError):
    """A subclass maps like its nearest listed class."""


RAISED: dict[str, Exception] = {
    "not-paused": NotPausedError("clean needs the producer paused: POST /api/pause first"),
    "bad-input": BadInputError("--shard 3/3: expected i/N with 0 <= i < N"),
    "unavailable": KafkaUnavailableError("cannot reach Kafka at localhost:1 within 5 s"),
    "authentication": KafkaAuthenticationError("Kafka authentication failed at localhost:1"),
    "refused": _Refused("Kafka authentication failed (subclass)"),
    "seedstream": SeedstreamError("some other user-facing failure; do this"),
    "bug": KeyError("internal detail"),
}


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app with one extra route that raises ``RAISED[kind]``."""
    app: FastAPI = create_app(engine)

    @app.get("/boom/{kind}")
    async def boom(kind: str) -> None:
        raise RAISED[kind]

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as opened:
        yield opened


def test_the_table_covers_the_taxonomy() -> None:
    assert ERRORS == {
        NotPausedError: (409, "not_paused"),
        NotStartedError: (409, "not_started"),
        BadInputError: (422, "bad_input"),
        KafkaUnavailableError: (503, "kafka_unavailable"),
        KafkaAuthenticationError: (502, "kafka_authentication_failed"),
    }


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("not-paused", 409),
        ("bad-input", 422),
        ("unavailable", 503),
        ("authentication", 502),
        ("refused", 502),
        ("seedstream", 500),
        ("bug", 500),
    ],
)
def test_error_status_of_each_class(kind: str, status: int) -> None:
    assert error_status(RAISED[kind])[0] == status


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("not-paused", 409, "not_paused"),
        ("bad-input", 422, "bad_input"),
        ("unavailable", 503, "kafka_unavailable"),
        ("authentication", 502, "kafka_authentication_failed"),
        ("refused", 502, "kafka_authentication_failed"),
    ],
)
async def test_taxonomy_errors_answer_with_their_status_and_message(
    client: httpx.AsyncClient, kind: str, status: int, code: str
) -> None:
    response = await client.get(f"/boom/{kind}")
    assert response.status_code == status
    body = ErrorResponse.model_validate(response.json())
    assert body.error == code and body.message == str(RAISED[kind])


async def test_other_seedstream_errors_are_500_with_their_message(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    response = await client.get("/boom/seedstream")
    assert response.status_code == 500
    body = ErrorResponse.model_validate(response.json())
    assert body.error == "internal_error" and body.message == str(RAISED["seedstream"])
    assert any(entry.message == "request failed" for entry in engine.log.entries())


async def test_any_other_exception_is_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom/bug")
    assert response.status_code == 500
    body = ErrorResponse.model_validate(response.json())
    assert body.error == "internal_error" and "producer log" in body.message
    assert "internal detail" not in response.text and "Traceback" not in response.text
