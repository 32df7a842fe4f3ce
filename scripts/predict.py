#!/usr/bin/env python
"""Emotion of new recordings with a fine-tuned ssl_emotion checkpoint (installed as ``emotion-predict``; see emotion_inference.cli)."""
import sys

from emotion_inference.cli import main

if __name__ == "__main__":
    sys.exit(main())
