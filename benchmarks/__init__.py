"""lrpo benchmarks: plain scripts, run from the repository root: ``python -m benchmarks.NAME``."""
