#!/usr/bin/env python
"""Draw a run's curves and confusion matrix (installed as ``emotion-plot-run``; see emotion_reproduce.cli)."""
import sys

from emotion_reproduce.cli import plot_run_main

if __name__ == "__main__":
    sys.exit(plot_run_main())
