#!/usr/bin/env python
"""Real-time factor of speech tokenization at the released vq-wav2vec's size (also ``python -m emotion_bench.tokenize_rtf``)."""
import sys

from emotion_bench.tokenize_rtf import main

if __name__ == "__main__":
    sys.exit(main())
