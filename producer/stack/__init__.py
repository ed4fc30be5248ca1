"""The local stack: the embedded KRaft broker, the JVM jar cache and the ``seedstream up`` supervisor.

``up`` runs the producer and the streaming job as child processes (``seedstream produce`` and
``seedstream stream``), so it imports neither. It may import :mod:`producer.config`,
:mod:`producer.errors` and :mod:`producer.datadir`.
"""
