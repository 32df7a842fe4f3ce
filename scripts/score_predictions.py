#!/usr/bin/env python
"""Score a --save-predictions file: prints the metrics of a protocol as one JSON object.

    python scripts/score_predictions.py --protocol iemocap_binary predictions.jsonl

Each line is ``{"id": ..., "target": ..., "pred": ...}`` as written by the ``multimodal_emotion``
task; several files (e.g. the ``.rankN`` files of distributed validation) are scored together.
The metrics come from ``emotion_criterions.metrics``, the functions the criterion uses.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from emotion_criterions import metrics  # noqa: E402
from emotion_tasks.labels import EMOTIONS, TARGET_TYPES  # noqa: E402


def _value(label, protocol, where):
    """A target or prediction of a line -> the form metrics.*_stats expects."""
    try:
        if protocol == "iemocap_binary":
            return [int(label[e]) for e in EMOTIONS]
        if protocol == "multiclass":
            return EMOTIONS.index(label)
        return float(label)
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{where}: {label!r} is not a {protocol} label ({err})") from None


def read_predictions(paths, protocol):
    """(predictions, targets) lists from JSON-lines prediction files."""
    preds, targets = [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if line.strip():
                    row = json.loads(line)
                    preds.append(_value(row["pred"], protocol, f"{path}:{i} pred"))
                    targets.append(_value(row["target"], protocol, f"{path}:{i} target"))
    return preds, targets


def score(paths, protocol):
    """Metrics dict of the predictions in ``paths``."""
    preds, targets = read_predictions(paths, protocol)
    return metrics.METRICS[protocol](metrics.STATS[protocol](preds, targets))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", required=True, choices=TARGET_TYPES, help="target type of the predictions")
    parser.add_argument("files", nargs="+", help="JSON-lines files written by --save-predictions")
    args = parser.parse_args(argv)
    print(json.dumps(score(args.files, args.protocol)))


if __name__ == "__main__":
    main()
