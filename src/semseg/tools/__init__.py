"""Benchmarks (params, GFLOPs, latency, memory) and comparison reports."""
