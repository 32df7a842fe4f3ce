"""From a corpus's label strings to the data directory's label set (``labels.json``) and label lines.

:class:`LabelOptions` holds what the user chose (``--label-kind``, ``--classes``, ``--label-map``,
``--label-range``, ``--label-columns``); :func:`resolve_labels` applies it to the listed utterances:

* categorical: the label map renames or merges classes first (IEMOCAP's excited -> happy is one
  such map); with ``classes`` only those classes are kept, in that order, and every other label is
  left out and counted; without, the classes are the labels found, sorted;
* regression: each label must be a number in decimal notation, within the range when one is given;
  without ``kind``, labels are scores when most of them are numbers (the others are then reported
  as bad rows), class names otherwise;
* dimensional: one number per dimension (the label columns), within the range when given.

A label that does not fit is a :class:`~emotion_core.manifest.Problem` naming the utterance's file
and line, so every bad label is reported at once.
"""
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Tuple

from emotion_core.labels import DATA_KINDS, LabelError, LabelInfo, choose_classes
from emotion_core.manifest import Problem
from emotion_core.numbers import parse_number

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelOptions:
    """How label strings become a label set."""

    kind: Optional[str] = None  # categorical, regression or dimensional; None: dimensional with several
    #                             columns, regression when most labels are numbers, else categorical
    classes: Optional[Tuple[str, ...]] = None  # categorical: keep these classes, in this order
    label_map: Tuple[Tuple[str, str], ...] = ()  # categorical: (from, to) renames applied first
    value_range: Optional[Tuple[float, float]] = None  # regression / dimensional: inclusive bounds
    dimensions: Tuple[str, ...] = ()  # dimensional: the dimension names (the manifest's label columns)
    fixed_classes: bool = False  # categorical: ``classes`` is the corpus's own label set (MSP-Podcast, MELD):
    #                              a class no utterance has (a partial tree) is kept and logged, not an error

    def __post_init__(self):
        if self.kind is not None and self.kind not in DATA_KINDS:
            raise LabelError(f"--label-kind must be one of {', '.join(DATA_KINDS)}, got {self.kind!r}")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise LabelError(f"--classes repeats a class: {list(self.classes)}")

    def mapped(self, label):
        """``label`` after the label map."""
        return dict(self.label_map).get(label, label)

    def keeps(self, label):
        """Whether a categorical ``label`` is kept (after the map, among ``classes`` when given)."""
        return self.classes is None or self.mapped(label) in self.classes

    def describe(self):
        """The options as plain JSON values (recorded in the report and the preparation's fingerprint)."""
        return {"kind": self.kind, "classes": None if self.classes is None else list(self.classes),
                "label_map": dict(self.label_map), "range": None if self.value_range is None else list(self.value_range),
                "dimensions": list(self.dimensions), "fixed_classes": self.fixed_classes}


def _kind(utterances, options):
    if options.kind is not None:
        return options.kind
    if options.dimensions:
        return "dimensional"

    def is_number(text):
        try:
            parse_number(text)
            return True
        except ValueError:
            return False

    numbers = sum(isinstance(u.label, str) and is_number(u.label) for u in utterances)
    return "regression" if numbers > len(utterances) / 2 else "categorical"  # a few typos do not change the kind


def _check_scores(u, options, where):
    """The utterance's label(s) as numbers; ValueError with the problem."""
    texts = u.label if isinstance(u.label, tuple) else (u.label,)
    expected = len(options.dimensions) or 1
    if len(texts) != expected:
        raise ValueError(f"{len(texts)} label value(s), expected {expected}")
    low, high = options.value_range or (None, None)
    names = options.dimensions or ("score",)
    return [parse_number(t, low, high, what=name) for t, name in zip(texts, names)]


def resolve_labels(utterances, options):
    """Apply ``options``; returns ``(kept utterances, LabelInfo, left-out label counts, problems)``."""
    kind = _kind(utterances, options)
    if kind != "categorical" and (options.classes is not None or options.label_map):
        raise LabelError(f"the labels are {kind} scores: --classes and --label-map apply to class labels "
                         "(pass --label-kind categorical if these numbers name classes)")
    kept, left_out, problems = [], Counter(), []
    for u in utterances:
        where = u.origin or u.audio
        if kind == "categorical":
            if isinstance(u.label, tuple):
                problems.append(Problem(u.id, where, f"{len(u.label)} label columns for categorical labels"))
            elif not options.keeps(u.label):
                left_out[u.label] += 1
            else:
                u.label = options.mapped(u.label)
                kept.append(u)
            continue
        try:
            _check_scores(u, options, where)
        except ValueError as err:
            problems.append(Problem(u.id, where, f"label: {err}"))
            continue
        kept.append(u)
    if kind == "categorical" and options.fixed_classes:
        absent = sorted(set(options.classes) - {u.label for u in kept})
        if absent:
            logger.warning("no utterance of class(es) %s: the label set keeps them", ", ".join(absent))
        info = LabelInfo("categorical", tuple(options.classes))
    elif kind == "categorical":
        names = choose_classes([u.label for u in kept], options.classes)
        info = LabelInfo("categorical", names)
    else:
        info = LabelInfo(kind, tuple(options.dimensions) if kind == "dimensional" else (), options.value_range)
    return kept, info, dict(sorted(left_out.items())), problems


def label_line(info, label):
    """The line of ``label/{split}.label`` for a resolved label: a class name, a score, tab-separated scores."""
    if info.kind == "categorical":
        return label
    values = label if isinstance(label, tuple) else (label,)
    return "\t".join(f"{parse_number(v):.6g}" for v in values)
