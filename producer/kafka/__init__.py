"""Kafka: every Kafka client seedstream uses, built from one :func:`~producer.kafka.client.client_options`.

Owns the sink (idempotent, optionally transactional producer), topic administration, record
batches with headers, the ground-truth tail reader, record deletion and the reachability check.
It may import :mod:`producer.config`, :mod:`producer.errors` and :mod:`producer.generation`; never
the engine, the sidecar, the stack or the CLI.
"""
