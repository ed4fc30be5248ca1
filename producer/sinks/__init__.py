"""Where records go: Kafka (the engine) and topic administration."""
