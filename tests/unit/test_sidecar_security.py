"""Web pages cannot drive the sidecar: cross-origin requests get 403, foreign Hosts (DNS rebinding) 400.

The attack: with no token (the default, loopback bind) any page the user visits could send CORS
"simple requests" (text/plain or form POSTs, no preflight) to http://127.0.0.1:18000/api/pause and
then /api/clean. Requests without Origin (curl, scripts) and the Swagger UI's same-origin requests
keep working.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import producer.sidecar.control
from producer.config import ApiSettings, load_config
from producer.engine.engine import Engine
from producer.errors import BadInputError
from producer.sidecar.app import create_app
from producer.sidecar.security import split_host, split_origin

Client = Callable[..., httpx.AsyncClient]
SIDECAR = "http://127.0.0.1:18000"
ATTACKER = "http://attacker.example"
SIMPLE_TEXT = {"Origin": ATTACKER, "Content-Type": "text/plain"}
SIMPLE_FORM = {"Origin": ATTACKER, "Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[Client]:
    """``client(base_url=…, **api_settings)``: an httpx client on a fresh app for ``engine``."""
    opened: list[httpx.AsyncClient] = []

    def make(base_url: str = SIDECAR, **settings: object) -> httpx.AsyncClient:
        app = create_app(engine, ApiSettings.model_validate({"token": None, **settings}))
        opened.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url))
        return opened[-1]

    yield make
    for each in opened:
        await each.aclose()


@pytest.fixture
def cleans(monkeypatch: pytest.MonkeyPatch) -> list[Engine]:
    """Every engine the sidecar cleaned (the real clean is replaced: it would need Kafka)."""
    calls: list[Engine] = []

    async def fake_clean(engine: Engine) -> Any:
        calls.append(engine)
        raise AssertionError("clean must not run for a refused request")

    monkeypatch.setattr(producer.sidecar.control, "clean", fake_clean)
    return calls


def _refused(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] == error and "api.allowed_hosts" in body["message"], body
    assert "SEEDSTREAM_API__ALLOWED_HOSTS" in body["message"] and "Traceback" not in response.text
    return body


@pytest.mark.parametrize("headers", [SIMPLE_TEXT, SIMPLE_FORM], ids=["text-plain", "form-encoded"])
async def test_a_web_page_cannot_pause_then_clean(
    client: Client, engine: Engine, cleans: list[Engine], headers: dict[str, str]
) -> None:
    app = client()
    pause = await app.post("/api/pause", headers=headers, content="a=1")
    body = _refused(pause, 403, "cross_origin_refused")
    assert ATTACKER in body["message"]
    assert not engine.paused
    # even with the producer paused (by its user), a page cannot clean
    assert (await app.post("/api/pause")).status_code == 200 and engine.paused
    _refused(await app.post("/api/clean", headers=headers, content="a=1"), 403, "cross_origin_refused")
    _refused(await app.post("/api/resume", headers=headers), 403, "cross_origin_refused")
    assert cleans == [] and engine.paused


@pytest.mark.parametrize(
    "origin",
    [
        "null",  # sandboxed iframes, file:// pages
        "http://localhost:3000",  # another local web app: same host, other port
        "http://127.0.0.1",  # port 80
        "https://127.0.0.1:18000",  # other scheme
        "http://127.0.0.1.attacker.example:18000",
        "http://attacker.example:18000",
        "not a url",
    ],
)
async def test_any_other_origin_is_refused(client: Client, engine: Engine, origin: str) -> None:
    response = await client().post("/api/pause", headers={"Origin": origin})
    assert repr(origin) in _refused(response, 403, "cross_origin_refused")["message"]
    assert not engine.paused


async def test_reads_from_other_origins_are_refused_too(client: Client) -> None:
    _refused(await client().get("/api/health", headers={"Origin": ATTACKER}), 403, "cross_origin_refused")
    preflight = await client().options(
        "/api/pause", headers={"Origin": ATTACKER, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:18000", "127.0.0.1.nip.io:18000", "", "127.0.0.1:x", "::1"]
)
async def test_foreign_host_headers_are_400(client: Client, engine: Engine, method: str, host: str) -> None:
    """DNS rebinding: the page's own name points at 127.0.0.1, so the browser sends ``Host: <its name>``."""
    response = await client().request(
        method, "/api/pause" if method == "POST" else "/api/health", headers={"Host": host}
    )
    body = _refused(response, 400, "host_not_allowed")
    assert repr(host) in body["message"] and "DNS rebinding" in body["message"]
    assert not engine.paused


