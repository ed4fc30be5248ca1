"""The FastAPI sidecar: health, pause, resume, clean, logs and Prometheus metrics for one engine.

``app`` builds the application (:func:`~producer.sidecar.app.create_app`), ``server`` serves it in
the engine's event loop, ``produce`` wires engine and sidecar for ``seedstream produce``. It may
import the engine, :mod:`producer.kafka`, :mod:`producer.generation`, :mod:`producer.config` and
:mod:`producer.errors`; never the stack, the CLI or ``streaming``.
"""
