#!/usr/bin/env python
"""Build the demo assets offline: a synthetic corpus and tiny stand-ins of the releases (installed as ``emotion-demo-assets``; see emotion_demo.cli)."""
import sys

from emotion_demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