async def test_requests_without_origin_work_like_curl(client: Client, engine: Engine) -> None:
    for base_url in (SIDECAR, "http://localhost:18000", "http://[::1]:18000", "http://localhost"):
        app = client(base_url)
        assert (await app.get("/api/health")).status_code == 200, base_url
        assert (await app.post("/api/resume")).status_code == 200, base_url
    pause = await client().post("/api/pause", headers={"Content-Type": "text/plain"}, content="x")
    assert pause.status_code == 200 and engine.paused


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [
        (SIDECAR, SIDECAR),
        ("http://localhost:18000", "http://localhost:18000"),
        ("http://[::1]:18000", "http://[::1]:18000"),
        ("http://localhost:18000", "http://127.0.0.1:18000"),  # another loopback name, same port
        # a published or tunnelled port (compose 127.0.0.1:18001 → 18000): the page's own Host
        ("http://127.0.0.1:18001", "http://127.0.0.1:18001"),
    ],
)
async def test_same_origin_requests_work_like_swagger_ui(
    client: Client, engine: Engine, base_url: str, origin: str
) -> None:
    app = client(base_url)
    assert (await app.get("/docs", headers={"Origin": origin})).status_code == 200
    assert (await app.get("/openapi.json", headers={"Origin": origin})).status_code == 200
    pause = await app.post("/api/pause", headers={"Origin": origin, "Content-Type": "application/json"})
    assert pause.status_code == 200 and engine.paused


async def test_allowed_hosts_admit_other_names(client: Client, engine: Engine) -> None:
    named = client("http://producer:18000", allowed_hosts=["Producer", "fd00::5"])
    assert (await named.get("/api/health")).status_code == 200
    assert (await named.post("/api/pause", headers={"Origin": "http://producer:18000"})).status_code == 200
    other_port = await named.post("/api/pause", headers={"Origin": "http://producer:3000"})
    _refused(other_port, 403, "cross_origin_refused")
    v6 = await named.get("/api/health", headers={"Host": "[fd00::5]:18000"})
    assert v6.status_code == 200
    # without the setting the same name is refused
    _refused(await client("http://producer:18000").get("/api/health"), 400, "host_not_allowed")


async def test_the_bind_host_is_allowed_but_not_a_wildcard(client: Client) -> None:
    bound = client("http://10.1.2.3:18000", host="10.1.2.3", token="t0ken")
    assert (await bound.get("/api/health")).status_code == 200
    wildcard = client("http://0.0.0.0:18000", host="0.0.0.0", token="t0ken")  # noqa: S104
    _refused(await wildcard.get("/api/health"), 400, "host_not_allowed")


async def test_the_origin_check_comes_before_the_token(client: Client, engine: Engine) -> None:
    secured = client(token="s3cret")
    headers = {**SIMPLE_TEXT, "Authorization": "Bearer s3cret"}
    _refused(await secured.post("/api/pause", headers=headers), 403, "cross_origin_refused")
    assert not engine.paused


def test_allowed_hosts_from_yaml_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEEDSTREAM_API__ALLOWED_HOSTS", raising=False)
    assert load_config("emulated.5s").api.allowed_hosts == ()
    config = tmp_path / "api.yaml"
    config.write_text("api:\n  allowed_hosts: [producer, Sidecar.Internal]\n", encoding="utf-8")
    assert load_config(str(config)).api.allowed_hosts == ("producer", "sidecar.internal")
    for value in ("producer, producer-emulated", '["producer", "producer-emulated"]'):
        monkeypatch.setenv("SEEDSTREAM_API__ALLOWED_HOSTS", value)
        assert load_config("emulated.5s").api.allowed_hosts == ("producer", "producer-emulated")
    monkeypatch.setenv("SEEDSTREAM_API__ALLOWED_HOSTS", "::1,[fd00::1]")
    assert load_config("emulated.5s").api.allowed_hosts == ("[::1]", "[fd00::1]")
    for bad in ("http://producer", "producer:18000", "producer/api"):
        monkeypatch.setenv("SEEDSTREAM_API__ALLOWED_HOSTS", bad)
        with pytest.raises(BadInputError, match="ALLOWED_HOSTS.*without scheme, port or path"):
            load_config("emulated.5s")


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("localhost", ("localhost", 80)),
        ("LocalHost:18000", ("localhost", 18000)),
        ("[::1]:18000", ("[::1]", 18000)),
        ("[::1]", ("[::1]", 80)),
        ("::1", None),
        ("127.0.0.1:", None),
        ("127.0.0.1:70000", None),
        ("[::1]x", None),
        ("", None),
    ],
)
def test_split_host(value: str, parsed: tuple[str, int] | None) -> None:
    assert split_host(value) == parsed


def test_split_origin() -> None:
    assert split_origin("http://[::1]:18000") == ("http", "[::1]", 18000)
    assert split_origin("HTTPS://Example.com") == ("https", "example.com", 443)
    for bad in ("null", "http://x/", "http://u@x", "ftp://x", "http://x:port", ""):
        assert split_origin(bad) is None, bad
