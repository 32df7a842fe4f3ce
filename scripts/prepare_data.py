#!/usr/bin/env python
"""Prepare a corpus into the data directory the multimodal_emotion task reads (installed as ``emotion-prepare``; see emotion_data.cli)."""
import sys

from emotion_data.cli import main

if __name__ == "__main__":
    sys.exit(main())
