"""Kafka side of the pipeline: topic names and specs, the producer of raw crossings."""
