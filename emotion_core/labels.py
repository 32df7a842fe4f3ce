"""What labels a data directory holds: ``labels.json``, written by data preparation, read by the task.

Three kinds of labels::

    {"kind": "categorical", "names": ["angry", "happy", "neutral", "sad"]}            one class per utterance
    {"kind": "regression", "names": [], "range": [-3.0, 3.0]}                          one score (range optional)
    {"kind": "dimensional", "names": ["arousal", "valence", "dominance"], "range": [1.0, 7.0]}

Class names keep their order: it is the order of the model's outputs. A data directory without
``labels.json`` (prepared before it existed) holds the paper's four IEMOCAP emotions, or scores.
``labels.json`` is read as untrusted input: every field is checked, and errors name the file.

>>> LabelInfo("categorical", ("neutral", "happy")).to_json()
{'kind': 'categorical', 'names': ['neutral', 'happy']}
"""
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from emotion_core.files import atomic_write_text
from emotion_core.text_files import read_utf8

LABELS_FILE = "labels.json"
DATA_KINDS = ("categorical", "regression", "dimensional")
PAPER_CLASSES = ("neutral", "happy", "sad", "angry")  # IEMOCAP's four emotions, in the order of the paper's code
MAX_NAMES = 10_000  # classes or dimensions of one label set
MAX_NAME_LENGTH = 200


class LabelError(ValueError):
    """Labels that cannot be used (a malformed labels.json, a label outside the set); names the file."""


@dataclass(frozen=True)
class LabelInfo:
    """The labels of a data directory: their kind, the class or dimension names, the value range."""

    kind: str  # one of DATA_KINDS
    names: Tuple[str, ...] = ()  # class names (categorical) or dimension names (dimensional), in output order
    value_range: Optional[Tuple[float, float]] = None  # inclusive bounds of scores (regression, dimensional)

    def __post_init__(self):
        check_info(self.kind, self.names, self.value_range)

    def to_json(self):
        """The ``labels.json`` object."""
        out = {"kind": self.kind, "names": list(self.names)}
        if self.value_range is not None:
            out["range"] = list(self.value_range)
        return out

    @classmethod
    def from_json(cls, obj, where="labels"):
        """A LabelInfo from a parsed ``labels.json`` object; LabelError naming ``where`` when malformed."""
        if not isinstance(obj, dict):
            raise LabelError(f"{where}: expected a JSON object with kind and names, got {type(obj).__name__}")
        unknown = set(obj) - {"kind", "names", "range"}
        if unknown:
            raise LabelError(f"{where}: unknown key(s) {sorted(unknown)} (expected kind, names, range)")
        names, value_range = obj.get("names", []), obj.get("range")
        if not isinstance(names, list):
            raise LabelError(f"{where}: 'names' must be a list of strings")
        if value_range is not None and not isinstance(value_range, list):
            raise LabelError(f"{where}: 'range' must be a list [low, high]")
        try:
            return cls(obj.get("kind"), tuple(names), None if value_range is None else tuple(value_range))
        except ValueError as err:
            raise LabelError(f"{where}: {err}") from None


def check_info(kind, names, value_range):
    """Raise ValueError unless (kind, names, range) describe a usable label set."""
    if kind not in DATA_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(DATA_KINDS)}")
    if len(names) > MAX_NAMES:
        raise ValueError(f"{len(names)} names (at most {MAX_NAMES})")
    for name in names:
        if not isinstance(name, str) or not name or name != name.strip() or len(name) > MAX_NAME_LENGTH \
                or any(c in name for c in "\t\n\r"):
            raise ValueError(f"name {name!r} must be a non-empty string of at most {MAX_NAME_LENGTH} characters "
                             "without tabs, newlines or surrounding spaces")
    if len(set(names)) != len(names):
        raise ValueError(f"names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    if kind == "categorical" and len(names) < 2:
        raise ValueError(f"a categorical label set needs at least 2 classes, got {list(names)}")
    if kind == "dimensional" and not names:
        raise ValueError("a dimensional label set needs dimension names")
    if kind == "regression" and names:
        raise ValueError("a regression label set has no names")
    if value_range is not None:
        if kind == "categorical":
            raise ValueError("categorical labels have no range")
        if len(value_range) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                            and math.isfinite(v) for v in value_range) \
                or not value_range[0] < value_range[1]:
            raise ValueError(f"range must be two finite numbers [low, high] with low < high, got {list(value_range)}")


def default_info(target_type):
    """The labels of a data directory without ``labels.json``: the paper's four emotions, or scores."""
    if target_type in ("regression",):
        return LabelInfo("regression")
    if target_type == "dimensional":
        raise LabelError("--target-type dimensional needs the data directory's labels.json (the dimension names); "
                         "prepare it with scripts/prepare_data.py ... --label-columns A,B,C")
    return LabelInfo("categorical", PAPER_CLASSES)


def read_labels(data_dir, target_type):
    """The LabelInfo of ``data_dir`` (its ``labels.json``, else :func:`default_info`)."""
    path = Path(data_dir) / LABELS_FILE
    return read_labels_file(path) if path.is_file() else default_info(target_type)


def read_labels_file(path):
    """The LabelInfo of a ``labels.json`` file (or of the data directory holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / LABELS_FILE
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise LabelError(f"{path}: cannot be read ({err.strerror})") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise LabelError(f"{path}: not valid JSON ({err})") from None
    return LabelInfo.from_json(obj, str(path))


def write_labels(data_dir, info):
    """Write ``info`` as ``data_dir/labels.json`` (atomically)."""
    atomic_write_text(Path(data_dir) / LABELS_FILE, json.dumps(info.to_json(), indent=1) + "\n")


def read_label_map(path):
    """``{from: to}`` of a label map file: a JSON object, or ``from<TAB>to`` lines (``#`` comments allowed)."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: label map not found")
    text = read_utf8(path, LabelError)
    if text.lstrip().startswith("{"):
        try:
            mapping = json.loads(text)
        except ValueError as err:
            raise LabelError(f"{path}: not valid JSON ({err})") from None
    else:
        mapping = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cells = line.split("\t")
            if len(cells) != 2:
                raise LabelError(f"{path}:{number}: expected 'from<TAB>to', got {line!r}")
            if cells[0].strip() in mapping:
                raise LabelError(f"{path}:{number}: {cells[0].strip()!r} is mapped twice")
            mapping[cells[0].strip()] = cells[1].strip()
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                                for k, v in mapping.items()):
        raise LabelError(f"{path}: a label map maps non-empty label strings to label strings")
    return mapping


def choose_classes(labels, classes=None):
    """The class names of a categorical label set: ``classes`` (in that order) or the labels sorted.

    Raises LabelError for a class of ``classes`` that no label has (most often a typo).
    """
    present = set(labels)
    if classes is None:
        return tuple(sorted(present))
    missing = [c for c in classes if c not in present]
    if missing:
        raise LabelError(f"--classes names {', '.join(map(repr, missing))}, which no utterance has "
                         f"(labels found: {', '.join(sorted(present))})")
    return tuple(classes)
