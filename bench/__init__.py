"""Benchmarks (not tests): each `bench_*.py` module has a `run()` that measures and reports."""
