#!/usr/bin/env python
"""Baseline vs fast: training throughput, frozen-SSL epochs, tokenization RTF, latency (installed as ``emotion-benchmark``; see emotion_bench.benchmark)."""
import sys

from emotion_bench.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
