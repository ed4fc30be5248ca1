"""Scenarios: self-contained generators behind :class:`~producer.generation.scenarios.base.Scenario`.

One subpackage per scenario (its settings, record models and generators); ``registry`` finds them by
name. This ``__init__`` imports nothing, so the config tree can import a scenario's settings section
without pulling in every scenario.
"""
