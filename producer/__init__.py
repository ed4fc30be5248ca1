"""seedstream producer: seeded, reproducible synthetic business events into Apache Kafka."""

__version__ = "0.1.0"
