#!/usr/bin/env python
"""Single-utterance latency of EmotionRecognizer at full size (also ``python -m emotion_bench.latency``)."""
import sys

from emotion_bench.latency import main

if __name__ == "__main__":
    sys.exit(main())
