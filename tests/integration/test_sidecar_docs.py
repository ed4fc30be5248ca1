"""Swagger UI and ReDoc of a running ``seedstream produce`` render in a real browser without internet.

Headless Chromium resolves no name but loopback (:mod:`tests.fixtures.browser`), so a page that
loaded its scripts from a CDN would render no routes and fail here.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from producer.stack.broker import free_port
from tests.fixtures.browser import RenderedDom
from tests.fixtures.processes import ProcessFactory

pytestmark = pytest.mark.kafka

PLACEHOLDERS = ('"string"', "additionalProp1")


def _text(dom: str) -> str:
    """The page's visible text, whitespace collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S))
    return re.sub(r"\s+", " ", html.unescape(without_tags))


def test_swagger_ui_and_redoc_render_every_route_offline(
    tmp_path: Path,
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    producer_process: ProcessFactory,
    rendered_dom: RenderedDom,
) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEEDSTREAM_")}
    env["SEEDSTREAM_KAFKA__TOPIC_PREFIX"] = unique_name("docs") + "."
    process = producer_process(
        "--config", "emulated.5s", "--bootstrap-servers", kafka_bootstrap,
        "--data-dir", str(tmp_path / "data"), "--api-port", str(port), env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    schema = None
    while schema is None and time.monotonic() < deadline and process.poll() is None:
        try:
            schema = httpx.get(f"{base}/openapi.json", timeout=2).json()
        except httpx.TransportError:
            time.sleep(0.2)
    assert schema is not None, f"the sidecar never answered; exit {process.poll()}"
    routes = set(schema["paths"])
    assert {"/api/health", "/api/pause", "/api/resume", "/api/clean", "/api/logs", "/metrics"} <= routes

    swagger = rendered_dom(f"{base}/docs")
    assert set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', swagger)) == routes
    shown = _text(swagger)
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert operation["summary"] in shown

    # an expanded operation shows its example response, not Swagger's placeholders
    health = schema["paths"]["/api/health"]["get"]
    expanded = _text(rendered_dom(f"{base}/docs#/{health['tags'][0]}/{health['operationId']}"))
    assert "Example Value" in expanded and '"scenario" : "fleet"' in expanded
    assert not any(placeholder in expanded for placeholder in PLACEHOLDERS), expanded

    redoc = _text(rendered_dom(f"{base}/redoc"))
    for path in routes:
        assert path in redoc, f"ReDoc does not show {path}"
    assert health["summary"] in redoc
