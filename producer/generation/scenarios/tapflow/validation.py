"""TapFlow's validation queries (``seedstream validate``), beyond the referential integrity and the
interval rule every scenario gets from its declarations: the MRR rule (a subscription's ``mrr`` is
its plan's monthly price, and its plan is the one its device count falls in)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from producer.generation.scenarios.base import ValidationQuery

if TYPE_CHECKING:
    from producer.config import SeedstreamConfig


def validation_queries(config: SeedstreamConfig) -> list[ValidationQuery]:
    plans = config.tapflow.plans
    ordered = sorted(
        ((name, getattr(plans, name)) for name in type(plans).model_fields),
        key=lambda item: item[1].min_devices,
    )
    price = " ".join(f"WHEN '{name}' THEN {plan.monthly_price}" for name, plan in ordered)
    plan_of = " ".join(
        f"WHEN device_count >= {plan.min_devices} THEN '{name}'" for name, plan in reversed(ordered)
    )
    return [
        ValidationQuery(
            "subscriptions.mrr = the plan's monthly price",
            f"SELECT COUNT(*) FROM {{silver}}.subscriptions WHERE mrr <> CASE plan {price} END",  # noqa: S608
            0,
        ),
        ValidationQuery(
            "subscriptions.plan = the plan of its device count",
            f"SELECT COUNT(*) FROM {{silver}}.subscriptions WHERE plan <> CASE {plan_of} END",  # noqa: S608
            0,
        ),
    ]
