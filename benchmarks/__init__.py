"""Assay benchmarks: each figure is a ratio against a baseline measured in the same run.

Run all with ``make bench`` (``python -m benchmarks``); results go to docs/benchmarks.md by hand
and to benchmarks/results/*.json.
"""
