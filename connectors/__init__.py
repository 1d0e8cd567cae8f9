"""Connectors: event sources, the Kafka producer and consumer, the ClickHouse warehouse."""
