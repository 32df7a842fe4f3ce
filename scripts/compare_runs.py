#!/usr/bin/env python
"""Paired comparison of two systems on the same test utterances (installed as ``emotion-compare``; see emotion_eval.compare)."""
import sys

from emotion_eval.compare import main

if __name__ == "__main__":
    sys.exit(main())
