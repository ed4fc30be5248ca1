"""seedstream streaming: the reference Spark Structured Streaming pipeline into Delta Lake."""
