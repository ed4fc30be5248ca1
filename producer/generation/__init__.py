"""Generation: the pure core that turns (config, seed, epoch, interval) into records.

Owns the clock and interval arithmetic, the keyed random streams, serialization, datasets and
shards, the scenarios, labelled fault injection (``faults``, ``fault_settings``, ``fault_values``,
``fault_labels``), the reference-file writer behind ``seedstream generate``, schema export and
test helpers. It may import only :mod:`producer.config`, :mod:`producer.errors` and
:mod:`producer.datadir` (for the one durable file writer); never Kafka, the engine, the sidecar, the
stack or the CLI. Nothing here opens a socket or starts a process.
"""
