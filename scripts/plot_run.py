#!/usr/bin/env python
"""Draw a run's training/validation curves and test confusion matrix as PNG files.

    python scripts/plot_run.py RUN_DIR [RUN_DIR ...] [--target-type T]

Reads RUN_DIR/train.log (fairseq --log-format json --log-file) and RUN_DIR/predictions.jsonl; writes
RUN_DIR/curves.png and RUN_DIR/confusion.png (per-emotion 2x2 matrices for iemocap_binary, 4x4 for
multiclass, 7x7 of rounded scores for regression). The target type defaults to the one in results.json.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for emotion_reproduce

from emotion_reproduce.plots import plot_run  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", type=Path)
    p.add_argument("--target-type", choices=["iemocap_binary", "multiclass", "regression"],
                   help="default: read from RUN_DIR/results.json")
    args = p.parse_args(argv)
    for run_dir in args.run_dirs:
        target_type = args.target_type
        if target_type is None:
            results = run_dir / "results.json"
            assert results.exists(), f"{results} missing: pass --target-type"
            target_type = json.loads(results.read_text())["target_type"]
        for kind, path in plot_run(run_dir, target_type).items():
            print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
