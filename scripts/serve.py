#!/usr/bin/env python
"""HTTP service and web page for a fine-tuned checkpoint (installed as ``emotion-serve``; see emotion_serve.cli)."""
import sys

from emotion_serve.cli import main

if __name__ == "__main__":
    sys.exit(main())
