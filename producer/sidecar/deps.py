"""Typed dependency aliases: route signatures stay one line (full-stack-fastapi-template ``deps``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry

from producer.engine.engine import Engine
from producer.sidecar.control import Control


def get_engine(request: Request) -> Engine:
    """The engine this app controls."""
    engine: Engine = request.app.state.engine
    return engine


def get_control(request: Request) -> Control:
    """The app's control surface (pause, resume, clean, auto re-init)."""
    control: Control = request.app.state.control
    return control


def get_registry(request: Request) -> CollectorRegistry:
    """The app's own Prometheus registry."""
    registry: CollectorRegistry = request.app.state.registry
    return registry


EngineDep = Annotated[Engine, Depends(get_engine)]
ControlDep = Annotated[Control, Depends(get_control)]
RegistryDep = Annotated[CollectorRegistry, Depends(get_registry)]
