#!/usr/bin/env python
"""Render the paper's Tables 1-5 from a results directory as Markdown (installed as ``emotion-tables``; see emotion_reproduce.cli)."""
import sys

from emotion_reproduce.cli import make_tables_main

if __name__ == "__main__":
    sys.exit(make_tables_main())
