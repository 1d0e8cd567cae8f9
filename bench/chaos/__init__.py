"""The chaos suite (`make chaos`): real Kafka, Flink, loader and chdb processes, one fault per
scenario, and the final ClickHouse state checked against a recomputation from the input."""
