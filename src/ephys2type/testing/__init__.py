"""Helpers for tests and benchmarks: a synthetic Patch-seq dataset with known structure."""
