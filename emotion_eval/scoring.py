"""Score a --save-predictions file: prints the metrics of a protocol as one JSON object.

    python scripts/score_predictions.py --protocol iemocap_binary predictions.jsonl

Each line is ``{"id": ..., "target": ..., "pred": ...}`` as written by the ``multimodal_emotion``
task; several files (e.g. the ``.rankN`` files of distributed validation) are scored together.
The metrics come from ``emotion_core.metrics``, the functions the criterion uses. A file
that is empty, or a line that is not such an object (malformed JSON, a missing key, a binary
decision other than 0/1, a non-finite score), is an error naming the file and line; the output is
always valid JSON (an undefined metric is ``null``).
"""
import argparse
import json
import math
import sys


from emotion_core.numbers import is_finite_number
from emotion_core import metrics
from emotion_tasks.labels import EMOTIONS, TARGET_TYPES


class PredictionsError(ValueError):
    """A predictions file that cannot be scored; the message names the file and line."""


def _reject_constant(name):
    raise ValueError(f"{name} is not a finite number")


def _value(label, protocol):
    """A target or prediction of a line -> the form metrics.*_stats expects; ValueError says why not."""
    if protocol == "iemocap_binary":
        if not isinstance(label, dict) or set(label) != set(EMOTIONS):
            raise ValueError(f"expected {{emotion: 0 or 1}} for exactly {', '.join(EMOTIONS)}, got {label!r}")
        if any(type(label[e]) is not int or label[e] not in (0, 1) for e in EMOTIONS):
            raise ValueError(f"binary decisions must be the integers 0 or 1, got {label!r}")
        return [label[e] for e in EMOTIONS]
    if protocol == "multiclass":
        if label not in EMOTIONS:
            raise ValueError(f"expected one of {', '.join(EMOTIONS)}, got {label!r}")
        return EMOTIONS.index(label)
    if not is_finite_number(label):
        raise ValueError(f"expected a finite number, got {label!r}")
    return float(label)


def read_predictions(paths, protocol):
    """(predictions, targets) lists from JSON-lines prediction files; PredictionsError for any bad line."""
    preds, targets = [], []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise PredictionsError(f"{path}: cannot be read ({err})") from None
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line, parse_constant=_reject_constant)
            except ValueError as err:
                raise PredictionsError(f"{path}:{i}: not a JSON object ({err})") from None
            if not isinstance(row, dict):
                raise PredictionsError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
            for key in ("id", "target", "pred"):
                if key not in row:
                    raise PredictionsError(f"{path}:{i}: missing key {key!r} (each line is "
                                           '{"id": ..., "target": ..., "pred": ...})')
            for key, out in (("pred", preds), ("target", targets)):
                try:
                    out.append(_value(row[key], protocol))
                except ValueError as err:
                    raise PredictionsError(f"{path}:{i}: {key}: {err} (protocol {protocol})") from None
    if not preds:
        raise PredictionsError(f"{', '.join(map(str, paths))}: no prediction to score (empty file)")
    return preds, targets


def score(paths, protocol):
    """Metrics dict of the predictions in ``paths``."""
    preds, targets = read_predictions(paths, protocol)
    return metrics.METRICS[protocol](metrics.STATS[protocol](preds, targets))


def json_safe(value):
    """``value`` with every non-finite float replaced by None, so that it prints as valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", required=True, choices=TARGET_TYPES, help="target type of the predictions")
    parser.add_argument("files", nargs="+", help="JSON-lines files written by --save-predictions")
    args = parser.parse_args(argv)
    try:
        result = score(args.files, args.protocol)
    except PredictionsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(json_safe(result), allow_nan=False))
    return 0

