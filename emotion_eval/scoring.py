"""Score a --save-predictions file: prints the metrics of a protocol as one JSON object.

    python scripts/score_predictions.py --protocol PROTOCOL [--labels DATA_DIR/labels.json] FILE [FILE ...]
    python scripts/score_predictions.py --protocol regression --exclude-zero FILE

PROTOCOL is a target type (``categorical``, ``per_class_binary``, ``regression``, ``dimensional``,
or the paper's ``multiclass`` and ``iemocap_binary``). Each line is ``{"id": ..., "target": ...,
"pred": ...}`` as written by the ``multimodal_emotion`` task; several files (e.g. the ``.rankN`` files
of distributed validation) are scored together. The metrics come from the label space, the code the
criterion uses. Class or dimension names come from ``--labels`` (the data directory's labels.json),
else from the file (the classes found, sorted; the paper's four emotions for the paper's protocols).
``--exclude-zero`` (regression) scores only the segments whose target is not 0: the protocol of the
paper's original code, whose binary-accuracy mode also removed the zero-labelled CMU-MOSI/MOSEI
segments from every metric (Acc7, MAE and the rest); by default every segment is scored, with Acc2 and
F1 both with and without zeros (MulT's and MMSA's convention). A file that is empty, or a line that is not such an object (malformed JSON, a missing key, a label
outside the label set, a binary decision other than 0/1, a non-finite score), is an error naming the
file and line; the output is always valid JSON (an undefined metric is ``null``).
"""
import argparse
import json
import math
import sys

from emotion_core.label_spaces import ACCEPTED_TARGET_TYPES, SPACES, canonical, label_space
from emotion_core.labels import PAPER_CLASSES, LabelError, LabelInfo, read_labels_file


class PredictionsError(ValueError):
    """A predictions file that cannot be scored; the message names the file and line."""


def _reject_constant(name):
    raise ValueError(f"{name} is not a finite number")


def read_rows(paths):
    """[(where, row)] of JSON-lines prediction files; PredictionsError for a line that is not a row."""
    rows = []
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
            rows.append((f"{path}:{i}", row))
    if not rows:
        raise PredictionsError(f"{', '.join(map(str, paths))}: no prediction to score (empty file)")
    return rows


def infer_labels(protocol, rows):
    """The LabelInfo a predictions file implies when no labels.json is given."""
    if protocol in ("multiclass", "iemocap_binary"):
        return LabelInfo("categorical", PAPER_CLASSES)
    values = [row[key] for _, row in rows for key in ("target", "pred")]
    try:
        return SPACES[canonical(protocol)].infer_info(values)
    except ValueError as err:
        raise PredictionsError(f"cannot tell the {protocol} labels from the file ({err}); pass --labels labels.json") from None


def score_rows(rows, space, exclude_zero=False):
    """Metrics dict of the rows under the label space ``space`` (``exclude_zero``: rows whose target is 0 left out)."""
    preds, targets = [], []
    for where, row in rows:
        values = {}
        for key in ("pred", "target"):
            try:
                values[key] = space.from_json(row[key])
            except ValueError as err:
                raise PredictionsError(f"{where}: {key}: {err} (protocol {space.target_type})") from None
        if exclude_zero and values["target"] == 0:
            continue
        preds.append(values["pred"])
        targets.append(values["target"])
    if not targets:
        raise PredictionsError("every target is 0: nothing to score with --exclude-zero")
    return space.metrics(space.stats(preds, targets))


def score(paths, protocol, labels=None, exclude_zero=False):
    """Metrics dict of the predictions in ``paths`` (``labels``: a LabelInfo, or None to infer it)."""
    if exclude_zero and not SPACES[canonical(protocol)].has_zero_protocol:
        raise PredictionsError(f"--exclude-zero applies to the regression protocol, not {protocol}")
    rows = read_rows(paths)
    return score_rows(rows, label_space(protocol, labels or infer_labels(protocol, rows)), exclude_zero)


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
    parser.add_argument("--protocol", required=True, choices=ACCEPTED_TARGET_TYPES, help="target type of the predictions")
    parser.add_argument("--labels", help="the data directory's labels.json, or the data directory (class or "
                                         "dimension names, in order)")
    parser.add_argument("--exclude-zero", action="store_true",
                        help="regression: score only the segments whose target is not 0 (the original code's protocol)")
    parser.add_argument("files", nargs="+", help="JSON-lines files written by --save-predictions")
    args = parser.parse_args(argv)
    try:
        labels = read_labels_file(args.labels) if args.labels else None
        result = score(args.files, args.protocol, labels, args.exclude_zero)
    except (PredictionsError, LabelError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(json_safe(result), allow_nan=False))
    return 0
