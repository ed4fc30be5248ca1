"""The FastAPI sidecar: health, pause, resume, clean, logs and Prometheus metrics for one engine."""

from producer.api.app import create_app
from producer.api.server import serve_sidecar

__all__ = ["create_app", "serve_sidecar"]
