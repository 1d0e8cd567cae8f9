"""Benchmarks: each prints one JSON document of figures (`make bench-…`)."""
