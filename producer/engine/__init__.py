"""The engine: runs a dataset interval by interval into Kafka and survives anything.

Owns control (pause, resume, stop), the interval publisher, the run modes (backfill, realtime
batch and paced), durable state, stats and the structured log. It may import
:mod:`producer.config`, :mod:`producer.errors`, :mod:`producer.datadir`, :mod:`producer.generation`
and :mod:`producer.kafka`; never the sidecar, the stack, the CLI or ``streaming``.
"""
