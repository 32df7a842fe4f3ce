"""Benchmarks that print figures (never timed tests): training throughput, frozen epochs, tokenization RTF, latency."""
