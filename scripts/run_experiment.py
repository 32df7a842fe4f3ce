#!/usr/bin/env python
"""Run one experiment: fairseq-train, fairseq-validate, scoring, plots, results.json (installed as ``emotion-experiment``; see emotion_reproduce.cli)."""
import sys

from emotion_reproduce.cli import run_experiment_main

if __name__ == "__main__":
    sys.exit(run_experiment_main())
