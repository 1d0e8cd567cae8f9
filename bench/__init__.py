"""Benchmarks: each prints one JSON document of figures (`make bench-…`)."""


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank `p` quantile (0..1) of `values`, one definition for every benchmark."""
    ordered = sorted(values)
    return ordered[int(p * (len(ordered) - 1))]
