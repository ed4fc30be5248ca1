"""The sidecar app without Kafka: an engine that is built but not started, an in-process client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from producer.config import ApiSettings, load_config
from producer.engine.engine import Engine
from producer.errors import BadInputError, SeedstreamError
from producer.sidecar.app import create_app
from producer.sidecar.security import check_bind, is_loopback

Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[Client]:
    """``client(token=…, max_body_bytes=…)``: an httpx client on a fresh app for ``engine``."""
    opened: list[httpx.AsyncClient] = []

    def make(**settings: object) -> httpx.AsyncClient:
        app = create_app(engine, ApiSettings.model_validate(settings))
        opened.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost"))
        return opened[-1]

    yield make
    for each in opened:
        await each.aclose()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_binds_need_no_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com"])
def test_non_loopback_bind_without_token_is_refused(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(SeedstreamError, match="SEEDSTREAM_API_TOKEN") as refused:
        check_bind(host, None)
    assert "\n" not in str(refused.value) and host in str(refused.value)
    check_bind(host, SecretStr("t0ken"))


def test_token_comes_from_seedstream_api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEEDSTREAM_API_TOKEN", raising=False)
    assert load_config("emulated.5s").api.token is None
    monkeypatch.setenv("SEEDSTREAM_API_TOKEN", "s3cret")
    api = load_config("emulated.5s").api
    assert api.token is not None and api.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(api)
    assert (api.host, api.port) == ("127.0.0.1", 18000)
    monkeypatch.setenv("SEEDSTREAM_API_TOKEN", "  ")
    assert load_config("emulated.5s").api.token is None


async def test_post_routes_need_the_bearer_token_when_one_is_set(client: Client, engine: Engine) -> None:
    secured = client(token="s3cret")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}):
        response = await secured.post("/api/pause", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthorized" and response.headers["www-authenticate"] == "Bearer"
    assert not engine.paused
    assert (await secured.get("/api/health")).status_code == 200  # reads stay open
    ok = await secured.post("/api/pause", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and engine.paused
    assert (
        "bearer" in str((await secured.get("/openapi.json")).json()["components"]["securitySchemes"]).lower()
    )


async def test_without_a_token_post_routes_are_open(client: Client, engine: Engine) -> None:
    open_app = client()
    assert (await open_app.post("/api/pause")).json()["changed"] is True
    assert "securitySchemes" not in (await open_app.get("/openapi.json")).json().get("components", {})


async def test_bodies_over_the_limit_are_413(client: Client) -> None:
    small = client(max_body_bytes=1024)
    response = await small.post("/api/pause", content=b"x" * 4096)
    assert response.status_code == 413 and "1024 bytes" in response.json()["message"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"y" * 512

    chunked = await small.post("/api/pause", content=chunks())
    assert chunked.status_code == 413
    assert (await small.post("/api/pause", content=b"{}")).status_code == 200


async def test_errors_are_json_without_stack_traces(client: Client) -> None:
    app = client()
    missing = await app.get("/api/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong_method = await app.get("/api/pause")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    invalid = await app.get("/api/logs", params={"since": "not-a-time"})
    assert invalid.status_code == 422
    body = invalid.json()
    assert (
        body["error"] == "invalid_request" and "since" in body["message"] and "Traceback" not in invalid.text
    )


async def test_clean_needs_pause_and_swagger_is_served(client: Client) -> None:
    app = client()
    refused = await app.post("/api/clean")
    assert refused.status_code == 409 and "pause" in refused.json()["message"]
    assert (await app.get("/docs")).status_code == 200
    schema = (await app.get("/openapi.json")).json()
    assert set(schema["paths"]) == {
        "/api/health", "/api/pause", "/api/resume", "/api/clean", "/api/logs", "/api/faults", "/metrics"
    }  # fmt: skip
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            ok = operation["responses"]["200"]["content"]
            assert any("schema" in media for media in ok.values()), path


async def test_health_before_the_engine_started(client: Client) -> None:
    health = (await client().get("/api/health")).json()
    assert health["status"] == "running" and health["lifecycle"]["phase"] == "starting"
    assert health["company_generator"]["idle_seconds"] is None and health["kafka"]["connected"] is False


def test_cli_flags_override_the_api_section_and_absent_flags_keep_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEEDSTREAM_API__HOST", "::1")
    monkeypatch.setenv("SEEDSTREAM_API__PORT", "18123")
    config = load_config("emulated.5s", {"api.host": None, "api.port": None})
    assert (config.api.host, config.api.port) == ("::1", 18123)
    flagged = load_config("emulated.5s", {"api.host": "127.0.0.1", "api.port": 18001}).api
    assert (flagged.host, flagged.port) == ("127.0.0.1", 18001)


def test_an_api_port_flag_out_of_range_is_refused_naming_the_flag() -> None:
    with pytest.raises(BadInputError, match=r"command line: api.port = 70000: .*less than or equal to 65535"):
        load_config("emulated.5s", {"api.port": 70000})


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_only_local_assets(client: Client, page: str) -> None:
    app = client()
    response = await app.get(page)
    assert response.status_code == 200
    text = response.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", text)
    assert urls, "the page references no assets"
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert "://" not in text.replace("window.location.origin", ""), "an absolute URL in the page"
    assert "fonts.googleapis" not in text and "cdn." not in text
    for url in urls:
        asset = await app.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url


def _placeholders(value: Any) -> list[str]:
    """Swagger's made-up sample values in an example (a string "string", an additionalProp key)."""
    if isinstance(value, dict):
        return [key for key in value if key.startswith("additionalProp")] + [
            found for item in value.values() for found in _placeholders(item)
        ]
    if isinstance(value, list):
        return [found for item in value for found in _placeholders(item)]
    return ["string"] if value == "string" else []


async def test_every_response_field_has_a_realistic_example_and_routes_are_described(client: Client) -> None:
    schema = (await client().get("/openapi.json")).json()
    models = schema["components"]["schemas"]
    for name, model in models.items():
        if name in {"HTTPValidationError", "ValidationError"}:
            continue  # FastAPI's own, never returned: invalid requests answer with ErrorResponse
        for field, spec in model["properties"].items():
            refs = [spec, spec.get("items", {}), *spec.get("anyOf", [])]
            if any("$ref" in ref for ref in refs) and "examples" not in spec:
                continue  # a nested model: its own fields carry the examples
            assert spec.get("examples"), f"{name}.{field} has no example"
            assert not _placeholders(spec["examples"]), f"{name}.{field}: {spec['examples']}"
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert len(operation.get("summary", "")) > 15, path
            assert len(operation.get("description", "")) > 40, path
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    if "$ref" not in content.get("schema", {}):
                        assert content.get("example"), f"{path} {status} {media} has no example"
