"""Citebot measured against baselines; used by the CLI and the benchmarks. Imports retrieval, never imported by it."""
